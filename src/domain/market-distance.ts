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

/**
 * How the value came to where it trades: `STAYED` within ARRIVAL_DROP of where it was a week
 * before (or nearer the calm value), `ARRIVED` having fallen more than that towards the
 * threshold during the week. Out of sample, at one distance, a coin that has sat near the
 * threshold for a week triggers within a month about twice as often as one that just got
 * there (a spike mostly reverts; a slide mostly continues): docs/pricing.md.
 */
export type Motion = 'ARRIVED' | 'STAYED';
export const MOTIONS: readonly Motion[] = ['ARRIVED', 'STAYED'];
export const ARRIVAL_DAYS = 7;
export const ARRIVAL_DROP = 0.1;

/** The motion of a value against the value ARRIVAL_DAYS before, or null when either is unknown or off the scale. */
export function motionOf(rule: TriggerRule, value: string, weekAgo: string | undefined): Motion | null {
  if (weekAgo === undefined) return null;
  const z = distanceToThreshold(rule, value);
  const before = distanceToThreshold(rule, weekAgo);
  if (z === null || before === null) return null;
  return z - before < -ARRIVAL_DROP ? 'ARRIVED' : 'STAYED';
}

/** The last value of `series` (ascending by time) at or before `at`, among its first `end`, or undefined. */
export function valueAt(series: readonly Observation[], at: number, end = series.length): string | undefined {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((series[mid] as Observation).at <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : (series[lo - 1] as Observation).value;
}

export interface DistanceTable {
  /** Upper edges of the buckets (the last one is open). */
  edges: readonly number[];
  /** The multiplier of each bucket (one more than the edges), whatever the motion. */
  multipliers: number[];
  /** The multiplier of each bucket by the value's motion over the week before. */
  byMotion: Record<Motion, number[]>;
  /** Sellable starts and those paid within the horizon, per bucket. */
  starts: number[];
  paid: number[];
}

export function fitDistanceTable(rule: TriggerRule, coins: ReadonlyArray<readonly Observation[]>, band: number): DistanceTable {
  const n = DISTANCE_BUCKETS.length + 1;
  const starts = new Array<number>(n).fill(0);
  const paid = new Array<number>(n).fill(0);
  const cells = Object.fromEntries(
    MOTIONS.map((m) => [m, { starts: new Array<number>(n).fill(0), paid: new Array<number>(n).fill(0) }]),
  ) as Record<Motion, { starts: number[]; paid: number[] }>;
  for (const series of coins) {
    const outcomes = replayStarts(rule, series);
    series.forEach((o, s) => {
      if (stepTrigger(rule, ARMED, o).state.state !== 'ARMED') return;
      const z = distanceToThreshold(rule, o.value);
      if (z === null || z < band) return;
      const b = bucketOf(z);
      const out = outcomes[s];
      const hit = out && out.ratio > 0 && (out.triggeredAt - o.at) / DAY_MS < HORIZON_DAYS ? 1 : 0;
      starts[b] = (starts[b] as number) + 1;
      paid[b] = (paid[b] as number) + hit;
      const motion = motionOf(rule, o.value, valueAt(series, o.at - ARRIVAL_DAYS * DAY_MS, s));
      if (motion) {
        const cell = cells[motion];
        cell.starts[b] = (cell.starts[b] as number) + 1;
        cell.paid[b] = (cell.paid[b] as number) + hit;
      }
    });
  }
  const total = starts.reduce((a, b) => a + b, 0);
  const overall = total === 0 ? 0 : paid.reduce((a, b) => a + b, 0) / total;
  // Each bucket's rate shrunk towards the overall rate, and each cell's towards its bucket's.
  const bucketRates = starts.map((count, b) => ((paid[b] as number) + PSEUDO_STARTS * overall) / (count + PSEUDO_STARTS));
  const toMultipliers = (rates: number[]) => {
    const m = rates.map((rate) => (overall === 0 ? 1 : Math.max(1, rate / overall)));
    // Nearer never costs less than farther (a thin bucket's noise is not a discount).
    for (let b = m.length - 2; b >= 0; b--) m[b] = Math.max(m[b] as number, m[b + 1] as number);
    return m;
  };
  const byMotion = Object.fromEntries(
    MOTIONS.map((motion) => {
      const c = cells[motion];
      const rates = c.starts.map(
        (count, b) => ((c.paid[b] as number) + PSEUDO_STARTS * (bucketRates[b] as number)) / (count + PSEUDO_STARTS),
      );
      return [motion, toMultipliers(rates)];
    }),
  ) as Record<Motion, number[]>;
  return { edges: DISTANCE_BUCKETS, multipliers: toMultipliers(bucketRates), byMotion, starts, paid };
}

/** A distance's multiplier, by the value's motion where it is known, else the bucket's. */
export function multiplierAt(table: DistanceTable, distance: number, motion: Motion | null): number {
  const b = bucketOf(distance);
  return (motion ? table.byMotion[motion][b] : table.multipliers[b]) ?? 1;
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
