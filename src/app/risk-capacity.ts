import { type CapName, checkCapacity, coverFitting, policyExposure, roomLeft } from '../domain/capacity.ts';
import { Decimal } from '../domain/decimal.ts';
import { validateTerm } from '../domain/pricing.ts';
import type { Deps } from './deps.ts';
import { exposureFor } from '../db/pool-snapshots.ts';
import { lossOver, lossRefusal, priceIn, stateRefusal } from './sale-terms.ts';

/** One backing pool's room for more cover on a risk: at each cap, and for one policy. */
export interface PoolCapacity {
  poolId: string;
  /** Exposure room left under each cap (capital x cap, less what is in force). */
  riskCapLeft: bigint;
  groupCapLeft: bigint;
  totalCapLeft: bigint;
  /** The cap with the least room. */
  bindingCap: CapName;
  /** The largest cover one policy may buy here: the least room, over the risk's payout ratio. */
  coverLeft: bigint;
  /** The annual rate (premium per unit of cover a year, before the fee and the minimum premium) of a small cover, and of one that fills the room. */
  minAnnualRate: string | null;
  maxAnnualRate: string | null;
}

export interface RiskCapacity {
  riskId: string;
  durationDays: number;
  /** Whether cover on the risk is sold now; if not, why (`reason`): its trigger's state, its value past the threshold, a run-class design's threshold tested within a year, or its expected loss above the ceiling. */
  salesOpen: boolean;
  reason: string | null;
  /** When sales reopen, where a date is known (a cool-off, a run-class coin's year). */
  reopensAt: number | null;
  /** The largest single policy the pools write now: routed across them (issue 72), what they hold together. */
  coverLeft: bigint;
  /** Summed over the backing pools. */
  totalCoverLeft: bigint;
  minAnnualRate: string | null;
  maxAnnualRate: string | null;
  pools: PoolCapacity[];
}

/**
 * Capacity and the price range for a term, per risk, as Nexus's cover-router answers them:
 * the cover each backing pool can still write (the room at its risk, group and total caps),
 * the largest single policy and the sum, and the annual rates from a small cover at today's
 * utilisation to one that fills a pool. Nothing is stored; a risk whose sales are closed
 * answers with the reason and the room as it stands.
 */
export async function riskCapacity(deps: Deps, riskId: string, durationDays: number): Promise<RiskCapacity> {
  validateTerm(durationDays, deps.config.pricing);
  const { risk, snapshots, at } = await deps.quotePaths.read(riskId);
  const priced = await lossOver(deps, risk, durationDays);
  // The same refusals a quote would meet, in its words.
  const refusal = stateRefusal(deps, risk, at) ?? lossRefusal(deps, risk, priced, durationDays);
  const reopens = refusal?.details?.reopensAt;
  const pools: PoolCapacity[] = [];
  for (const snap of snapshots) {
    const e = exposureFor(snap, riskId);
    if (!e) continue;
    const left = roomLeft(e.snapshot, e.limits);
    const binding = left.binding;
    const coverLeft = coverFitting(left[binding], risk.maxPayoutRatio);
    const rateAt = (amount: bigint) => {
      if (amount <= 0n) return null;
      const check = checkCapacity(e.snapshot, e.limits, policyExposure(amount, risk.maxPayoutRatio));
      return priceIn(deps, {
        risk,
        pool: snap.pool,
        loss: priced.loss,
        check,
        amount,
        durationDays,
        minPremium: 0n,
        targetRateBps: e.targetRateBps,
      }).annualRate;
    };
    const small = 10n ** BigInt(snap.pool.decimals);
    pools.push({
      poolId: snap.pool.id,
      riskCapLeft: left.risk,
      groupCapLeft: left.group,
      totalCapLeft: left.total,
      bindingCap: binding,
      coverLeft,
      minAnnualRate: rateAt(coverLeft < small ? coverLeft : small),
      maxAnnualRate: rateAt(coverLeft),
    });
  }
  const rates = (pick: (p: PoolCapacity) => string | null) =>
    pools
      .map(pick)
      .filter((r): r is string => r !== null)
      .map((r) => new Decimal(r));
  const mins = rates((p) => p.minAnnualRate);
  const maxes = rates((p) => p.maxAnnualRate);
  const totalCoverLeft = pools.reduce((sum, p) => sum + p.coverLeft, 0n);
  return {
    riskId,
    durationDays,
    salesOpen: refusal === null,
    reason: refusal?.message ?? null,
    reopensAt: typeof reopens === 'string' ? Date.parse(reopens) : null,
    coverLeft: totalCoverLeft,
    totalCoverLeft,
    minAnnualRate: mins.length > 0 ? Decimal.min(...mins).toString() : null,
    maxAnnualRate: maxes.length > 0 ? Decimal.max(...maxes).toString() : null,
    pools,
  };
}
