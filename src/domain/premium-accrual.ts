import { WAD } from './money.ts';

/**
 * Linear earning of net premium over each policy's term, kept as per-pool aggregates so
 * that the cost of a checkpoint does not grow with the number of live policies.
 *
 * Each policy earns at `rateWad = floor(premium * 1e18 / durationMs)` per millisecond;
 * the rounding dust `premium * 1e18 - rateWad * durationMs` is released at its expiry, so
 * every policy earns exactly its premium over its life, never more, never sooner.
 *
 * @invariant Σ earned over a policy's life = its net premium, to the base unit.
 */
export interface AccrualState {
  /** Σ rateWad of policies still earning. */
  rateWad: bigint;
  /** Earned fraction (in wad) not yet moved out of the unearned-premium reserve. */
  carryWad: bigint;
  /** Time (ms) up to which premium has been accrued. */
  accruedAt: number;
}

export interface EarningPolicy {
  endAt: number;
  rateWad: bigint;
  dustWad: bigint;
}

export function policyEarning(premium: bigint, durationMs: number): { rateWad: bigint; dustWad: bigint } {
  const total = premium * WAD;
  const duration = BigInt(durationMs);
  const rateWad = total / duration;
  return { rateWad, dustWad: total - rateWad * duration };
}

/**
 * Advances the accrual to `now`. `expiring` are the policies whose term ends in
 * (state.accruedAt, now], in order of end time. Returns the new state and the whole base
 * units earned, which the caller moves from the reserve to the pool.
 */
export function accruePremium(
  state: AccrualState,
  expiring: readonly EarningPolicy[],
  now: number,
): { state: AccrualState; earned: bigint } {
  if (now <= state.accruedAt) return { state, earned: 0n };
  let rate = state.rateWad;
  let acc = state.carryWad;
  let t = state.accruedAt;
  for (const policy of expiring) {
    const end = Math.min(Math.max(policy.endAt, t), now);
    acc += rate * BigInt(end - t);
    t = end;
    acc += policy.dustWad;
    rate -= policy.rateWad;
  }
  acc += rate * BigInt(now - t);
  return {
    state: { rateWad: rate, carryWad: acc % WAD, accruedAt: now },
    earned: acc / WAD,
  };
}
