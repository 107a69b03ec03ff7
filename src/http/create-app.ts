import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { sql } from 'drizzle-orm';
import express from 'express';
import { createSchema, createYoga } from 'graphql-yoga';
import { verifySessionToken } from '../app/auth.ts';
import type { Deps } from '../app/deps.ts';
import { type Context, createContext } from './context.ts';
import { createMaskError } from './errors.ts';
import { resolvers } from './resolvers.ts';

const SCHEMA_DIR = new URL('../../schema', import.meta.url).pathname;
const MAX_BODY_BYTES = 2 * 1024 * 1024;

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

export function createYogaServer(deps: Deps) {
  return createYoga({
    schema: createSchema({ typeDefs: loadTypeDefs(), resolvers }),
    context: ({ request }): Context => {
      const token = bearer(request.headers.get('authorization'));
      // A token that is present but invalid is refused rather than silently ignored.
      return createContext(deps, token === null ? null : verifySessionToken(deps, token));
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

/** The express app: GraphQL at /graphql, health and readiness probes. */
export function createApp(deps: Deps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.db.query(sql`SELECT 1`);
      res.json({ status: 'ready', database: deps.db.kind });
    } catch {
      res.status(503).json({ status: 'unavailable', database: deps.db.kind });
    }
  });
  app.use((req, res, next) => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_BODY_BYTES) {
      res.status(413).json({ errors: [{ message: 'request body too large', extensions: { code: 'BAD_USER_INPUT' } }] });
      return;
    }
    next();
  });
  const yoga = createYogaServer(deps);
  // Yoga is a (req, res) handler; express 5's types do not know its overloads.
  app.use(yoga.graphqlEndpoint, yoga as unknown as express.RequestHandler);
  return app;
}
