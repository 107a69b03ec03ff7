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
}

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
}

/** A quote with the policy it became (null while it is not bought). */
export type QuoteWithPolicy = QuoteRecord & { policyId: string | null };
