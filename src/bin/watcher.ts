import { openReorgSummary } from '../app/reorgs.ts';
import { reservesProblem } from '../app/reserves.ts';
import { serveMetrics } from '../http/metrics-server.ts';
import { exitWith } from './cli-errors.ts';
import { configFromEnv, createRuntime, createRuntimeWatcher } from './runtime.ts';
import { startTracing } from './tracing.ts';

/** `npm run watcher`: the oracle watcher alone (for deployments that run it apart from the API). */
async function main(): Promise<void> {
  const config = configFromEnv();
  const tracing = startTracing(config.tracing, 'parametric-cover-watcher');
  const { deps, prometheus } = await createRuntime(config);
  const watcher = createRuntimeWatcher(deps, config);
  watcher.start();
  const metrics = serveMetrics(
    prometheus,
    {
      host: config.host,
      port: config.watcherMetricsPort,
      token: config.metricsToken,
      production: config.app.production,
      health: async () => ({
        leader: watcher.isLeader(),
        holder: watcher.holder,
        loopAgeSeconds: watcher.loopAges(),
        // Passes completed per loop since the start: whether the watcher is making progress.
        loopPasses: watcher.loopPasses(),
        // Why sales are stopped by the treasury (an open reorg, a reserve check too old, a deficit), or null.
        treasury: await reservesProblem(deps).catch(() => 'cannot read the last reconciliation'),
        reorg: await openReorgSummary(deps),
      }),
    },
    deps.log,
  );
  deps.log.info({ database: deps.db.kind }, 'watcher running');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.log.info({ signal }, 'watcher stopping: finishing the step in progress');
    setTimeout(() => process.exit(1), 30_000).unref();
    metrics.close();
    void watcher
      .stop()
      .finally(() => deps.db.close())
      .finally(() => tracing.shutdown().catch(() => undefined))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

// A user's error (the database missing, the data folder in use) in one line; a fault with its stack.
main().catch((error: unknown) => exitWith(error));
