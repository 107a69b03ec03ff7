import pino from 'pino';
import { type Deps, systemClock } from '../app/deps.ts';
import { createWorkerSimulator } from '../app/simulator.ts';
import { createFeedReader } from '../chain/feed-readers.ts';
import { redactUrl } from '../chain/retry.ts';
import { createDatabase } from '../db/create-database.ts';
import { REDACTED_LOG_PATHS } from '../http/create-app.ts';
import { createPrometheus } from '../http/prometheus.ts';
import { createWatcher, type Watcher } from '../worker/watcher.ts';
import { type RuntimeConfig, loadConfig } from './load-config.ts';

/** Reads and validates the environment; exits with a message naming a bad variable. */
export function configFromEnv(): RuntimeConfig {
  try {
    return loadConfig(process.env);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}

/** Opens and migrates the database and wires the dependencies every entry point shares. */
export async function createRuntime(config: RuntimeConfig): Promise<{ deps: Deps; prometheus: ReturnType<typeof createPrometheus> }> {
  const log = pino({ level: config.logLevel, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } });
  for (const w of config.warnings) log.warn(w);
  const db = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  // In a deployment a one-shot `npm run migrate` applies them; replicas then skip it.
  if (config.migrateOnStart) await db.migrate();
  const prometheus = createPrometheus(db);
  return {
    deps: { db, clock: systemClock, config: config.app, log, metrics: prometheus.metrics, simulator: createWorkerSimulator() },
    prometheus,
  };
}

export function createRuntimeWatcher(deps: Deps, config: RuntimeConfig): Watcher {
  deps.log.info(
    { chains: [...config.rpcUrls].map(([id, url]) => `${id}=${url.split('|').map(redactUrl).join('|')}`) },
    'watcher configured',
  );
  return createWatcher(deps, {
    reader: createFeedReader({ rpcUrls: config.rpcUrls, now: deps.clock.now, httpAllowedHosts: config.app.httpFeedAllowedHosts }),
    intervalMs: config.watcherIntervalMs,
    leaseTtlMs: config.watcherLeaseTtlMs,
    maintenanceIntervalMs: config.maintenanceIntervalMs,
  });
}
