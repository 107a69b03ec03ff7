import pino from 'pino';
import { createDatabase } from '../db/create-database.ts';
import { exitWith } from './cli-errors.ts';
import { configFromEnv } from './runtime.ts';

/** `npm run migrate`: applies the migrations and exits (the compose file's one-shot service). */
const config = configFromEnv();
const log = pino({ level: config.logLevel });
try {
  const db = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await db.migrate();
    log.info({ database: db.kind }, 'migrations applied');
  } finally {
    await db.close().catch(() => undefined);
  }
} catch (error) {
  // The database missing, the server down: one line that says what to do.
  exitWith(error);
}
