import { type Server, createServer } from 'node:http';
import type { Logger } from 'pino';
import { bearer, safeEqual } from './bearer.ts';
import type { createPrometheus } from './prometheus.ts';

export interface MetricsServerOptions {
  host: string;
  port: number;
  /** METRICS_TOKEN: required as a bearer token when set; without it, production serves no metrics (as the API). */
  token: string | undefined;
  production: boolean;
  /** What GET /healthz answers (e.g. whether this watcher holds the lease). */
  health: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/**
 * A small HTTP server for a process that serves no API (`npm run watcher`): GET /metrics
 * (Prometheus text, the same registry and token rule as the API's) and GET /healthz. A port
 * already taken is logged and skipped: the watcher's work matters more than its metrics.
 */
export function serveMetrics(prometheus: ReturnType<typeof createPrometheus>, o: MetricsServerOptions, log: Logger): Server {
  const server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return json(405, { error: 'GET only' });
    if (path === '/healthz') {
      void Promise.resolve()
        .then(o.health)
        .then(
          (health) => json(200, { status: 'ok', ...health }),
          (err: unknown) => {
            log.error({ err }, 'health failed');
            json(500, { status: 'error', error: 'health failed' });
          },
        );
      return;
    }
    if (path !== '/metrics' || (!o.token && o.production)) return json(404, { error: 'not found' });
    if (o.token && !safeEqual(bearer(req.headers.authorization) ?? '', o.token))
      return json(401, { error: 'metrics need the metrics bearer token' });
    void prometheus.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': prometheus.registry.contentType });
        res.end(text);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics failed');
        json(500, { error: 'metrics failed' });
      },
    );
  });
  server.on('error', (err) => log.error({ err, port: o.port }, 'the metrics server could not listen: the watcher runs without it'));
  server.listen(o.port, o.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : o.port;
    log.info({ url: `http://${o.host}:${port}/metrics` }, 'watcher metrics listening');
  });
  return server;
}
