import { ARMED, type EngineState, type Observation, aggregate, isRecovered, stepTrigger } from './trigger-engine.ts';
import { payoutRatio } from './payout.ts';
import type { TriggerRule } from './trigger-rule.ts';

/**
 * A risk's experience (docs/pricing.md): its feeds' history on a daily grid, replayed through
 * the trigger engine the watcher runs, so that the rule (threshold, direction, window,
 * recovery), the payout (type, cap, peg) and the term all move the expected loss.
 */
export const DAY_MS = 86_400_000;

/** One feed's history: observations in time order. */
export interface FeedSeries {
  feedId: string;
  points: ReadonlyArray<{ at: number; value: string }>;
}

/**
 * The daily series the trigger would have seen: per UTC day each feed's last value (its
 * close), aggregated across the feeds that reported that day as the trigger aggregates them
 * (the median, ties on the side of no trigger), stamped at the day's start. Daily closes miss
 * intraday depegs: a known weakness, stated in docs/pricing.md.
 */
export function dailyExperience(feeds: readonly FeedSeries[], direction: TriggerRule['direction']): Observation[] {
  const byDay = new Map<number, Map<string, string>>();
  for (const feed of feeds) {
    for (const p of feed.points) {
      const day = Math.floor(p.at / DAY_MS);
      let closes = byDay.get(day);
      if (!closes) byDay.set(day, (closes = new Map()));
      closes.set(feed.feedId, p.value); // points are in time order: the last one of the day stays
    }
  }
  return [...byDay.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([day, closes]) => ({ at: day * DAY_MS, value: aggregate([...closes.values()], direction) }));
}

/** What a policy that starts (ARMED) at an observation would be paid first, and when. */
export interface StartOutcome {
  /** Time of the observation that triggered the first incident confirmed after the start. */
  triggeredAt: number;
  confirmedAt: number;
  /** Payout ratio of that incident, in [0, 1]. */
  ratio: number;
}

/**
 * For every start in the series, the first incident the engine confirms from ARMED at that
 * start, or null when none is confirmed before the series ends. Engines started at different
 * times agree from the first time both are ARMED, so outcomes are worked out backwards and
 * shared: every step is the engine's own `stepTrigger`, and the cost is the series' length
 * plus the length of its triggered stretches.
 */
export function replayStarts(rule: TriggerRule, series: readonly Observation[]): Array<StartOutcome | null> {
  const n = series.length;
  const out: Array<StartOutcome | null> = new Array(n + 1).fill(null);
  for (let t = n - 1; t >= 0; t--) {
    let step = stepTrigger(rule, ARMED, series[t] as Observation);
    if (step.state.state === 'ARMED') {
      out[t] = out[t + 1] ?? null;
      continue;
    }
    let state: EngineState = step.state;
    let j = t;
    while (state.state === 'TRIGGERED' && j + 1 < n) {
      j++;
      step = stepTrigger(rule, state, series[j] as Observation);
      state = step.state;
    }
    if (state.state === 'CONFIRMED') {
      out[t] = {
        triggeredAt: state.triggeredAt as number,
        confirmedAt: (series[j] as Observation).at,
        ratio: Number(payoutRatio(rule, state.settlementValue as string)),
      };
    } else if (state.state === 'ARMED') {
      out[t] = out[j + 1] ?? null; // recovered at j: ARMED again from the next observation
    } else {
      out[t] = null; // still triggered when the series ends
    }
  }
  out.length = n;
  return out;
}

/** Confirmed incidents of a continuous replay: after a confirmation the rule re-arms at the first recovered value. */
export function incidents(rule: TriggerRule, series: readonly Observation[], starts: ReadonlyArray<StartOutcome | null>): StartOutcome[] {
  const found: StartOutcome[] = [];
  let i = 0;
  while (i < series.length) {
    const next = starts[i];
    if (!next) break;
    found.push(next);
    // Re-armed at the first recovered value after the confirmation; the next incident is that start's.
    const j = series.findIndex((o) => o.at > next.confirmedAt && isRecovered(rule, o.value));
    if (j < 0) break;
    i = j;
  }
  return found;
}

export interface ExperienceSummary {
  /** Days the series spans (first to last observation, inclusive). */
  days: number;
  /** Observations in the series. */
  points: number;
  firstAt: number | null;
  lastAt: number | null;
  /** Paying incidents the rule confirmed over the series (re-arming after recovery). */
  incidents: number;
  /**
   * Burning cost per unit of cover for terms of 0..365 days: the mean payout over every start
   * of the experience, the larger of two readings (starts whose whole term is observed; every
   * start, a term cut short by the end of the data paying only what was seen).
   */
  burningCost: Float64Array;
  /** Share of sellable starts paid within 30 days, and the annual hazard it implies: -ln(1-p) x 365/30. */
  payRate30: number;
  hazard: number;
  /** Mean payout ratio of those incidents (0 when none). */
  severity: number;
}

export const MAX_TERM_DAYS = 365;
const HAZARD_TERM_DAYS = 30;

/** Burning costs, the 30-day hazard and severity of a rule over a series. */
export function summariseExperience(rule: TriggerRule, series: readonly Observation[]): ExperienceSummary {
  const n = series.length;
  const burningCost = new Float64Array(MAX_TERM_DAYS + 1);
  if (n === 0) {
    return { days: 0, points: 0, firstAt: null, lastAt: null, incidents: 0, burningCost, payRate30: 0, hazard: 0, severity: 0 };
  }
  const starts = replayStarts(rule, series);
  const firstAt = (series[0] as Observation).at;
  const lastAt = (series[n - 1] as Observation).at;
  // Per start: the day (from the start) its first incident triggered, and its payout.
  const delay = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const ratio = new Float64Array(n);
  const observedDays = new Float64Array(n);
  series.forEach((o, s) => {
    observedDays[s] = (lastAt - o.at) / DAY_MS;
    const out = starts[s];
    if (out && out.ratio > 0) {
      delay[s] = (out.triggeredAt - o.at) / DAY_MS;
      ratio[s] = out.ratio;
    }
  });
  for (let term = 1; term <= MAX_TERM_DAYS; term++) {
    let all = 0;
    let full = 0;
    let fullCount = 0;
    for (let s = 0; s < n; s++) {
      const paid = (delay[s] as number) < term ? (ratio[s] as number) : 0;
      all += paid;
      if ((observedDays[s] as number) >= term) {
        full += paid;
        fullCount++;
      }
    }
    burningCost[term] = Math.max(all / n, fullCount >= 30 ? full / fullCount : 0);
  }
  // The hazard of new incidents: over the starts a cover could be sold at (not already beyond
  // the threshold, where sales are declined). The burning cost above counts every start, so a
  // price is never below what any start would have cost.
  let sellable = 0;
  let paid30 = 0;
  for (let s = 0; s < n; s++) {
    if (stepTrigger(rule, ARMED, series[s] as Observation).state.state !== 'ARMED') continue;
    sellable++;
    if ((delay[s] as number) < HAZARD_TERM_DAYS) paid30++;
  }
  const payRate30 = sellable === 0 ? 1 : paid30 / sellable;
  // Severity: the mean payout of the incidents, each counted once.
  const found = incidents(rule, series, starts).filter((i) => i.ratio > 0);
  return {
    days: Math.round((lastAt - firstAt) / DAY_MS) + 1,
    points: n,
    firstAt,
    lastAt,
    incidents: found.length,
    burningCost,
    payRate30,
    hazard: hazardOf(payRate30),
    severity: found.length === 0 ? 0 : found.reduce((t, i) => t + i.ratio, 0) / found.length,
  };
}

/** The annual Poisson rate whose chance of at least one event in 30 days is p (p capped below 1). */
export function hazardOf(p30: number): number {
  return (-Math.log(1 - Math.min(p30, 0.999)) * 365) / HAZARD_TERM_DAYS;
}
