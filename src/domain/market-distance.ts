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
  /**
   * The month's expected loss at each bucket (a share of the amount paid within HORIZON_DAYS
   * of a sale there, across the cross-section), whatever the motion; 0 where nearness adds
   * nothing (multiplier 1). Near the threshold the market's state, not the coin's calm
   * history, says how likely a trigger is: a calm coin that trades there is priced at least
   * at what such sales cost (`atDistance`).
   */
  floors: number[];
  /** The same by the value's motion over the week before. */
  floorsByMotion: Record<Motion, number[]>;
  /** Sellable starts and those paid within the horizon, per bucket. */
  starts: number[];
  paid: number[];
}

export function fitDistanceTable(rule: TriggerRule, coins: ReadonlyArray<readonly Observation[]>, band: number): DistanceTable {
  const n = DISTANCE_BUCKETS.length + 1;
  const zeros = () => new Array<number>(n).fill(0);
  const starts = zeros();
  const paid = zeros();
  const share = zeros();
  const cells = Object.fromEntries(MOTIONS.map((m) => [m, { starts: zeros(), paid: zeros(), share: zeros() }])) as Record<
    Motion,
    { starts: number[]; paid: number[]; share: number[] }
  >;
  const add = (counts: { starts: number[]; paid: number[]; share: number[] }, b: number, ratio: number) => {
    counts.starts[b] = (counts.starts[b] as number) + 1;
    counts.paid[b] = (counts.paid[b] as number) + (ratio > 0 ? 1 : 0);
    counts.share[b] = (counts.share[b] as number) + ratio;
  };
  for (const series of coins) {
    const outcomes = replayStarts(rule, series);
    series.forEach((o, s) => {
      if (stepTrigger(rule, ARMED, o).state.state !== 'ARMED') return;
      const z = distanceToThreshold(rule, o.value);
      if (z === null || z < band) return;
      const b = bucketOf(z);
      const out = outcomes[s];
      const ratio = out && out.ratio > 0 && (out.triggeredAt - o.at) / DAY_MS < HORIZON_DAYS ? out.ratio : 0;
      add({ starts, paid, share }, b, ratio);
      const motion = motionOf(rule, o.value, valueAt(series, o.at - ARRIVAL_DAYS * DAY_MS, s));
      if (motion) add(cells[motion], b, ratio);
    });
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const total = sum(starts);
  const overall = total === 0 ? 0 : sum(paid) / total;
  const overallShare = total === 0 ? 0 : sum(share) / total;
  // Each bucket's rate (and month's loss) shrunk towards the overall one, and each cell's towards its bucket's.
  const shrink = (count: number, x: number, towards: number) => (x + PSEUDO_STARTS * towards) / (count + PSEUDO_STARTS);
  const bucketRates = starts.map((count, b) => shrink(count, paid[b] as number, overall));
  const bucketShares = starts.map((count, b) => shrink(count, share[b] as number, overallShare));
  // Nearer never costs less than farther (a thin bucket's noise is not a discount).
  const monotone = (m: number[]) => {
    for (let b = m.length - 2; b >= 0; b--) m[b] = Math.max(m[b] as number, m[b + 1] as number);
    return m;
  };
  const toMultipliers = (rates: number[]) => monotone(rates.map((rate) => (overall === 0 ? 1 : Math.max(1, rate / overall))));
  const toFloors = (shares: number[], multipliers: number[]) => monotone(shares.map((x, b) => ((multipliers[b] as number) > 1 ? x : 0)));
  const multipliers = toMultipliers(bucketRates);
  const byMotion = {} as Record<Motion, number[]>;
  const floorsByMotion = {} as Record<Motion, number[]>;
  for (const motion of MOTIONS) {
    const c = cells[motion];
    byMotion[motion] = toMultipliers(c.starts.map((count, b) => shrink(count, c.paid[b] as number, bucketRates[b] as number)));
    floorsByMotion[motion] = toFloors(
      c.starts.map((count, b) => shrink(count, c.share[b] as number, bucketShares[b] as number)),
      byMotion[motion],
    );
  }
  return { edges: DISTANCE_BUCKETS, multipliers, byMotion, floors: toFloors(bucketShares, multipliers), floorsByMotion, starts, paid };
}

/** A distance's multiplier and month's loss floor, by the value's motion where it is known, else the bucket's. */
export function multiplierAt(table: DistanceTable, distance: number, motion: Motion | null): { multiplier: number; floor: number } {
  const b = bucketOf(distance);
  return {
    multiplier: (motion ? table.byMotion[motion][b] : table.multipliers[b]) ?? 1,
    floor: (motion ? table.floorsByMotion[motion][b] : table.floors[b]) ?? 0,
  };
}

export function bucketOf(z: number): number {
  const i = DISTANCE_BUCKETS.findIndex((edge) => z < edge);
  return i < 0 ? DISTANCE_BUCKETS.length : i;
}

/**
 * The expected loss of a term at a distance: the calm model's, plus the excess the distance
 * brings over the first month (a sale near the threshold is riskier for the weeks the price
 * takes to move away, not for ever): EL(T) + EL(min(T, 30)) x (m - 1), and that first month
 * at least the `floor` (the cross-section's month's loss at that distance, pro rata for a
 * shorter term): a coin with a calm history that trades near the threshold is as likely to
 * cross it as the coins that traded there were.
 */
export function atDistance(expectedLoss: ArrayLike<number>, days: number, multiplier: number, floor = 0): number {
  const base = expectedLoss[days] ?? 0;
  const month = Math.min(days, HORIZON_DAYS);
  const calm = expectedLoss[month] ?? 0;
  return base + Math.max(calm * (multiplier - 1), (floor * month) / HORIZON_DAYS - calm, 0);
}
