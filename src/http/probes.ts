import { routeOf } from './routes.ts';
import type express from 'express';
import { bearer, safeEqual } from './bearer.ts';
import { pingDatabase } from '../app/health.ts';
import { reservesProblem } from '../app/reserves.ts';
import type { Deps } from '../app/deps.ts';
import { refused } from './errors.ts';
import type { AppOptions, Probe } from './app-options.ts';

/** Times every HTTP request into `http_request_duration_seconds` (none without a registry). */
export function httpMetrics(options: AppOptions): express.RequestHandler | undefined {
  const prometheus = options.prometheus;
  if (!prometheus) return undefined;
  return (req, res, next) => {
    const end = prometheus.httpSeconds.startTimer();
    // Read before routing: a mounted router (/graphql) strips its prefix from req.path, so at
    // 'finish' /graphql read as "/" (the dashboard's route) and /graphql/stream as "other".
    // Bounded labels: unknown paths share one series.
    const route = routeOf(req.path, 'other');
    res.on('finish', () => end({ method: req.method, route, status: String(res.statusCode) }));
    next();
  };
}

/** /metrics, behind its bearer token (none in production without a token). */
export function mountMetrics(app: express.Express, deps: Deps, options: AppOptions): void {
  const prometheus = options.prometheus;
  if (!prometheus) return;
  const token = options.metricsToken;
  if (!token && deps.config.production) return;
  app.get('/metrics', async (req, res) => {
    const given = bearer(req.headers.authorization) ?? '';
    if (token && !safeEqual(given, token)) {
      refused(res, 'UNAUTHENTICATED', 'metrics need the metrics bearer token');
      return;
    }
    res.setHeader('content-type', prometheus.registry.contentType);
    res.send(await prometheus.registry.metrics());
  });
}

/**
 * /livez (and /healthz, its older name): the process answers. /readyz: it should get traffic:
 * the database (and the reserves, and the chains with a watcher) check out, and it is not
 * draining (after SIGTERM it answers 503 while it finishes what it has, see src/bin/server.ts).
 */
export function mountProbes(
  app: express.Express,
  deps: Deps,
  readiness: NonNullable<AppOptions['readiness']>,
  lifecycle: { draining: boolean },
): void {
  const live: express.RequestHandler = (_req, res) => {
    res.json({ status: 'ok' });
  };
  app.get('/livez', live);
  app.get('/healthz', live);
  const ownProbes: Probe[] = [{ name: 'database', check: () => pingDatabase(deps) }];
  if (deps.config.rail.mode === 'chain') {
    // The treasury against the ledger: a deficit is named, as operators need it.
    ownProbes.push({
      name: 'reserves',
      reasonIsPublic: true,
      async check() {
        const problem = await reservesProblem(deps).catch(() => 'cannot read the last reconciliation');
        if (problem) throw new Error(problem);
      },
    });
  }
  app.get('/readyz', async (_req, res) => {
    if (lifecycle.draining) {
      res.status(503).json({ status: 'draining', database: deps.db.kind, checks: {} });
      return;
    }
    const checks: Record<string, string> = {};
    let ready = true;
    for (const probe of [...ownProbes, ...readiness]) {
      try {
        await probe.check();
        checks[probe.name] = 'ok';
      } catch (error) {
        checks[probe.name] = probe.reasonIsPublic && error instanceof Error ? error.message : 'unavailable';
        ready = false;
      }
    }
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', database: deps.db.kind, checks });
  });
}
