import { runMaintenance } from '../app/maintenance.ts';
import { closeApp, createApp } from '../http/create-app.ts';
import { chainReadiness } from '../chain/readiness.ts';
import { configFromEnv, createRuntime, createRuntimeWatcher } from './runtime.ts';

/**
 * `npm start`: the API, and the oracle watcher unless WATCHER=off, on the embedded database
 * unless DATABASE_URL names a server.
 */
async function main(): Promise<void> {
  const config = configFromEnv();
  const { deps, prometheus } = await createRuntime(config);
  const { log, db } = deps;
  const app = createApp(deps, {
    prometheus,
    readiness: chainReadiness(config.rpcUrls),
    rateLimitPerMinute: config.rateLimitPerMinute,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    metricsToken: config.metricsToken,
  });
  const server = app.listen(config.port, config.host, () => {
    log.info({ url: `http://${config.host}:${config.port}/graphql`, database: db.kind, watcher: config.watcher }, 'API listening');
  });
  const watcher = config.watcher ? createRuntimeWatcher(deps, config) : undefined;
  watcher?.start();
  // Without a watcher in this process, the API keeps pool aggregates fresh itself.
  const maintenance = watcher
    ? undefined
    : setInterval(() => {
        runMaintenance(deps).catch((err: unknown) => log.error({ err }, 'maintenance failed'));
      }, config.maintenanceIntervalMs);
  maintenance?.unref();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    if (maintenance) clearInterval(maintenance);
    setTimeout(() => process.exit(1), 10_000).unref();
    server.close(() => {
      void Promise.all([watcher?.stop(), closeApp(app)]).finally(() => db.close().finally(() => process.exit(0)));
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
