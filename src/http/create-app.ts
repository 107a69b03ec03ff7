import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import express from 'express';
import { MemoryStore, type Store, rateLimit } from 'express-rate-limit';
import proxyaddr from 'proxy-addr';
import helmet from 'helmet';
import { getTypesForEIP712Domain, zeroAddress } from 'viem';
import { requestLogging } from './access-log.ts';
import { bearer } from './bearer.ts';
import { serveWebSockets } from './websocket.ts';
import { type Viewer, isAdminAddress } from '../app/viewer.ts';
import { verifiedClaims } from '../app/sessions.ts';
import { getIncident } from '../app/incidents.ts';
import { METADATA_PATH, policyTokenMetadata } from '../app/policy-tokens.ts';
import { POSITION_METADATA_PATH, positionTokenMetadata } from '../app/position-tokens.ts';
import { sharedRateLimitCounter } from '../app/rate-limits.ts';
import type { Deps } from '../app/deps.ts';
import { createMaskError, errorHandler, refused } from './errors.ts';
import { clientKey } from './guards.ts';
import { DEFAULT_STREAM_LIMITS, eventStreams } from './event-streams.ts';
import { createSessionWatch } from '../app/session-watch.ts';
import { type EventHub, createEventHub } from '../app/event-hub.ts';
import { httpMetrics, mountMetrics, mountProbes } from './probes.ts';
import { chain } from './chain.ts';
import { mountDemo } from './demo-routes.ts';
import { createYogaServer } from './yoga-server.ts';
import { jsonPost } from './json-post.ts';
import { type AuthedRequest, authenticate } from './authenticate.ts';
import { accountStatement, statementCsv } from '../app/statement.ts';
import { badInput } from '../domain/errors.ts';
import { isoDateTime } from './scalars.ts';
import { policyTransferTypes, positionTransferTypes } from '../domain/policy-transfer.ts';
import type { AppOptions } from './app-options.ts';
const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** An admin's requests may be larger: importFeedHistory takes up to 100,000 observations a call. */
const MAX_ADMIN_BODY_BYTES = 16 * 1024 * 1024;
export const DASHBOARD_DIR = new URL('./dashboard', import.meta.url).pathname;
const UPLOT_DIR = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/**
 * The express app: GraphQL at /graphql, /healthz, /readyz and /metrics, with request ids
 * in structured logs (credentials redacted), security headers, body and rate limits.
 */
export function createApp(deps: Deps, options: AppOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
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
  // GraphQL's steps, chained (chain.ts) rather than routed.
  // The body is read here, counting the bytes actually received (chunked or not).
  const body = express.raw({ type: () => true, limit: MAX_BODY_BYTES });
  const adminBody = express.raw({ type: () => true, limit: MAX_ADMIN_BODY_BYTES });
  // The larger limit needs a token that verifies as an admin's (signature and time; the session
  // itself is checked after the body, as for every request).
  const readBody: express.RequestHandler = (req, res, next) => {
    const admin = bearsAdminToken(deps, req);
    refuseOversized(req, res, admin ? MAX_ADMIN_BODY_BYTES : MAX_BODY_BYTES);
    (admin ? adminBody : body)(req, res, next);
  };
  const perMinute = options.rateLimitPerMinute ?? 1_200;
  // One budget per address and per signed-in subject, spent by HTTP requests and WebSocket
  // operations alike.
  const byIp = perMinute > 0 ? limitPer(deps, perMinute, 'ip', (req) => ipKey(req.ip)) : undefined;
  const bySubject =
    perMinute > 0
      ? limitPer(deps, Math.max(1, Math.floor(perMinute / 2)), 'address', (req) => subjectKey((req as AuthedRequest).auth?.viewer))
      : undefined;
  // GraphQL over SSE at /graphql/stream (single connection, or distinct): after the same body,
  // rate and session checks as every GraphQL request. Distinct streams are also served at /graphql.
  // The other transports drive yoga's envelop themselves, and word refusals through the same mask.
  const transport = { graphqlEndpoint: yoga.graphqlEndpoint, getEnveloped: yoga.getEnveloped, maskError };
  const streams = eventStreams(transport, deps, sessions, { ...DEFAULT_STREAM_LIMITS, ...options.streamLimits });
  const stream = new RegExp(`^${yoga.graphqlEndpoint}/stream(?:/|$)`, 'i');
  const streamPath: express.RequestHandler = (req, res, next) => (stream.test(req.path) ? streams.handler(req, res, next) : next());
  app.locals.closeEvents = async () => {
    streams.close();
    sessions.close();
    await hub?.close();
    hub = undefined;
  };
  const graphql = chain(
    readBody,
    refuseBrokenGetParams(),
    ...(byIp ? [byIp.middleware] : []),
    authenticate(deps),
    // Per signed-in address too, keyed by the verified subject only: a forged token counts
    // against its sender's IP, never against the address it names.
    ...(bySubject ? [bySubject.middleware] : []),
    streamPath,
    // A query or mutation POSTed as JSON is run on yoga's envelop without its fetch adapter;
    // the rest, and every refusal before execution, is yoga's (json-post.ts).
    jsonPost(transport),
    // Yoga is a (req, res) handler; express 5's types do not know its overloads.
    yoga as unknown as express.RequestHandler,
  );
  // What every request passes first, as the app's first layer (chain.ts): the access log,
  // security headers (GraphiQL needs inline scripts; outside production the CSP is left to the
  // browser defaults), the request timer, and then GraphQL's own steps for /graphql and under
  // it, ahead of every other route.
  const timed = httpMetrics(options);
  const under = new RegExp(`^${yoga.graphqlEndpoint}(?:/|$)`, 'i');
  app.use(
    chain(
      requestLogging(deps),
      helmet(deps.config.production ? {} : { contentSecurityPolicy: false }),
      ...(timed ? [timed] : []),
      (req, res, next) => (under.test(req.path) ? graphql(req, res, next) : next()),
    ),
  );
  mountMetrics(app, deps, options);
  // The dashboard: static files relative to their folder, no build step, nothing from a CDN.
  // (`send` checks dot segments of the request path only, so a project under ~/.cache works.)
  app.use(express.static(options.dashboardDir ?? DASHBOARD_DIR, { index: 'index.html', dotfiles: 'ignore', fallthrough: true }));
  // The charting library, from the lockfile (no CDN).
  app.use('/vendor/uplot', express.static(UPLOT_DIR, { fallthrough: false }));
  // What the dashboard needs to know about this server before its first request: whether the
  // demo's routes exist (so a production page never probes them and logs a 404), what cover the
  // API quotes (its form allows only that), and the EIP-712 types a transfer is signed with (the
  // API's own, src/domain/policy-transfer.ts, with the domain's fields as the wallet takes them).
  const info = {
    demo: { people: Boolean(options.demoPeople), faucet: Boolean(options.demoFaucet) },
    cover: { minDays: deps.config.pricing.minDays, maxDays: deps.config.pricing.maxDays, minCover: deps.config.minCover },
    transferTypes: {
      EIP712Domain: getTypesForEIP712Domain({ domain: { name: '', version: '', chainId: 1, verifyingContract: zeroAddress } }),
      ...policyTransferTypes,
      ...positionTransferTypes,
    },
  };
  app.get('/dashboard.json', (_req, res) => {
    res.json(info);
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
      if (incident.evidenceDocument === null) return refused(res, 'NOT_FOUND', 'this incident predates published evidence documents');
      res.type('application/json').send(Buffer.from(incident.evidenceDocument, 'utf8'));
    } catch (error) {
      next(error);
    }
  });
  // An account's statement as CSV (the statement query's csv), for a spreadsheet or an accountant.
  app.get('/statement.csv', authenticate(deps), async (req, res, next) => {
    try {
      const auth = (req as AuthedRequest).auth;
      if (auth?.authError) throw auth.authError;
      const viewer = auth?.viewer ?? null;
      const q = req.query as Record<string, unknown>;
      const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
      const time = (v: unknown, field: string) => {
        const t = text(v);
        if (t === null) return null;
        const at = isoDateTime(t);
        if (at === null) throw badInput(`${field} must be an ISO-8601 date-time from year 0000 to 9999`, { field });
        return at;
      };
      const statement = await accountStatement(deps, viewer, {
        address: text(q.address),
        asset: text(q.asset),
        from: time(q.from, 'from'),
        to: time(q.to, 'to'),
      });
      res
        .type('text/csv; charset=utf-8')
        .set('content-disposition', `attachment; filename="statement-${statement.address}-${statement.asset}.csv"`)
        .set('cache-control', 'no-store')
        .send(statementCsv(statement));
    } catch (error) {
      next(error);
    }
  });
  // A policy token's ERC-721 metadata: what the contract's tokenURI points to.
  app.get(`${METADATA_PATH}:tokenId`, async (req, res, next) => {
    try {
      const metadata = await policyTokenMetadata(deps, req.params.tokenId);
      if (!metadata) return refused(res, 'NOT_FOUND', 'no policy has this token id');
      res.set('cache-control', 'public, max-age=60').json(metadata);
    } catch (error) {
      next(error);
    }
  });
  // A position token's ERC-1155 metadata: what the contract's uri points to.
  app.get(`${POSITION_METADATA_PATH}:tokenId`, async (req, res, next) => {
    try {
      const metadata = await positionTokenMetadata(deps, req.params.tokenId);
      if (!metadata) return refused(res, 'NOT_FOUND', 'no pool tranche has this token id');
      res.set('cache-control', 'public, max-age=60').json(metadata);
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
  app.use((_req: express.Request, res: express.Response) => refused(res, 'NOT_FOUND', 'not found'));
  app.use(errorHandler(deps, MAX_BODY_BYTES));
  return app;
}

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
    refused(res, 'BAD_USER_INPUT', `request body too large (at most ${max} bytes)`, 413);
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
    handler: (_req, res) => refused(res, 'RATE_LIMITED', 'too many requests; slow down'),
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
          refused(res, 'BAD_USER_INPUT', `${name} must be a JSON object`);
          return;
        }
      }
    }
    next();
  };
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
