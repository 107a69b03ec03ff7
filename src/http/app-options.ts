import type { DemoFaucet, DemoPerson } from '../app/sign-in.ts';
import type { SubscriptionLimits } from './guards.ts';
import type { EventStreamLimits } from './event-streams.ts';
import type { createPrometheus } from './prometheus.ts';

/** A readiness check; its failure shows as "unavailable" unless its reason is safe to publish. */
export interface Probe {
  name: string;
  check: () => Promise<void>;
  reasonIsPublic?: boolean;
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
