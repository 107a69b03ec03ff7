import type { Database } from '../db/create-database.ts';
import type { CapacityLimits } from '../domain/capacity.ts';
import type { PricingParams } from '../domain/pricing.ts';
import type { Logger } from 'pino';

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
  siwe: { domain: string; nonceTtlSeconds: number };
  /** Checksummed addresses with the admin role. */
  admins: readonly string[];
  pricing: PricingParams;
  /** Minimum premium in whole units of the pool's asset (decimal string). */
  minPremium: string;
  defaultCooldownSeconds: number;
  defaultLimits: CapacityLimits;
}

/** What every use case receives: the ports, wired once in `bin/`. */
export interface Deps {
  db: Database;
  clock: Clock;
  config: AppConfig;
  log: Logger;
}
