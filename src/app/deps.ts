import type { Database, Executor } from '../db/create-database.ts';

/** What a quote reads of its market: the risk and every pool backing it, at one instant. */
export interface MarketRead {
  risk: RiskRecord;
  /** Every pool backing the risk, oldest first (so price ties go to the older pool). */
  snapshots: PoolSnapshot[];
  at: number;
}

/**
 * The quote's hot path as a service: concurrent quotes of a risk share one market read (see
 * createCoalescer), and firm quotes are stored together, riding along the next read when one
 * is due (createQuotePaths). One per process and database, built by wireDeps.
 */
export interface QuotePaths {
  read(riskId: string): Promise<MarketRead>;
  /**
   * Records a priced quote: its row is written behind the answer (its id is the signed offer
   * it promises, app/quote-offers.ts). Resolves once the model explanation it names is stored.
   */
  record(quote: QuoteRecord): Promise<void>;
  /** Resolves once every quote recorded so far has been written (or failed to be): a history read after its caller's quotes, shutdown. */
  settled(): Promise<void>;
}

export type { Database };
import type { CapacityLimits } from '../domain/capacity.ts';
import type { PricingParams } from '../domain/pricing.ts';
import type { SkimPolicy } from '../domain/backstop.ts';
import type { BackstopLimits } from '../domain/waterfall.ts';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';
import type { CpuWorker } from './cpu-worker.ts';
import type { TreasuryGateway } from '../chain/treasury.ts';
import type { PolicyTokenGateway } from '../chain/policy-token.ts';
import type { PositionTokenGateway } from '../chain/position-token.ts';
import type { AdequacyKey, AdequacyReport } from '../domain/adequacy.ts';
import type { QuoteRecord } from '../domain/cover.ts';
import type { PoolSnapshot } from '../db/pool-snapshots.ts';
import type { RiskRecord } from '../domain/risk.ts';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface AppConfig {
  production: boolean;
  jwt: {
    secret: string;
    /** Accepted for verification only, during a key rotation. */
    previousSecret: string | undefined;
    ttlSeconds: number;
    issuer: string;
    audience: string;
  };
  siwe: {
    /** Hosts (host[:port]) a sign-in message may name; its URI must be on the same host. */
    domains: readonly string[];
    /** Chain ids a sign-in message may name. */
    chainIds: readonly number[];
    /** How long a sign-in nonce (and the message naming it) stays valid: long enough for a multisig to collect its signatures. */
    nonceTtlSeconds: number;
    /** RPC URLs by chain id, to ask a contract wallet (ERC-1271, ERC-6492) on the chain its message names. */
    rpcUrls: ReadonlyMap<number, string>;
    /** Allowed clock difference for issued-at and token times. */
    clockSkewSeconds: number;
    /** Unused, unexpired nonces one client may hold at once. */
    maxOpenNonces: number;
  };
  /** How long a request waits for a chain read (a contract wallet's check, the reserves) before UNAVAILABLE. */
  chainReadTimeoutMs: number;
  /** Days a feed's observations are kept raw; older months keep each hour's low, high and last (OBSERVATION_RAW_DAYS). */
  observationRawDays: number;
  /** Hosts HTTP feeds may reach although they are internal (private, loopback, link-local). */
  httpFeedAllowedHosts: readonly string[];
  /**
   * Where webhooks may go: `guarded` (every NODE_ENV but development and test, and unset: a
   * laptop) keeps them to https and public addresses, checked again after DNS, except the hosts
   * `allowedHosts` names (WEBHOOK_ALLOWED_HOSTS, empty by default: feeds' hosts are not theirs).
   */
  webhooks: { guarded: boolean; allowedHosts: readonly string[] };
  /** Checksummed addresses with the admin role. */
  admins: readonly string[];
  pricing: PricingParams;
  /** Minimum premium in whole units of the pool's asset (decimal string). */
  minPremium: string;
  /** The least cover a quote is given for, in whole units of the pool's asset (decimal string). */
  minCover: string;
  /** The most a distributor's commission may be, in basis points of the premium (issue 72). */
  maxCommissionBps: number;
  defaultCooldownSeconds: number;
  defaultLimits: CapacityLimits;
  solvency: SolvencyConfig;
  /** The money rail: the ledger alone, or a chain's treasury (SETTLEMENT=ledger|chain). */
  rail: MoneyRail;
}

/**
 * The money rail: how money enters and leaves (docs/design.md §10). `ledger`: an admin
 * credits wallets and nothing leaves. `chain`: deposits into the treasury contract credit
 * wallets, withdrawals and payouts leave as on-chain transfers. (Its variable and the API's
 * query keep their first name, SETTLEMENT and `settlement`, for the operators and
 * integrators who use them; in the code "settlement" means settling an incident only.)
 */
export type MoneyRail =
  | { mode: 'ledger' }
  | {
      mode: 'chain';
      chainId: number;
      /** The ledger asset the rail's token carries (e.g. USDC). */
      asset: string;
      token: string;
      treasury: string;
      /** The policy token (ERC-721): policies are minted to their buyers and move with the token (docs/design.md §6). */
      policyToken?: string;
      /** The position token (ERC-1155): pool shares issued as tokens and redeemed back (docs/design.md §7). */
      positionToken?: string;
      /** Blocks (the including block counts as one) before a deposit is credited or a batch is confirmed. */
      confirmations: number;
      /** The block the treasury was deployed at: where the deposit indexer starts. */
      startBlock: bigint;
      /** Most transfers in one `pay` batch. */
      batchSize: number;
      /** A sent batch not mined after this long is sent again with higher fees (same nonce). */
      resendAfterMs: number;
      /** Batches in flight at once, sent on consecutive nonces without waiting for the one before (default 8). */
      pipeline?: number;
      /**
       * A reserve check older than this is unknown: sales are refused (RESERVES_UNKNOWN) and
       * /readyz is not ready until the treasury is reconciled again (default 60 s).
       */
      reserveMaxAgeMs?: number;
      /** The smallest withdrawal, in whole units of the asset (default "10"). */
      minWithdrawal?: string;
      /** Withdrawals one account may have queued or in flight at once (default 5). */
      maxQueuedWithdrawals?: number;
    };

export interface SolvencyConfig {
  skim: SkimPolicy;
  backstopLimits: BackstopLimits;
  /** Monte Carlo of one-year losses: paths, published seed and copula correlations. */
  simulation: { paths: number; seed: number; withinGroup: number; acrossGroups: number };
}

/** The ports: what the process provides, opened once in `bin/` (or a test's harness). */
export interface Ports {
  db: Database;
  clock: Clock;
  config: AppConfig;
  log: Logger;
  metrics: Metrics;
  /** Where loss simulations run (a worker thread in the servers); in the caller's thread if unset. */
  cpu?: CpuWorker;
  /** The treasury contract (chain settlement): reads in every process, `pay` where the operator key is. */
  treasury?: TreasuryGateway;
  /** The policy token contract (chain settlement with POLICY_TOKEN_ADDRESS): reads in every process, `mint` where the minter key is. */
  policyToken?: PolicyTokenGateway;
  /** The position token contract (chain settlement with POSITION_TOKEN_ADDRESS): reads in every process, `issue` where the minter key is. */
  positionToken?: PositionTokenGateway;
  /**
   * Set by the watcher for its work as leader: checks, inside a write's transaction, that the
   * lease is still this process's at the epoch it took it with, and throws LeaseLostError
   * otherwise (app/lease.ts, fencedTransaction).
   */
  fence?: (tx: Executor) => Promise<void>;
  /**
   * Set by the watcher too: whether its last heartbeat found the lease its own. Long leader
   * work (the chain sync's steps, the indexers' block ranges) stops between RPC calls once it
   * is false (app/lease.ts, stillLeading), so a leader paused past its lease stops working a
   * chain another leads as soon as it wakes; the fence still guards every write.
   */
  leading?: () => boolean;
}

/**
 * What every use case receives: the ports, and the services that keep per-process state on
 * top of them (request coalescing). Built by `wireDeps` (app/wire.ts): a copy of a Deps
 * with another database must be wired again, or its services would still use the old one.
 */
export interface Deps extends Ports {
  /** Concurrent quotes share their market reads and quote writes (app/quote-paths.ts). */
  quotePaths: QuotePaths;
  /** A scope's first adequacy report, computed once however many ask at the same time. */
  firstAdequacy(key: AdequacyKey): Promise<AdequacyReport>;
}
