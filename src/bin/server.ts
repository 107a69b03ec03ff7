import { createHttpTerminator } from 'http-terminator';
import { randomUUID } from 'node:crypto';
import { maintenanceTurn } from '../app/maintenance.ts';
import { dispatchWebhooks } from '../app/webhooks.ts';
import { inBackgroundSpan } from '../app/background-span.ts';
import { attachWebSockets, closeApp, createApp, startDraining } from '../http/create-app.ts';
import { chainReadiness } from '../chain/readiness.ts';
import { serveBackups } from '../db/embedded-backup.ts';
import { exitWith } from './cli-errors.ts';
import { configFromEnv, createRuntime, createRuntimeWatcher } from './runtime.ts';
import { startTracing } from './tracing.ts';

/**
 * `npm start`: the API, and the oracle watcher unless WATCHER=off, on the embedded database
 * unless DATABASE_URL names a server.
 */
async function main(): Promise<void> {
  const config = configFromEnv();
  const tracing = startTracing(config.tracing, 'parametric-cover-api');
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
    log.info(
      { url, database: db.kind, watcher: config.watcher, node: process.version },
      `ready at ${url} (dashboard at http://${config.host}:${port}/)`,
    );
  });
  // Idle keep-alive connections outlive a load balancer's (60 s on the common ones) and a
  // client's pool: at Node's default 5 s, a client that sent on a connection just as the server
  // closed it got "other side closed" (seen in CI, a request sent after a 5 s pause on a loaded
  // machine). The client closes first, at the timeout the server announces.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  attachWebSockets(app, server);
  // The embedded database is copied by this process (npm run backup, src/db/embedded-backup.ts).
  const stopBackups =
    db.backup && !config.dataDir.startsWith('memory://')
      ? await serveBackups(db, config.dataDir, (err) => log.error({ err }, 'backup request failed'))
      : undefined;
  const watcher = config.watcher ? createRuntimeWatcher(deps, config) : undefined;
  watcher?.start();
  // Without a watcher in this process, the API keeps pool aggregates fresh too: whichever
  // process of the deployment (replicas, watcher) claims the turn runs it, once per interval.
  const holder = `api-${process.pid}-${randomUUID().slice(0, 8)}`;
  const maintenance = watcher
    ? undefined
    : setInterval(() => {
        inBackgroundSpan('maintenance', () => maintenanceTurn(deps, holder, config.maintenanceIntervalMs)).catch((err: unknown) =>
          log.error({ err }, 'maintenance failed'),
        );
      }, config.maintenanceIntervalMs);
  maintenance?.unref();
  // Webhooks (app/webhooks.ts): every replica runs the dispatcher; deliveries are claimed, so
  // none is sent twice at once. Each turn is a background span (its statements have a parent),
  // and a stop waits for the turn in flight before the database closes.
  let dispatching: Promise<unknown> | null = null;
  const webhooks = setInterval(() => {
    if (dispatching) return;
    dispatching = inBackgroundSpan('webhooks dispatch', () => dispatchWebhooks(deps))
      .catch((err: unknown) => log.error({ err }, 'webhook dispatch failed'))
      .finally(() => {
        dispatching = null;
      });
  }, config.webhookIntervalMs);
  webhooks.unref();

  // Graceful stop. SIGTERM (an orchestrator's) drains first: /readyz answers 503 for
  // SHUTDOWN_DRAIN_SECONDS while requests are still served, so a load balancer stops sending
  // new ones before the listener closes; the watcher stops at once (another takes the lease).
  // SIGINT (Ctrl-C) skips the drain. Then: refuse new connections, end open subscription
  // streams, give requests in flight a moment, release the lease, close the database, exit 0
  // (within 5 s after the drain).
  const terminator = createHttpTerminator({ server, gracefulTerminationTimeout: 2_000 });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const drainMs = signal === 'SIGTERM' ? config.shutdownDrainMs : 0;
    startDraining(app);
    log.info({ signal, drainMs }, drainMs > 0 ? 'draining: /readyz answers 503, requests are still served' : 'shutting down');
    if (maintenance) clearInterval(maintenance);
    clearInterval(webhooks);
    setTimeout(() => {
      log.error('shutdown took more than 5 s after the drain; exiting');
      process.exit(1);
    }, drainMs + 5_000).unref();
    void (async () => {
      await Promise.all([watcher?.stop(), dispatching, new Promise((resolve) => setTimeout(resolve, drainMs))]);
      log.info('shutting down: finishing in-flight requests');
      await closeApp(app);
      await Promise.all([terminator.terminate(), deps.cpu?.close()]);
      // Quotes answered but not yet recorded (app/quote-paths.ts): written before the database closes.
      await deps.quotePaths.settled();
      await stopBackups?.();
      await db.close();
      await tracing.shutdown().catch((err: unknown) => log.warn({ err }, 'the last spans were not exported'));
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

// A user's error (the database missing, the data folder in use) in one line; a fault with its stack.
main().catch((error: unknown) => exitWith(error));
