import { createHttpTerminator } from 'http-terminator';
import { runMaintenance } from '../app/maintenance.ts';
import { attachWebSockets, closeApp, createApp } from '../http/create-app.ts';
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
    // Only the watcher reads chains: a replica without it is ready whatever an RPC does.
    readiness: config.watcher ? chainReadiness(config.rpcUrls) : [],
    rateLimitPerMinute: config.rateLimitPerMinute,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    metricsToken: config.metricsToken,
  });
  const server = app.listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = `http://${config.host}:${port}/graphql`;
    log.info({ url, database: db.kind, watcher: config.watcher }, `ready at ${url} (dashboard at http://${config.host}:${port}/)`);
  });
  attachWebSockets(app, server);
  const watcher = config.watcher ? createRuntimeWatcher(deps, config) : undefined;
  watcher?.start();
  // Without a watcher in this process, the API keeps pool aggregates fresh itself.
  const maintenance = watcher
    ? undefined
    : setInterval(() => {
        runMaintenance(deps).catch((err: unknown) => log.error({ err }, 'maintenance failed'));
      }, config.maintenanceIntervalMs);
  maintenance?.unref();

  // Graceful stop: refuse new connections, end open subscription streams, give requests in
  // flight a moment, release the watcher's lease, close the database, exit 0 (within 5 s).
  const terminator = createHttpTerminator({ server, gracefulTerminationTimeout: 2_000 });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    if (maintenance) clearInterval(maintenance);
    setTimeout(() => {
      log.error('shutdown took more than 5 s; exiting');
      process.exit(1);
    }, 5_000).unref();
    void (async () => {
      await closeApp(app);
      await Promise.all([terminator.terminate(), watcher?.stop(), deps.simulator?.close()]);
      await db.close();
      log.info('stopped');
      process.exit(0);
    })().catch((err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
