import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useOperationInLogs, useOperationMetrics } from './graphql-metrics.ts';
import { useOperationSpans } from './tracing.ts';
import { createSchema, createYoga } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { Deps } from '../app/deps.ts';
import { type Context, createContext } from './context.ts';
import {
  type SubscriptionLimits,
  useExpensiveFieldBudget,
  useNoIntrospection,
  useNoSuggestions,
  useRefuseNulBytes,
  useRowBudget,
  useSessionBoundSubscriptions,
  useSubscriptionLimits,
} from './guards.ts';
import type { SessionWatch } from '../app/session-watch.ts';
import type { EventHub } from '../app/event-hub.ts';
import type { createPrometheus } from './prometheus.ts';
import { resolvers } from './resolvers.ts';
import type { AuthedRequest } from './authenticate.ts';

/** Rows one request may ask for (first/limit multiplied down each path): one feed page of 100 with 500 observations each. */
const MAX_ROWS = 60_000;

const SCHEMA_DIR = new URL('../../schema', import.meta.url).pathname;
export function loadTypeDefs(): string {
  return readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => readFileSync(join(SCHEMA_DIR, f), 'utf8'))
    .join('\n');
}

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
      // Aliased quotes are priced one by one (~10 ms each): a few to compare terms, not dozens.
      useExpensiveFieldBudget({ adequacy: 3, backtest: 1, quoteEstimate: 4, requestQuote: 4, requestBundleQuote: 1 }),
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
