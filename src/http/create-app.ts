import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useOperationInLogs, useOperationMetrics } from './graphql-metrics.ts';
import { useOperationSpans } from './tracing.ts';
import { routeOf } from './routes.ts';
import express from 'express';
import { MemoryStore, type Store, rateLimit } from 'express-rate-limit';
import proxyaddr from 'proxy-addr';
import { createSchema, createYoga } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import helmet from 'helmet';
import { requestLogging } from './access-log.ts';
import { bearer, safeEqual } from './bearer.ts';
import { serveWebSockets } from './websocket.ts';
import {
  type DemoFaucet,
  type DemoPerson,
  type Viewer,
  isAdminAddress,
  signInWithKey,
  verifiedClaims,
  verifySessionToken,
} from '../app/auth.ts';
import { pingDatabase } from '../app/health.ts';
import { reservesProblem } from '../app/treasury.ts';
import { getIncident } from '../app/incidents.ts';
import { type ErrorCode, isBaseError } from '../domain/errors.ts';
import { sharedRateLimitCounter } from '../app/rate-limits.ts';
import type { Deps } from '../app/deps.ts';
import { type Context, createContext } from './context.ts';
import { RETRY_AFTER_SECONDS, createMaskError, isUnavailable, refused, unavailableMessage } from './errors.ts';
import {
  type SubscriptionLimits,
  clientKey,
  useExpensiveFieldBudget,
  useNoIntrospection,
  useNoSuggestions,
  useRefuseNulBytes,
  useRowBudget,
  useSessionBoundSubscriptions,
  useSubscriptionLimits,
} from './guards.ts';
import { DEFAULT_STREAM_LIMITS, type EventStreamLimits, eventStreams } from './event-streams.ts';
import { type SessionWatch, createSessionWatch } from '../app/session-watch.ts';
import { type EventHub, createEventHub } from '../app/event-hub.ts';
import type { createPrometheus } from './prometheus.ts';
import { resolvers } from './resolvers.ts';

const SCHEMA_DIR = new URL('../../schema', import.meta.url).pathname;
const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** An admin's requests may be larger: importFeedHistory takes up to 100,000 observations a call. */
const MAX_ADMIN_BODY_BYTES = 16 * 1024 * 1024;
/** Rows one request may ask for (first/limit multiplied down each path): one feed page of 100 with 500 observations each. */
const MAX_ROWS = 60_000;
export const DASHBOARD_DIR = new URL('./dashboard', import.meta.url).pathname;
const UPLOT_DIR = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

export function loadTypeDefs(): string {
  return readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => readFileSync(join(SCHEMA_DIR, f), 'utf8'))
    .join('\n');
}

/** What the authentication middleware learned about the request (see `authenticate`). */
interface Authenticated {
  viewer: Viewer | null;
  /** A token that was present but invalid: refused by the API rather than ignored. */
  authError?: unknown;
}
type AuthedRequest = express.Request & { auth?: Authenticated };

export function createYogaServer(
  deps: Deps,
  events: () => EventHub,
  sessions: SessionWatch,
  options: {
    corsOrigins?: readonly string[];
    subscriptionLimits?: SubscriptionLimits | undefined;
    prometheus?: ReturnType<typeof createPrometheus> | undefined;
    maskError: (error: unknown) => Error;
  },
) {
  const origins = options.corsOrigins ?? [];
  return createYoga<{ req: AuthedRequest }>({
    schema: createSchema({ typeDefs: loadTypeDefs(), resolvers }),
    context: ({ req }): Context => {
      const auth = req?.auth ?? { viewer: null };
      if (auth.authError) throw auth.authError;
      const key = req?.headers['idempotency-key'];
      return createContext(deps, auth.viewer, events, {
        client: req?.ip ?? 'unknown',
        idempotencyKey: typeof key === 'string' ? key : null,
      });
    },
    // Same-origin by default (the dashboard); other sites only from a configured allowlist.
    cors: origins.length > 0 ? { origin: [...origins], credentials: true, methods: ['GET', 'POST'] } : false,
    maskedErrors: { maskError: options.maskError },
    graphiql: !deps.config.production,
    // GraphiQL's page with its scripts and styles inline, from the lockfile: nothing is
    // fetched from a CDN, so it works offline (yoga's default page loads it from unpkg).
    renderGraphiQL,
    // The app reads the body itself, counting the bytes received (express.raw on /graphql, at
    // most MAX_BODY_BYTES; WebSocket frames have their own maxPayload). Yoga's own limit would
    // then wrap that buffered body in a counting stream again on every request, a pipeline
    // whose set-up and teardown cost a quote more than its pricing (bench/RESULTS.md).
    maxRequestBodySize: false,
    landingPage: false,
    // Yoga reports every client error (bad input, refused purchase) as an error; those are
    // answers, not faults. Faults are logged by maskError.
    logging: {
      debug: (...args) => deps.log.debug(args.map(String).join(' ')),
      info: (...args) => deps.log.debug(args.map(String).join(' ')),
      warn: (...args) => deps.log.debug(args.map(String).join(' ')),
      error: (...args) => deps.log.debug(args.map(String).join(' ')),
    },
    plugins: [
      // Production hides the schema; the SDL in schema/ is the published contract.
      ...(deps.config.production ? [useNoIntrospection()] : []),
      useRefuseNulBytes(),
      useExpensiveFieldBudget({ adequacy: 3, backtest: 1 }),
      useRowBudget(MAX_ROWS),
      useSubscriptionLimits(options.subscriptionLimits ?? { perClient: 20, total: 1_000 }),
      useSessionBoundSubscriptions(sessions),
      ...(options.prometheus ? [useOperationMetrics(options.prometheus)] : []),
      useOperationInLogs(),
      useOperationSpans(),
      ...(deps.config.production ? [useNoSuggestions()] : []),
      EnvelopArmorPlugin({
        maxDepth: { n: 10 },
        maxAliases: { n: 15 },
        maxDirectives: { n: 10 },
        maxTokens: { n: 200_000 },
        // Lists are paged (at most 100 rows) and expensive fields budgeted; the structural cost
        // bounds the rest (connections add a level to every list).
        costLimit: { maxCost: 20_000 },
        blockFieldSuggestion: { enabled: deps.config.production },
      }),
    ],
  });
}

export interface AppOptions {
  prometheus?: ReturnType<typeof createPrometheus> | undefined;
  /** Extra readiness checks (chains); the database (and the reserves with chain settlement) are always checked. */
  readiness?: Probe[] | undefined;
  /** Requests per minute per IP and per signed-in address on /graphql; 0 disables. */
  rateLimitPerMinute?: number | undefined;
  /** Express's `trust proxy`: which proxies' X-Forwarded-For to believe (default: none). */
  trustProxy?: boolean | number | string | undefined;
  /** Origins other sites may call the API from (CORS); empty: same origin only. */
  corsOrigins?: readonly string[] | undefined;
  /** Bearer token /metrics requires; without one it is open outside production and off in it. */
  metricsToken?: string | undefined;
  /** Where the dashboard's files are (tests serve a copy from elsewhere). */
  dashboardDir?: string | undefined;
  /** Open subscriptions per client and in total on this replica (default 20 and 1,000). */
  subscriptionLimits?: SubscriptionLimits | undefined;
  /** Bounds of /graphql/stream's reservations and buffers (DEFAULT_STREAM_LIMITS). */
  streamLimits?: Partial<EventStreamLimits> | undefined;
  /**
   * `npm run demo` only: people whose keys this process holds, offered on the dashboard so
   * a newcomer can see a buyer's or underwriter's own view. Refused in production.
   */
  demoPeople?: readonly DemoPerson[] | undefined;
  /** `npm run demo` only: money for a visitor's own wallet (POST /demo/faucet). Refused in production. */
  demoFaucet?: DemoFaucet | undefined;
}

/**
 * The express app: GraphQL at /graphql, /healthz, /readyz and /metrics, with request ids
 * in structured logs (credentials redacted), security headers, body and rate limits.
 */
export function createApp(deps: Deps, options: AppOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
  app.use(requestLogging(deps));
  // GraphiQL needs inline scripts; outside production the CSP is left to the browser defaults.
  app.use(helmet(deps.config.production ? {} : { contentSecurityPolicy: false }));
  mountMetrics(app, deps, options);
  // The hub starts listening with the first subscriber.
  let hub: EventHub | undefined;
  const events = () => (hub ??= createEventHub(deps.db, deps.log));
  // What ends the sockets, streams and subscriptions of a session that expires or is signed out.
  const sessions = createSessionWatch(deps, events);
  const maskError = createMaskError(deps.log, { production: deps.config.production });
  const yoga = createYogaServer(deps, events, sessions, {
    maskError,
    corsOrigins: options.corsOrigins ?? [],
    ...(options.subscriptionLimits ? { subscriptionLimits: options.subscriptionLimits } : {}),
    prometheus: options.prometheus,
  });
  // GraphQL: one router mounted at /graphql ahead of the other routes, so a GraphQL request
  // passes one prefix match instead of one per middleware, and none of the dashboard's.
  const graphql = express.Router();
  // The body is read here, counting the bytes actually received (chunked or not).
  const body = express.raw({ type: () => true, limit: MAX_BODY_BYTES });
  const adminBody = express.raw({ type: () => true, limit: MAX_ADMIN_BODY_BYTES });
  // The larger limit needs a token that verifies as an admin's (signature and time; the session
  // itself is checked after the body, as for every request).
  graphql.use((req, res, next) => {
    const admin = bearsAdminToken(deps, req);
    refuseOversized(req, res, admin ? MAX_ADMIN_BODY_BYTES : MAX_BODY_BYTES);
    (admin ? adminBody : body)(req, res, next);
  }, refuseBrokenGetParams());
  const perMinute = options.rateLimitPerMinute ?? 1_200;
  // One budget per address and per signed-in subject, spent by HTTP requests and WebSocket
  // operations alike.
  const byIp = perMinute > 0 ? limitPer(deps, perMinute, 'ip', (req) => ipKey(req.ip)) : undefined;
  const bySubject =
    perMinute > 0
      ? limitPer(deps, Math.max(1, Math.floor(perMinute / 2)), 'address', (req) => subjectKey((req as AuthedRequest).auth?.viewer))
      : undefined;
  if (byIp) graphql.use(byIp.middleware);
  graphql.use(authenticate(deps));
  // Per signed-in address too, keyed by the verified subject only: a forged token counts
  // against its sender's IP, never against the address it names.
  if (bySubject) graphql.use(bySubject.middleware);
  // GraphQL over SSE at /graphql/stream (single connection, or distinct): after the same body,
  // rate and session checks as every GraphQL request. Distinct streams are also served at /graphql.
  // The other transports drive yoga's envelop themselves, and word refusals through the same mask.
  const transport = { graphqlEndpoint: yoga.graphqlEndpoint, getEnveloped: yoga.getEnveloped, maskError };
  const streams = eventStreams(transport, deps, sessions, { ...DEFAULT_STREAM_LIMITS, ...options.streamLimits });
  graphql.use('/stream', streams.handler);
  app.locals.closeEvents = async () => {
    streams.close();
    sessions.close();
    await hub?.close();
    hub = undefined;
  };
  // Yoga is a (req, res) handler; express 5's types do not know its overloads.
  graphql.use(yoga as unknown as express.RequestHandler);
  app.use(yoga.graphqlEndpoint, graphql);
  // The dashboard: static files relative to their folder, no build step, nothing from a CDN.
  // (`send` checks dot segments of the request path only, so a project under ~/.cache works.)
  app.use(express.static(options.dashboardDir ?? DASHBOARD_DIR, { index: 'index.html', dotfiles: 'ignore', fallthrough: true }));
  // The charting library, from the lockfile (no CDN).
  app.use('/vendor/uplot', express.static(UPLOT_DIR, { fallthrough: false }));
  // What the dashboard needs to know about this server before its first request: whether the
  // demo's routes exist (so a production page never probes them and logs a 404).
  const demo = { people: Boolean(options.demoPeople), faucet: Boolean(options.demoFaucet) };
  app.get('/dashboard.json', (_req, res) => {
    res.json({ demo });
  });
  if (options.demoPeople || options.demoFaucet) mountDemo(app, deps, options.demoPeople ?? [], options.demoFaucet);
  const lifecycle = { draining: false };
  app.locals.startDraining = () => {
    lifecycle.draining = true;
  };
  mountProbes(app, deps, options.readiness ?? [], lifecycle);
  // An incident's evidence as the exact bytes its evidenceHash is the SHA-256 of.
  app.get('/incidents/:id/evidence.json', async (req, res, next) => {
    try {
      const incident = await getIncident(deps, req.params.id);
      if (incident.evidenceDocument === null) return refused(res, 404, 'this incident predates published evidence documents', 'NOT_FOUND');
      res.type('application/json').send(Buffer.from(incident.evidenceDocument, 'utf8'));
    } catch (error) {
      next(error);
    }
  });
  // GraphQL over WebSocket, once the owner of the HTTP server attaches it (attachWebSockets).
  app.locals.attachWebSockets = (server: Server) => {
    const trust = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
    const stop = serveWebSockets(server, transport, deps, {
      maxPayload: MAX_BODY_BYTES,
      // The client's address as HTTP sees it: X-Forwarded-For believed only from TRUST_PROXY.
      clientIp: (request) => proxyaddr(request, trust),
      sessions,
      allow: async (ip, viewer) => {
        if (byIp && !(await byIp.hit(ipKey(ip)))) return false;
        const subject = subjectKey(viewer);
        return !(bySubject && subject && !(await bySubject.hit(subject)));
      },
    });
    const before = app.locals.closeEvents as () => Promise<void>;
    app.locals.closeEvents = async () => {
      await stop();
      await before();
    };
  };
  app.use((_req: express.Request, res: express.Response) => refused(res, 404, 'not found', 'NOT_FOUND'));
  app.use(errorHandler(deps));
  return app;
}

function mountMetrics(app: express.Express, deps: Deps, options: AppOptions): void {
  const prometheus = options.prometheus;
  if (!prometheus) return;
  app.use((req, res, next) => {
    const end = prometheus.httpSeconds.startTimer();
    // Read before routing: a mounted router (/graphql) strips its prefix from req.path, so at
    // 'finish' /graphql read as "/" (the dashboard's route) and /graphql/stream as "other".
    // Bounded labels: unknown paths share one series.
    const route = routeOf(req.path, 'other');
    res.on('finish', () => end({ method: req.method, route, status: String(res.statusCode) }));
    next();
  });
  const token = options.metricsToken;
  if (!token && deps.config.production) return;
  app.get('/metrics', async (req, res) => {
    const given = bearer(req.headers.authorization) ?? '';
    if (token && !safeEqual(given, token)) {
      refused(res, 401, 'metrics need the metrics bearer token', 'UNAUTHENTICATED');
      return;
    }
    res.setHeader('content-type', prometheus.registry.contentType);
    res.send(await prometheus.registry.metrics());
  });
}

/** A readiness check; its failure shows as "unavailable" unless its reason is safe to publish. */
interface Probe {
  name: string;
  check: () => Promise<void>;
  reasonIsPublic?: boolean;
}

/**
 * /livez (and /healthz, its older name): the process answers. /readyz: it should get traffic:
 * the database (and the reserves, and the chains with a watcher) check out, and it is not
 * draining (after SIGTERM it answers 503 while it finishes what it has, see src/bin/server.ts).
 */
function mountProbes(
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
  if (deps.config.settlement.mode === 'chain') {
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

/** Verifies the bearer token once per request; the API refuses an invalid one. */
/**
 * Refuse early: a body declared, or read, past `max` bytes is answered 413 at once and its
 * connection closed, so the rest of the upload is never read. (The body parser alone reads an
 * oversized body to its end before it reports the overflow.) Counts the same chunks the
 * parser reads, attached in the same turn.
 */
function refuseOversized(req: express.Request, res: express.Response, max: number): void {
  const tooLarge = () => {
    if (res.headersSent) return;
    res.setHeader('connection', 'close');
    res.on('finish', () => req.socket.destroy());
    refused(res, 413, `request body too large (at most ${max} bytes)`, 'BAD_USER_INPUT');
  };
  if (Number(req.headers['content-length'] ?? 0) > max) {
    tooLarge();
    return;
  }
  let seen = 0;
  const count = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > max) {
      req.off('data', count);
      tooLarge();
    }
  };
  req.on('data', count);
}

function bearsAdminToken(deps: Deps, req: express.Request): boolean {
  const token = bearer(req.headers.authorization);
  if (!token) return false;
  try {
    return isAdminAddress(deps, verifiedClaims(deps, token).sub);
  } catch {
    return false;
  }
}

function authenticate(deps: Deps): express.RequestHandler {
  return (req, _res, next) => {
    const token = bearer(req.headers.authorization);
    const authed = req as AuthedRequest;
    if (token === null) {
      authed.auth = { viewer: null };
      next();
      return;
    }
    verifySessionToken(deps, token).then(
      (viewer) => {
        authed.auth = { viewer };
        next();
      },
      (error: unknown) => {
        authed.auth = { viewer: null, authError: error };
        next();
      },
    );
  };
}

const ipKey = (ip: string | undefined) => `ip:${clientKey(ip)}`;
const subjectKey = (viewer: Viewer | null | undefined) => (viewer ? `address:${viewer.address}` : null);

/**
 * A per-minute limit on /graphql, counted in the database when replicas share one: the
 * middleware for HTTP, and `hit` for a WebSocket operation (true while within the limit),
 * on the same counts.
 */
function limitPer(
  deps: Deps,
  limit: number,
  name: string,
  key: (req: express.Request) => string | null,
): { middleware: express.RequestHandler; hit(key: string): Promise<boolean> } {
  const windowMs = 60_000;
  const shared = sharedRateLimitCounter(deps, windowMs);
  // One store for both transports: the database's counts, or memory (rateLimit() below gives it its window).
  const store: Store = shared
    ? ({
        localKeys: false,
        prefix: `${name}:`,
        increment: async (k: string) => {
          const { hits, resetAt } = await shared.increment(k);
          return { totalHits: hits, resetTime: new Date(resetAt) };
        },
        decrement: (k: string) => shared.decrement(k),
        resetKey: (k: string) => shared.reset(k),
      } as Store)
    : new MemoryStore();
  // The key is worked out once per request (the IP's is a walk of the proxy chain); a request
  // without one (no signed-in address) never enters the limiter.
  const keys = new WeakMap<express.Request, string>();
  const limiter = rateLimit({
    windowMs,
    limit,
    standardHeaders: name === 'ip' ? 'draft-8' : false,
    legacyHeaders: false,
    store,
    handler: (_req, res) => refused(res, 429, 'too many requests; slow down', 'RATE_LIMITED'),
    keyGenerator: (req) => keys.get(req) as string,
  });
  return {
    middleware: (req, res, next) => {
      const k = key(req);
      if (k === null) return next();
      keys.set(req, k);
      return limiter(req, res, next);
    },
    hit: async (k) => (await store.increment(k)).totalHits <= limit,
  };
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

/** The one error handler of the non-GraphQL routes: a stable code, never a stack or a path. */
function errorHandler(deps: Deps): express.ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    // refuseOversized answered already (the parser reports the same overflow once the upload ends).
    if (res.headersSent) return;
    if (isBaseError(err)) return refused(res, HTTP_STATUS[err.code] ?? 400, err.message, err.code);
    const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
    if (status === 413) {
      const limit = (err as { limit?: unknown }).limit;
      return refused(
        res,
        413,
        `request body too large (at most ${typeof limit === 'number' ? limit : MAX_BODY_BYTES} bytes)`,
        'BAD_USER_INPUT',
      );
    }
    if (status >= 400 && status < 500) return refused(res, status, 'bad request', 'BAD_USER_INPUT');
    if (isUnavailable(err)) {
      deps.log.warn({ err }, 'the database is unavailable');
      res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      return refused(res, 503, unavailableMessage(err), 'UNAVAILABLE');
    }
    deps.log.error({ err }, 'unexpected error in an HTTP route');
    return refused(res, 500, 'unexpected error', 'INTERNAL_SERVER_ERROR');
  };
}

/** GET requests carry JSON in the query string: broken JSON is bad input, said at the edge. */
function refuseBrokenGetParams(): express.RequestHandler {
  return (req, res, next) => {
    if (req.method === 'GET') {
      for (const name of ['variables', 'extensions']) {
        const raw = req.query[name];
        if (raw === undefined) continue;
        try {
          if (typeof raw !== 'string') throw new Error('repeated');
          JSON.parse(raw);
        } catch {
          refused(res, 400, `${name} must be a JSON object`, 'BAD_USER_INPUT');
          return;
        }
      }
    }
    next();
  };
}

/**
 * GET /demo/people lists the demo people; POST /demo/sessions {address} signs one in with
 * its key, through the ordinary Sign-In with Ethereum checks, and returns the session.
 * POST /demo/faucet, signed in: the faucet's money for the signed-in wallet, once.
 */
function mountDemo(app: express.Express, deps: Deps, people: readonly DemoPerson[], faucet: DemoFaucet | undefined): void {
  if (deps.config.production) throw new Error('demo sessions sign in with public keys: they are never served in production');
  if (faucet) {
    app.post('/demo/faucet', authenticate(deps), async (req, res, next) => {
      const viewer = (req as AuthedRequest).auth?.viewer;
      if (!viewer) {
        refused(res, 401, 'sign in first: the faucet funds the signed-in wallet', 'UNAUTHENTICATED');
        return;
      }
      try {
        const grant = await faucet(viewer.address);
        res.json({ credited: grant.credited.toString(), inWallet: grant.inWallet.toString(), alreadyFunded: grant.alreadyFunded });
      } catch (err) {
        next(err);
      }
    });
  }
  const byAddress = new Map(people.map((p) => [p.address.toLowerCase(), p]));
  app.get('/demo/people', (_req, res) => {
    res.json(people.map(({ name, address }) => ({ name, address })));
  });
  app.post('/demo/sessions', express.json({ limit: '1kb' }), async (req, res, next) => {
    const address: unknown = req.body?.address;
    const person = typeof address === 'string' ? byAddress.get(address.toLowerCase()) : undefined;
    if (!person) {
      refused(res, 404, 'address is not one of the demo people', 'NOT_FOUND');
      return;
    }
    try {
      const host = req.get('host') ?? '';
      const origin = deps.config.siwe.domains.includes(host) ? `${req.protocol}://${host}` : `http://${deps.config.siwe.domains[0]}`;
      const session = await signInWithKey(deps, person.privateKey, origin, req.ip ?? 'unknown');
      res.json({
        token: session.token,
        expiresAt: new Date(session.expiresAt).toISOString(),
        address: session.account.address,
        name: person.name,
      });
    } catch (err) {
      next(err);
    }
  });
}

/** Serves GraphQL over WebSocket (graphql-ws) on `server`'s GraphQL path; closeApp closes the sockets. */
export function attachWebSockets(app: express.Express, server: Server): void {
  (app.locals.attachWebSockets as (s: Server) => void)(server);
}

/** From now on /readyz answers 503 (draining): load balancers stop sending new work while requests are still served. */
export function startDraining(app: express.Express): void {
  (app.locals.startDraining as () => void)();
}

/** Stops the app's event listener (the HTTP server is closed by its owner). */
export async function closeApp(app: express.Express): Promise<void> {
  await (app.locals.closeEvents as (() => Promise<void>) | undefined)?.();
}
