import { ARMED, type Observation, stepTrigger } from './trigger-engine.ts';
import { DAY_MS, replayStarts } from './experience.ts';
import { distanceToThreshold } from './sale-window.ts';
import type { TriggerRule } from './trigger-rule.ts';

/**
 * The market as it is now (docs/pricing.md): how much likelier a trigger is within the
 * month after a sale at a given distance from the threshold than after a sale anywhere, read
 * off the shipped cross-section under the same rule. Distance is in units of the way from
 * the threshold to the calm value (sale-window.ts): below `band` nothing is sold, so those
 * starts are left out. Each bucket's rate is shrunk towards the overall rate with
 * `PSEUDO_STARTS` starts of it; the multiplier is never below 1 (the unconditional model is
 * what was validated, and nearness only adds to it) and never lower nearer the threshold.
 */
export const DISTANCE_BUCKETS: readonly number[] = [0.5, 0.75, 1];
const PSEUDO_STARTS = 60;
const HORIZON_DAYS = 30;

export interface DistanceTable {
  /** Upper edges of the buckets (the last one is open). */
  edges: readonly number[];
  /** The multiplier of each bucket (one more than the edges). */
  multipliers: number[];
  /** Sellable starts and those paid within the horizon, per bucket. */
  starts: number[];
  paid: number[];
}

export function fitDistanceTable(rule: TriggerRule, coins: ReadonlyArray<readonly Observation[]>, band: number): DistanceTable {
  const n = DISTANCE_BUCKETS.length + 1;
  const starts = new Array<number>(n).fill(0);
  const paid = new Array<number>(n).fill(0);
  for (const series of coins) {
    const outcomes = replayStarts(rule, series);
    series.forEach((o, s) => {
      if (stepTrigger(rule, ARMED, o).state.state !== 'ARMED') return;
      const z = distanceToThreshold(rule, o.value);
      if (z === null || z < band) return;
      const b = bucketOf(z);
      starts[b] = (starts[b] as number) + 1;
      const out = outcomes[s];
      if (out && out.ratio > 0 && (out.triggeredAt - o.at) / DAY_MS < HORIZON_DAYS) paid[b] = (paid[b] as number) + 1;
    });
  }
  const total = starts.reduce((a, b) => a + b, 0);
  const overall = total === 0 ? 0 : paid.reduce((a, b) => a + b, 0) / total;
  const multipliers = starts.map((count, b) => {
    if (overall === 0) return 1;
    const rate = ((paid[b] as number) + PSEUDO_STARTS * overall) / (count + PSEUDO_STARTS);
    return Math.max(1, rate / overall);
  });
  // Nearer never costs less than farther (a thin bucket's noise is not a discount).
  for (let b = multipliers.length - 2; b >= 0; b--) multipliers[b] = Math.max(multipliers[b] as number, multipliers[b + 1] as number);
  return { edges: DISTANCE_BUCKETS, multipliers, starts, paid };
}

export function bucketOf(z: number): number {
  const i = DISTANCE_BUCKETS.findIndex((edge) => z < edge);
  return i < 0 ? DISTANCE_BUCKETS.length : i;
}

/**
 * The expected loss of a term at a distance: the calm model's, plus the excess the distance
 * brings over the first month (a sale near the threshold is riskier for the weeks the price
 * takes to move away, not for ever): EL(T) + EL(min(T, 30)) x (m - 1).
 */
export function atDistance(expectedLoss: ArrayLike<number>, days: number, multiplier: number): number {
  const base = expectedLoss[days] ?? 0;
  return base + (expectedLoss[Math.min(days, HORIZON_DAYS)] ?? 0) * (multiplier - 1);
}
