/** What cover is: a quote as priced and stored, and the policy it became. The stores (db/cover-store.ts) persist these; the use cases and transports pass them on. */
import type { PremiumBreakdown } from './pricing.ts';
import type { ModelExplanation, StoredExplanation } from './loss-model.ts';

/**
 * A quote's breakdown as stored with it. Quotes priced before the loss model (model
 * el-2026.11) carry the rate-curve fields of their time instead of the model's terms.
 */
export type StoredBreakdown = Omit<PremiumBreakdown, 'premium' | 'fee' | 'total' | 'capitalShare'> &
  Partial<ModelExplanation> & {
    /** Absent before the capital load priced from the pool's simulated ES 99% (model el-2026.12). */
    capitalShare?: string;
    score: string;
    bindingCap: string;
    poolSelection: string;
    /** Where the asset traded when priced (sale-window.ts's distance) and what that multiplied the near-term expected loss by; absent before. */
    marketDistance?: string | null | undefined;
    marketMultiplier?: string | undefined;
    marketMotion?: 'ARRIVED' | 'STAYED' | null | undefined;
    /** A bundle's: the capital its items hold together over what they hold apart (app/bundle-capital.ts). */
    capitalTogether?: string | undefined;
    /** The model explanation's row in model_explanations: its terms are stored there once, not in each quote (absent before). */
    explanationId?: string | undefined;
    /**
     * Set on a quote whose row a purchase wrote from its signed offer, because the process that
     * priced it stopped before writing it: the breakdown is then the purchase's own pricing.
     */
    recoveredFromOffer?: true;
  };

/** Who sold the cover for a commission (issue 72): paid by the buyer on top of premium and fee, to the distributor's wallet. */
export interface Distributor {
  /** Checksummed address. */
  address: string;
  /** Basis points of the premium. */
  commissionBps: number;
}

/** A distributor's commission on a premium: its basis points of it, rounded down (in the buyer's favour). */
export const commissionOf = (premium: bigint, distributor: Distributor | null | undefined): bigint =>
  distributor ? (premium * BigInt(distributor.commissionBps)) / 10_000n : 0n;

/**
 * One pool's part of a cover on one risk (issue 72): a routed cover is written by several pools
 * on its risk, a bundle over several risks; each part lives in its pool as a policy row of its own.
 */
export interface CoverAllocation {
  poolId: string;
  riskId: string;
  amount: bigint;
  exposure: bigint;
  premium: bigint;
  fee: bigint;
  /** A bundle's part: what the items hold together over apart (app/bundle-capital.ts), by which its capital share is multiplied; absent: 1. */
  capitalFactor?: string;
}

export interface QuoteRecord {
  id: string;
  riskId: string;
  poolId: string;
  requester: string | null;
  amount: bigint;
  durationDays: number;
  exposure: bigint;
  premium: bigint;
  fee: bigint;
  /**
   * The breakdown as stored: a quote just priced by the loss model names the model's terms
   * (explanationId) and carries them apart in `explanation`, to store them once
   * (model_explanations); a quote read back has them put in. `shownBreakdown` is the whole.
   */
  breakdown: StoredBreakdown;
  explanation?: StoredExplanation | undefined;
  createdAt: number;
  expiresAt: number;
  /** The distributor that sold it, and its commission on the premium; none when absent. */
  distributor?: Distributor | null | undefined;
  /**
   * Its parts where more than one pool or risk writes it, the first (the cheapest pool) being
   * `poolId`'s; absent for a cover one pool writes on one risk (then its one part is the quote).
   * The quote's amount, exposure, premium and fee are their sums.
   */
  allocations?: readonly CoverAllocation[] | undefined;
}

/** A part as the API shows it: a policy's carries the id of its row (its payout's), a quote's none. */
export type AllocationView = CoverAllocation & { id?: string };

/** A quote's parts: its allocations, or the quote itself as its one part. */
export const allocationsOf = (q: Pick<QuoteRecord, 'allocations' | 'poolId' | 'riskId' | 'amount' | 'exposure' | 'premium' | 'fee'>) =>
  q.allocations ?? [{ poolId: q.poolId, riskId: q.riskId, amount: q.amount, exposure: q.exposure, premium: q.premium, fee: q.fee }];

const shown = new WeakMap<QuoteRecord, StoredBreakdown>();

/** A quote's whole breakdown, the model's terms it names included, as the API shows it (once per quote). */
export function shownBreakdown(q: QuoteRecord): StoredBreakdown {
  if (!q.explanation) return q.breakdown;
  let whole = shown.get(q);
  if (!whole) shown.set(q, (whole = { ...q.breakdown, ...q.explanation.terms }));
  return whole;
}

export interface PolicyRecord {
  id: string;
  quoteId: string;
  buyer: string;
  riskId: string;
  poolId: string;
  amount: bigint;
  exposure: bigint;
  premium: bigint;
  fee: bigint;
  /** Part of the premium skimmed to the backstop, and repaying the pool's draws. */
  skim: bigint;
  repayment: bigint;
  earningRateWad: bigint;
  earningDustWad: bigint;
  startAt: number;
  /** When its cover starts: incidents that trigger from then on pay it (its start plus the waiting period). */
  coveredFrom: number;
  endAt: number;
  status: 'ACTIVE' | 'EXPIRED' | 'PAID';
  createdAt: number;
  /** Who holds it now: the buyer until a transfer. A payout goes to the holder at the incident's confirmation. */
  holder: string;
  /** How many times it changed hands: the nonce its next transfer signs. */
  transfers: number;
  /** Whether its ERC-721 token's mint is on chain past its confirmations (chain settlement with a policy token). */
  minted?: boolean;
  /** The curator's fee taken from the pool's part of the premium at the sale (the pool earns premium - skim - repayment - this). */
  curatorFee?: bigint;
  /** The policy this one renews (its cover starts where that one's ends). */
  renews?: string | null;
  /** The policy that renews this one. */
  renewedBy?: string | null;
  /**
   * Its parts (issue 72), the lead's first: one for a cover one pool writes on one risk. The
   * policy's amount, exposure, premium, fee and curator fee are their sums; it is PAID once a
   * part is paid and none is still in force unpaid, ACTIVE while one is.
   */
  allocations?: readonly PolicyAllocation[];
}

/**
 * A policy's parts past the first are rows of their own, `<policy id>.<n>` (n from 1): a part's
 * id names the policy it belongs to, so a payout of a part is shown as the policy's.
 */
export const legIdOf = (policyId: string, n: number): string => `${policyId}.${n}`;

/** The policy a part's row belongs to: the id before the dot (a policy's own row is its id). */
export function policyIdOfPart(partId: string): string {
  const dot = partId.indexOf('.');
  return dot < 0 ? partId : partId.slice(0, dot);
}

/** A policy's part in one pool on one risk, as read: its row's figures and whether it was paid. */
export interface PolicyAllocation extends CoverAllocation {
  id: string;
  status: 'ACTIVE' | 'EXPIRED' | 'PAID';
}

/** A quote with the policy it became (null while it is not bought). */
export type QuoteWithPolicy = QuoteRecord & { policyId: string | null };

/**
 * A policy as its holder sees it, from its lead row and its parts (the lead's first): the lead's
 * terms, its figures summed over the parts, and its status: ACTIVE while a part is, else PAID if a
 * part was paid, else EXPIRED.
 */
export function policyOfParts(lead: PolicyRecord, parts: ReadonlyArray<PolicyAllocation & { curatorFee: bigint }>): PolicyRecord {
  const sum = (f: (a: PolicyAllocation & { curatorFee: bigint }) => bigint) => parts.reduce((s, a) => s + f(a), 0n);
  const status = parts.some((a) => a.status === 'ACTIVE') ? 'ACTIVE' : parts.some((a) => a.status === 'PAID') ? 'PAID' : 'EXPIRED';
  return {
    ...lead,
    amount: sum((a) => a.amount),
    exposure: sum((a) => a.exposure),
    premium: sum((a) => a.premium),
    fee: sum((a) => a.fee),
    curatorFee: sum((a) => a.curatorFee),
    status,
    allocations: parts.map(({ id, poolId, riskId, amount, exposure, premium, fee, status }) => ({
      id,
      poolId,
      riskId,
      amount,
      exposure,
      premium,
      fee,
      status,
    })),
  };
}
