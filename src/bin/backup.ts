import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createDatabase } from '../db/create-database.ts';
import { requestBackup } from '../db/embedded-backup.ts';
import { exitWith } from './cli-errors.ts';
import { configFromEnv } from './runtime.ts';

/**
 * `npm run backup -- FILE`: a consistent copy of the embedded database (DATA_DIR) in FILE, a
 * gzipped tar: taken by the running server (`npm start`) through its socket while it serves,
 * or from the folder itself when no server has it open. Written beside FILE first and renamed,
 * so FILE is never half a copy. On a PostgreSQL server (DATABASE_URL) backups are pgBackRest's
 * (docs/operations.md, "Backups").
 */
const file = process.argv[2];
try {
  if (!file || file.startsWith('-')) throw new Error('backup: usage: npm run backup -- FILE');
  const config = configFromEnv();
  if (config.databaseUrl)
    throw new Error(
      'backup: DATABASE_URL names a PostgreSQL server: back it up with pgBackRest or pg_dump (docs/operations.md, "Backups")',
    );
  let copy = await requestBackup(config.dataDir);
  const from = copy ? 'the running server' : 'the data folder (no server running)';
  if (!copy) {
    const db = await createDatabase({ dataDir: config.dataDir });
    try {
      copy = await (db.backup as () => Promise<Uint8Array>)();
    } finally {
      await db.close();
    }
  }
  const partial = `${resolve(file)}.partial`;
  writeFileSync(partial, copy, { mode: 0o600 });
  renameSync(partial, resolve(file));
  console.log(`backup: ${config.dataDir} copied to ${file} (${copy.byteLength} bytes) by ${from}`);
} catch (error) {
  exitWith(error);
}
