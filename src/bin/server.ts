import pino from 'pino';
import { type Deps, systemClock } from '../app/deps.ts';
import { runMaintenance } from '../app/maintenance.ts';
import { createDatabase } from '../db/create-database.ts';
import { createApp } from '../http/create-app.ts';
import { loadConfig } from './load-config.ts';

/** `npm start`: the API on the embedded database unless DATABASE_URL names a server. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const log = pino({ level: config.logLevel });
  for (const w of config.warnings) log.warn(w);
  const db = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  await db.migrate();
  const deps: Deps = { db, clock: systemClock, config: config.app, log };
  const app = createApp(deps);
  const server = app.listen(config.port, config.host, () => {
    log.info({ url: `http://${config.host}:${config.port}/graphql`, database: db.kind }, 'API listening');
  });
  const maintenance = setInterval(() => {
    runMaintenance(deps).catch((err: unknown) => log.error({ err }, 'maintenance failed'));
  }, config.maintenanceIntervalMs);
  maintenance.unref();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    clearInterval(maintenance);
    server.close(() => {
      db.close().finally(() => process.exit(0));
    });
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
