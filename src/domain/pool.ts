/** A coverage pool as the marketplace keeps it: its caps, tranches, accrual and adequacy. db/pool-store.ts persists it. */
import type { CapacityLimits } from './capacity.ts';
import type { AccrualState } from './premium-accrual.ts';
import type { CapitalShares } from './pricing.ts';
import type { TriggerState } from './trigger-engine.ts';

export type TrancheName = 'SENIOR' | 'JUNIOR' | 'FIRST_LOSS';

export interface PoolRecord {
  id: string;
  name: string;
  asset: string;
  decimals: number;
  curator: string;
  limits: CapacityLimits;
  cooldownSeconds: number;
  totalExposure: bigint;
  accrual: AccrualState;
  /** Premium weight per unit of capital, senior = 10000 (junior earns more). */
  juniorWeightBps: number;
  firstLossWeightBps: number;
  /**
   * The curator's fee on the pool's premium, in basis points (at most MAX_CURATOR_FEE_BPS), and
   * a raise waiting for its date (a raise waits one cooldown, so providers can leave first).
   */
  curatorFee: { bps: number; pending: { bps: number; at: number } | null };
  adequacy: {
    status: 'GREEN' | 'AMBER' | 'RED';
    var995: bigint;
    es99: bigint;
    at: number | null;
    /** Capital held per unit of exposure: each risk's (its share of ES 99%) and the book's (domain/pricing.ts capitalShare). */
    capital: CapitalShares;
  };
  createdAt: number;
}

export interface TrancheRecord {
  tranche: TrancheName;
  accountId: string;
  totalShares: bigint;
  /** The tranche's ledger balance (premium earned up to the last checkpoint). */
  balance: bigint;
}

export interface PoolRiskRecord {
  riskId: string;
  capBps: number;
  exposure: bigint;
  correlationGroup: string;
  state: TriggerState;
  /** An incident of this risk is confirmed and not yet fully settled. */
  settling: boolean;
  /** The annual rate the curator asks for this risk, in basis points of the cover amount; null: the model's price. */
  targetRateBps: number | null;
}

/** The highest curator fee on premium, in basis points: 20%, the ceiling Nexus Mutual's staking pools allow managers. */
export const MAX_CURATOR_FEE_BPS = 2_000;

/** The curator fee a sale at `at` is charged: a pending raise counts from its date. */
export function curatorFeeAt(pool: Pick<PoolRecord, 'curatorFee'>, at: number): number {
  const { bps, pending } = pool.curatorFee;
  return pending && pending.at <= at ? pending.bps : bps;
}
