import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { sql } from 'drizzle-orm';
import express from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { createSchema, createYoga } from 'graphql-yoga';
import helmet from 'helmet';
import jwt from 'jsonwebtoken';
import { pinoHttp } from 'pino-http';
import { signInWithKey, verifySessionToken } from '../app/auth.ts';
import type { Deps } from '../app/deps.ts';
import type { DemoPerson } from '../demo/market.ts';
import { type Context, createContext } from './context.ts';
import { createMaskError } from './errors.ts';
import { type EventHub, createEventHub } from './event-hub.ts';
import type { createPrometheus } from './prometheus.ts';
import { resolvers } from './resolvers.ts';

const SCHEMA_DIR = new URL('../../schema', import.meta.url).pathname;
const MAX_BODY_BYTES = 2 * 1024 * 1024;
const DASHBOARD_DIR = new URL('./dashboard', import.meta.url).pathname;

export function loadTypeDefs(): string {
  return readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => readFileSync(join(SCHEMA_DIR, f), 'utf8'))
    .join('\n');
}

function bearer(header: string | null): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1] ?? '';
}

export function createYogaServer(deps: Deps, events: () => EventHub) {
  return createYoga({
    schema: createSchema({ typeDefs: loadTypeDefs(), resolvers }),
    context: ({ request }): Context => {
      const token = bearer(request.headers.get('authorization'));
      // A token that is present but invalid is refused rather than silently ignored.
      return createContext(deps, token === null ? null : verifySessionToken(deps, token), events);
    },
    maskedErrors: { maskError: createMaskError(deps.log) },
    graphiql: !deps.config.production,
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
      ...(deps.config.production ? [useDisableIntrospection()] : []),
      EnvelopArmorPlugin({
        maxDepth: { n: 10 },
        maxAliases: { n: 15 },
        maxDirectives: { n: 10 },
        maxTokens: { n: 200_000 },
        costLimit: { maxCost: 5_000 },
        blockFieldSuggestion: { enabled: deps.config.production },
      }),
    ],
  });
}

export interface AppOptions {
  prometheus?: ReturnType<typeof createPrometheus>;
  /** Extra readiness checks (chains); the database is always checked. */
  readiness?: Array<{ name: string; check: () => Promise<void> }>;
  /** Requests per minute per IP and per signed-in address on /graphql; 0 disables. */
  rateLimitPerMinute?: number;
  /**
   * `npm run demo` only: people whose keys this process holds, offered on the dashboard so
   * a newcomer can see a buyer's or underwriter's own view. Refused in production.
   */
  demoPeople?: readonly DemoPerson[];
}

const REQUEST_ID = /^[\w.-]{1,64}$/;

function refused(res: express.Response, status: number, message: string, code: string): void {
  res.status(status).json({ errors: [{ message, extensions: { code } }] });
}

/**
 * The express app: GraphQL at /graphql, /healthz, /readyz and /metrics, with request ids
 * in structured logs, security headers, body size and rate limits.
 */
export function createApp(deps: Deps, options: AppOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(
    pinoHttp({
      logger: deps.log,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      autoLogging: { ignore: (req) => req.url === '/metrics' || req.url === '/healthz' },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    }),
  );
  // GraphiQL needs inline scripts; outside production the CSP is left to the browser defaults.
  app.use(helmet({ contentSecurityPolicy: deps.config.production ? undefined : false }));
  const prometheus = options.prometheus;
  if (prometheus) {
    app.use((req, res, next) => {
      const end = prometheus.httpSeconds.startTimer();
      res.on('finish', () => end({ method: req.method, route: req.path === '/graphql' ? '/graphql' : req.path.slice(0, 32), status: String(res.statusCode) }));
      next();
    });
    app.get('/metrics', async (_req, res) => {
      res.setHeader('content-type', prometheus.registry.contentType);
      res.send(await prometheus.registry.metrics());
    });
  }
  // The dashboard: static files, no build step, nothing from a CDN.
  app.get('/', (_req, res) => res.sendFile(join(DASHBOARD_DIR, 'index.html')));
  app.get(['/dashboard.js', '/dashboard.css'], (req, res) => res.sendFile(join(DASHBOARD_DIR, req.path.slice(1))));
  if (options.demoPeople) mountDemoSessions(app, deps, options.demoPeople);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    let ready = true;
    for (const probe of [{ name: 'database', check: () => deps.db.query(sql`SELECT 1`).then(() => undefined) }, ...(options.readiness ?? [])]) {
      try {
        await probe.check();
        checks[probe.name] = 'ok';
      } catch {
        checks[probe.name] = 'unavailable';
        ready = false;
      }
    }
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', database: deps.db.kind, checks });
  });
  app.use((req, res, next) => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_BODY_BYTES) {
      refused(res, 413, 'request body too large', 'BAD_USER_INPUT');
      return;
    }
    next();
  });
  const perMinute = options.rateLimitPerMinute ?? 1_200;
  if (perMinute > 0) {
    const limited = (_req: express.Request, res: express.Response) => refused(res, 429, 'too many requests; slow down', 'RATE_LIMITED');
    app.use('/graphql', rateLimit({ windowMs: 60_000, limit: perMinute, standardHeaders: 'draft-8', legacyHeaders: false, handler: limited, keyGenerator: (req) => ipKeyGenerator(req.ip ?? '') }));
    // Per signed-in address too, so one account cannot spread its load over many IPs. The
    // token is only read here for its subject; it is verified by the API itself.
    const subject = (req: express.Request) => {
      const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const payload = match?.[1] ? jwt.decode(match[1]) : null;
      return payload && typeof payload === 'object' && typeof payload.sub === 'string' ? payload.sub.toLowerCase() : null;
    };
    app.use(
      '/graphql',
      rateLimit({
        windowMs: 60_000,
        limit: Math.max(1, Math.floor(perMinute / 2)),
        standardHeaders: false,
        legacyHeaders: false,
        handler: limited,
        skip: (req) => subject(req) === null,
        keyGenerator: (req) => `address:${subject(req)}`,
      }),
    );
  }
  // The hub starts listening with the first subscriber.
  let hub: EventHub | undefined;
  const events = () => (hub ??= createEventHub(deps.db, deps.log));
  app.locals.closeEvents = async () => {
    await hub?.close();
    hub = undefined;
  };
  const yoga = createYogaServer(deps, events);
  // Yoga is a (req, res) handler; express 5's types do not know its overloads.
  app.use(yoga.graphqlEndpoint, yoga as unknown as express.RequestHandler);
  return app;
}

/**
 * GET /demo/people lists the demo people; POST /demo/sessions {address} signs one in with
 * its key, through the ordinary Sign-In with Ethereum checks, and returns the session.
 */
function mountDemoSessions(app: express.Express, deps: Deps, people: readonly DemoPerson[]): void {
  if (deps.config.production) throw new Error('demo sessions sign in with public keys: they are never served in production');
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
      const session = await signInWithKey(deps, person.privateKey, `${req.protocol}://${req.get('host') ?? deps.config.siwe.domain}`);
      res.json({ token: session.token, expiresAt: new Date(session.expiresAt).toISOString(), address: session.account.address, name: person.name });
    } catch (err) {
      next(err);
    }
  });
}

/** Stops the app's event listener (the HTTP server is closed by its owner). */
export async function closeApp(app: express.Express): Promise<void> {
  await (app.locals.closeEvents as (() => Promise<void>) | undefined)?.();
}
