import { randomBytes } from 'node:crypto';
import { readPrivateKeyFile } from '../chain/keys.ts';
import { type Address, type Hex, getAddress, isAddress } from 'viem';
import { z } from 'zod';
import type { AppConfig, MoneyRail } from '../app/deps.ts';
import { defaultLimits } from '../domain/capacity.ts';
import { defaultPricing } from '../domain/pricing.ts';
import { DEFAULT_MAX_QUEUED_WITHDRAWALS, DEFAULT_MIN_WITHDRAWAL } from '../app/withdraw.ts';
import { DEFAULT_RESERVE_MAX_AGE_MS } from '../app/reserves.ts';
import { DEFAULT_PAY_PIPELINE } from '../app/send-payouts.ts';
import { defaultSolvency } from '../app/adequacy.ts';

/** Anvil's first well-known dev account: the default admin outside production only. */
export const DEV_ADMIN = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';

const intFrom = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

const EnvSchema = z.object({
  NODE_ENV: z.string().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('.data/pglite'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: intFrom(4000, 0, 65_535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_PREVIOUS_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_TTL_SECONDS: intFrom(3_600, 60, 7 * 86_400),
  SIWE_DOMAIN: z.string().min(1).optional(),
  SIWE_DOMAINS: z
    .string()
    .regex(/^\s*[\w.-]+(:\d+)?(\s*,\s*[\w.-]+(:\d+)?)*\s*$/, 'must be host[:port] names separated by commas')
    .optional(),
  SIWE_CHAIN_IDS: z
    .string()
    .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'must be chain ids separated by commas')
    .default('1,10,137,8453,42161,31337'),
  /** A sign-in nonce's life: a multisig (a Safe) may take hours to collect its owners' signatures. */
  SIWE_NONCE_TTL_SECONDS: intFrom(300, 60, 7 * 86_400),
  CHAIN_READ_TIMEOUT_MS: intFrom(5_000, 200, 60_000),
  /** Days a feed's observations are kept raw before their month is downsampled (docs/scaling.md, "Storage"). */
  OBSERVATION_RAW_DAYS: intFrom(90, 7, 3_650),
  TRUST_PROXY: z.string().optional(),
  CORS_ORIGINS: z.string().optional(),
  HTTP_FEED_ALLOWED_HOSTS: z.string().optional(),
  WEBHOOK_ALLOWED_HOSTS: z.string().optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  ADMIN_ADDRESSES: z.string().optional(),
  COOLDOWN_SECONDS: intFrom(14 * 86_400, 0, 365 * 86_400),
  QUOTE_TTL_SECONDS: intFrom(defaultPricing.quoteTtlSeconds, 1, 3_600),
  // docs/pricing.md, "The market as it is now": the band near a threshold where sales stop, and the cool-off after a recovery.
  NEAR_THRESHOLD_BAND: z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a fraction from 0 to 1, e.g. "0.25"')
    .default(defaultPricing.nearThresholdBand),
  COOL_OFF_SECONDS: intFrom(defaultPricing.coolOffSeconds, 0, 30 * 86_400),
  COVER_WAITING_SECONDS: intFrom(defaultPricing.waitingSeconds, 0, 30 * 86_400),
  MIN_PREMIUM: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a decimal amount of the asset, e.g. "1"')
    .default('1'),
  // The least cover sold: below it the minimum premium is a large part of what the cover can pay.
  MIN_COVER: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a decimal amount of the asset, e.g. "10"')
    .default('10'),
  // A distributor's commission on a sale, at most this share of the premium (2000: 20%).
  MAX_COMMISSION_BPS: intFrom(2_000, 0, 10_000),
  MAINTENANCE_INTERVAL_SECONDS: intFrom(30, 1, 86_400),
  WEBHOOK_INTERVAL_MS: intFrom(2_000, 100, 3_600_000),
  SHUTDOWN_DRAIN_SECONDS: z.coerce.number().int().min(0).max(300).optional(),
  // OpenTelemetry tracing (docs/operations.md): the SDK's own variables; off unless an exporter is named or an endpoint set.
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).default('false'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/json'], { error: 'only http/json is supported (OTLP over HTTP with JSON bodies)' }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
    .enum(['http/json'], { error: 'only http/json is supported (OTLP over HTTP with JSON bodies)' })
    .optional(),
  OTEL_SERVICE_NAME: z.string().optional(),
  OTEL_BSP_SCHEDULE_DELAY: intFrom(5_000, 1, 3_600_000),
  WATCHER: z.enum(['on', 'off']).default('on'),
  SIMULATION_PATHS: intFrom(100_000, 1_000, 10_000_000),
  RATE_LIMIT_PER_MINUTE: intFrom(1_200, 0, 1_000_000),
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true'),
  WATCHER_INTERVAL_MS: intFrom(5_000, 100, 3_600_000),
  WATCHER_LEASE_TTL_MS: intFrom(15_000, 300, 600_000),
  WATCHER_METRICS_PORT: intFrom(9464, 0, 65_535),
  /** Fault testing only: the sender pauses this long between broadcasting a batch and recording it, the window a crash is worst in. */
  FAILPOINT_AFTER_BROADCAST_MS: intFrom(0, 0, 60_000),
  CHAIN_RPC_URLS: z
    .string()
    .regex(
      /^\s*\d+=\S+(\s*,\s*\d+=\S+)*\s*$/,
      'must be chainId=url pairs separated by commas, e.g. "1=https://rpc.example,31337=http://127.0.0.1:8545"',
    )
    .optional(),
  SETTLEMENT: z.enum(['ledger', 'chain']).default('ledger'),
  SETTLEMENT_CHAIN_ID: z.coerce.number().int().positive().optional(),
  SETTLEMENT_ASSET: z.string().min(1).default('USDC'),
  SETTLEMENT_TOKEN: z.string().optional(),
  TREASURY_ADDRESS: z.string().optional(),
  /** The policy token (ERC-721) `npm run deploy` deployed beside the treasury: policies are minted as tokens. */
  POLICY_TOKEN_ADDRESS: z.string().optional(),
  /** The position token (ERC-1155) `npm run deploy` deployed beside the treasury: pool shares can be issued as tokens. */
  POSITION_TOKEN_ADDRESS: z.string().optional(),
  /** The key that mints policy tokens and issues position tokens (the watcher's), apart from the operator's. */
  MINTER_KEY_FILE: z.string().min(1).optional(),
  TREASURY_OWNER_KEY_FILE: z.string().min(1).optional(),
  SETTLEMENT_START_BLOCK: z.coerce.bigint().nonnegative().default(0n),
  CONFIRMATIONS: intFrom(3, 1, 1_000),
  /** Blocks a contract reading must hold on (the latest and those before it) to count: a block reorganised away, or a one-block pump or dip, moves nothing. */
  FEED_CONFIRMATIONS: intFrom(3, 1, 256),
  PAY_BATCH_SIZE: intFrom(100, 1, 500),
  PAY_RESEND_AFTER_SECONDS: intFrom(120, 5, 86_400),
  PAY_PIPELINE: intFrom(DEFAULT_PAY_PIPELINE, 1, 64),
  RESERVE_CHECK_MAX_AGE_SECONDS: intFrom(DEFAULT_RESERVE_MAX_AGE_MS / 1000, 1, 86_400),
  DB_LOCK_TIMEOUT_MS: intFrom(5_000, 10, 600_000),
  DB_STATEMENT_TIMEOUT_MS: intFrom(120_000, 100, 3_600_000),
  /** How long a transaction that lost its connection before COMMIT, or a read, waits for a new primary (0: fail at once). */
  DB_FAILOVER_WAIT_MS: intFrom(20_000, 0, 300_000),
  MIN_WITHDRAWAL: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a decimal amount of the asset, e.g. "10"')
    .default(DEFAULT_MIN_WITHDRAWAL),
  MAX_QUEUED_WITHDRAWALS: intFrom(DEFAULT_MAX_QUEUED_WITHDRAWALS, 1, 1_000),
  OPERATOR_KEY_FILE: z.string().min(1).optional(),
  OPERATOR_SIGNER_URL: z.string().url().optional(),
  OPERATOR_ADDRESS: z.string().optional(),
});

const list = (text: string) =>
  text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** TRUST_PROXY: unset or "false" trusts no proxy; a number is a hop count; else addresses or subnets. */
function trustProxy(value: string | undefined): boolean | number | string {
  if (!value || value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  if (value === 'true')
    throw new Error('invalid configuration: TRUST_PROXY: name the proxies (addresses, subnets or a hop count), not "true"');
  return value;
}

export interface RuntimeConfig {
  app: AppConfig;
  databaseUrl: string | undefined;
  dataDir: string;
  host: string;
  port: number;
  logLevel: string;
  maintenanceIntervalMs: number;
  /** How often each API process turns new events into webhook deliveries and sends those due. */
  webhookIntervalMs: number;
  /** After SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes (default 5 s in production, 1 s otherwise). */
  shutdownDrainMs: number;
  /** Where spans go (OpenTelemetry): OTLP over HTTP, the console, or nowhere (the default: no tracer provider at all). */
  tracing: { exporter: 'otlp' | 'console' | null; serviceName: string | undefined; scheduledDelayMs: number };
  watcher: boolean;
  watcherIntervalMs: number;
  watcherLeaseTtlMs: number;
  /** `npm run watcher`'s /metrics and /healthz port (0: a free one). */
  watcherMetricsPort: number;
  /** Fault testing only (FAILPOINT_AFTER_BROADCAST_MS): a pause between a batch's broadcast and its record. */
  failpointAfterBroadcastMs: number;
  rateLimitPerMinute: number;
  /** Express `trust proxy`: false (default), a hop count, or proxy addresses/subnets. */
  trustProxy: boolean | number | string;
  corsOrigins: string[];
  metricsToken: string | undefined;
  migrateOnStart: boolean;
  /** PostgreSQL server: lock and statement timeouts of every connection (ms). */
  dbLockTimeoutMs: number;
  dbStatementTimeoutMs: number;
  dbFailoverWaitMs: number;
  rpcUrls: Map<number, string>;
  feedConfirmations: number;
  /** The chain rail: the RPC URLs of its chain and how the operator signs (watcher only). */
  chainRail:
    | {
        rpcUrls: string;
        operator: OperatorConfig | undefined;
        minterKey?: `0x${string}` | undefined;
        /** The treasury owner's key where this deployment holds it: it allows yield sources' vaults (issue 68). */
        ownerKey?: `0x${string}` | undefined;
      }
    | undefined;
  warnings: string[];
}

export type OperatorConfig = { kind: 'key'; key: Hex } | { kind: 'remote'; url: string; address: Address };

const fail = (variable: string, message: string): never => {
  throw new Error(`invalid configuration: ${variable}: ${message}`);
};

function address(variable: string, value: string | undefined): Address {
  if (!value) return fail(variable, 'required when SETTLEMENT=chain');
  if (!isAddress(value, { strict: false })) return fail(variable, `${value} is not an address`);
  return getAddress(value);
}

/** The operator's signer: a key file (never the key itself in the environment or a command line) or a remote signer. */
function operatorConfig(e: z.infer<typeof EnvSchema>): OperatorConfig | undefined {
  if (e.OPERATOR_KEY_FILE) {
    try {
      return { kind: 'key', key: readPrivateKeyFile(e.OPERATOR_KEY_FILE) };
    } catch (error) {
      return fail('OPERATOR_KEY_FILE', (error as Error).message);
    }
  }
  if (e.OPERATOR_SIGNER_URL)
    return { kind: 'remote', url: e.OPERATOR_SIGNER_URL, address: address('OPERATOR_ADDRESS', e.OPERATOR_ADDRESS) };
  return undefined;
}

/**
 * Validates the environment at start-up. A missing or bad variable stops the process with
 * a message that names it; secrets come only from the environment.
 */
export function loadConfig(env: Record<string, string | undefined>): RuntimeConfig {
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = EnvSchema.safeParse(given);
  // Every problem at once, not one per start: the schema's, then the ones it cannot see.
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  if (given.NODE_ENV === 'production') {
    for (const name of ['JWT_SECRET', 'ADMIN_ADDRESSES']) if (!given[name]) problems.push(`${name}: required in production`);
  }
  for (const a of (given.ADMIN_ADDRESSES ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!isAddress(a, { strict: false })) problems.push(`ADMIN_ADDRESSES: ${a} is not an address`);
  }
  if (!parsed.success || problems.length > 0) throw new Error(`invalid configuration: ${problems.join('; ')}`);
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const warnings: string[] = [];
  let secret = e.JWT_SECRET;
  if (!secret) {
    secret = randomBytes(32).toString('hex');
    warnings.push('JWT_SECRET is not set: using a random key, so sessions end when the server restarts');
  }
  const admins = (e.ADMIN_ADDRESSES ?? DEV_ADMIN)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (!e.ADMIN_ADDRESSES) warnings.push(`ADMIN_ADDRESSES is not set: the well-known dev account ${DEV_ADMIN} is admin`);
  const rpcUrls = new Map(
    (e.CHAIN_RPC_URLS ?? '')
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean)
      .map((pair) => {
        const [id, ...url] = pair.split('=');
        return [Number(id), url.join('=')] as const;
      }),
  );
  let rail: MoneyRail = { mode: 'ledger' };
  let chainRail: RuntimeConfig['chainRail'];
  if (e.SETTLEMENT === 'chain') {
    const chainId = e.SETTLEMENT_CHAIN_ID ?? fail('SETTLEMENT_CHAIN_ID', 'required when SETTLEMENT=chain');
    const urls = rpcUrls.get(chainId) ?? fail('CHAIN_RPC_URLS', `names no RPC URL for the settlement chain ${chainId}`);
    const operator = operatorConfig(e);
    if (!operator && e.WATCHER === 'on') {
      fail(
        'OPERATOR_KEY_FILE',
        'SETTLEMENT=chain with the watcher on needs the operator key that signs payouts: OPERATOR_KEY_FILE, or OPERATOR_SIGNER_URL with OPERATOR_ADDRESS (an API replica with WATCHER=off needs none)',
      );
    }
    rail = {
      mode: 'chain',
      chainId,
      asset: e.SETTLEMENT_ASSET,
      token: address('SETTLEMENT_TOKEN', e.SETTLEMENT_TOKEN),
      treasury: address('TREASURY_ADDRESS', e.TREASURY_ADDRESS),
      ...(e.POLICY_TOKEN_ADDRESS ? { policyToken: address('POLICY_TOKEN_ADDRESS', e.POLICY_TOKEN_ADDRESS) } : {}),
      ...(e.POSITION_TOKEN_ADDRESS ? { positionToken: address('POSITION_TOKEN_ADDRESS', e.POSITION_TOKEN_ADDRESS) } : {}),
      confirmations: e.CONFIRMATIONS,
      startBlock: e.SETTLEMENT_START_BLOCK,
      batchSize: e.PAY_BATCH_SIZE,
      resendAfterMs: e.PAY_RESEND_AFTER_SECONDS * 1000,
      pipeline: e.PAY_PIPELINE,
      reserveMaxAgeMs: e.RESERVE_CHECK_MAX_AGE_SECONDS * 1000,
      minWithdrawal: e.MIN_WITHDRAWAL,
      maxQueuedWithdrawals: e.MAX_QUEUED_WITHDRAWALS,
    };
    for (const [name, value] of [
      ['POLICY_TOKEN_ADDRESS', e.POLICY_TOKEN_ADDRESS],
      ['POSITION_TOKEN_ADDRESS', e.POSITION_TOKEN_ADDRESS],
    ] as const) {
      if (value && !e.MINTER_KEY_FILE && e.WATCHER === 'on')
        fail('MINTER_KEY_FILE', `${name} with the watcher on needs the key that mints the platform's tokens (npm run deploy writes it)`);
    }
    let minterKey: `0x${string}` | undefined;
    if (e.MINTER_KEY_FILE && e.WATCHER === 'on') {
      try {
        minterKey = readPrivateKeyFile(e.MINTER_KEY_FILE);
      } catch (error) {
        fail('MINTER_KEY_FILE', (error as Error).message);
      }
    }
    let ownerKey: `0x${string}` | undefined;
    if (e.TREASURY_OWNER_KEY_FILE) {
      try {
        ownerKey = readPrivateKeyFile(e.TREASURY_OWNER_KEY_FILE);
      } catch (error) {
        fail('TREASURY_OWNER_KEY_FILE', (error as Error).message);
      }
    }
    chainRail = { rpcUrls: urls, operator: e.WATCHER === 'on' ? operator : undefined, minterKey, ownerKey };
  }
  return {
    app: {
      production,
      jwt: {
        secret,
        previousSecret: e.JWT_PREVIOUS_SECRET,
        ttlSeconds: e.JWT_TTL_SECONDS,
        issuer: 'parametric-cover',
        audience: 'parametric-cover-api',
      },
      siwe: {
        domains: list(e.SIWE_DOMAINS ?? e.SIWE_DOMAIN ?? `localhost:${e.PORT},127.0.0.1:${e.PORT}`),
        chainIds: list(e.SIWE_CHAIN_IDS).map(Number),
        nonceTtlSeconds: e.SIWE_NONCE_TTL_SECONDS,
        rpcUrls,
        clockSkewSeconds: 60,
        maxOpenNonces: 20,
      },
      chainReadTimeoutMs: e.CHAIN_READ_TIMEOUT_MS,
      observationRawDays: e.OBSERVATION_RAW_DAYS,
      admins: admins.map((a) => getAddress(a)),
      httpFeedAllowedHosts: list(e.HTTP_FEED_ALLOWED_HOSTS ?? ''),
      // Any named mode but development and test guards webhooks (staging too); unset is a laptop's npm start.
      webhooks: {
        guarded: e.NODE_ENV !== undefined && !['development', 'test'].includes(e.NODE_ENV),
        allowedHosts: list(e.WEBHOOK_ALLOWED_HOSTS ?? ''),
      },
      pricing: {
        ...defaultPricing,
        quoteTtlSeconds: e.QUOTE_TTL_SECONDS,
        nearThresholdBand: e.NEAR_THRESHOLD_BAND,
        coolOffSeconds: e.COOL_OFF_SECONDS,
        waitingSeconds: e.COVER_WAITING_SECONDS,
      },
      minPremium: e.MIN_PREMIUM,
      minCover: e.MIN_COVER,
      maxCommissionBps: e.MAX_COMMISSION_BPS,
      defaultCooldownSeconds: e.COOLDOWN_SECONDS,
      defaultLimits,
      solvency: { ...defaultSolvency, simulation: { ...defaultSolvency.simulation, paths: e.SIMULATION_PATHS } },
      rail,
    },
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    maintenanceIntervalMs: e.MAINTENANCE_INTERVAL_SECONDS * 1000,
    webhookIntervalMs: e.WEBHOOK_INTERVAL_MS,
    // Long enough for a load balancer to notice in production; a moment on a laptop.
    shutdownDrainMs: (e.SHUTDOWN_DRAIN_SECONDS ?? (production ? 5 : 1)) * 1000,
    tracing: {
      exporter:
        e.OTEL_SDK_DISABLED === 'true' || e.OTEL_TRACES_EXPORTER === 'none'
          ? null
          : (e.OTEL_TRACES_EXPORTER ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : null)),
      serviceName: e.OTEL_SERVICE_NAME,
      scheduledDelayMs: e.OTEL_BSP_SCHEDULE_DELAY,
    },
    watcher: e.WATCHER === 'on',
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    trustProxy: trustProxy(e.TRUST_PROXY),
    corsOrigins: list(e.CORS_ORIGINS ?? ''),
    metricsToken: e.METRICS_TOKEN,
    migrateOnStart: e.MIGRATE_ON_START === 'true',
    dbLockTimeoutMs: e.DB_LOCK_TIMEOUT_MS,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    dbFailoverWaitMs: e.DB_FAILOVER_WAIT_MS,
    watcherIntervalMs: e.WATCHER_INTERVAL_MS,
    watcherLeaseTtlMs: e.WATCHER_LEASE_TTL_MS,
    watcherMetricsPort: e.WATCHER_METRICS_PORT,
    failpointAfterBroadcastMs: e.FAILPOINT_AFTER_BROADCAST_MS,
    rpcUrls,
    feedConfirmations: e.FEED_CONFIRMATIONS,
    chainRail,
    warnings,
  };
}
