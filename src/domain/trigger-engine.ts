import { memoByKey } from './memo.ts';
import { Decimal, decimalString } from './decimal.ts';
import { type TriggerRule, beyond } from './trigger-rule.ts';
import { payoutRatio } from './payout.ts';

/**
 * The trigger state machine of docs/design.md §5, as a pure function of observation time, so the
 * watcher and `backtest` replay history identically.
 *
 *   ARMED -> TRIGGERED at the first value at or beyond `threshold` (triggeredAt = its time);
 *   TRIGGERED, at each later value, in this order:
 *     t - triggeredAt > window        -> CONFIRMED, this value is the settlement value;
 *     value at or beyond recovery     -> RECOVERED, and the rule re-arms;
 *   window = 0 confirms at the triggering observation itself.
 * CONFIRMED is final for the episode.
 */
export type TriggerState = 'ARMED' | 'TRIGGERED' | 'CONFIRMED';
export type TriggerTransition = 'TRIGGERED' | 'RECOVERED' | 'CONFIRMED';

export interface EngineState {
  state: TriggerState;
  /** Observation time (ms) of the value that triggered the current episode. */
  triggeredAt: number | null;
  settlementValue: string | null;
}

export interface Observation {
  /** Decimal string. */
  value: string;
  /** Observation time, ms since the epoch. */
  at: number;
}

export interface TriggerEvent {
  state: TriggerTransition;
  at: number;
  value: string;
}

export const ARMED: EngineState = { state: 'ARMED', triggeredAt: null, settlementValue: null };

/** At or beyond the trigger threshold: what the rule's first step fires on. */
export function isBeyond(rule: TriggerRule, value: string): boolean {
  return beyondThreshold(`${rule.direction}|${rule.threshold}|${value}`, () => beyond(new Decimal(value), rule.threshold, rule.direction));
}

const beyondThreshold = memoByKey<boolean>();

/** Back on the safe side of the recovery threshold (BELOW: value >= recovery). */
export function isRecovered(rule: TriggerRule, value: string): boolean {
  const v = new Decimal(value);
  return rule.direction === 'BELOW' ? v.gte(rule.recoveryThreshold) : v.lte(rule.recoveryThreshold);
}

/** One observation through the machine: the new state and the transitions it caused. */
export function stepTrigger(rule: TriggerRule, current: EngineState, obs: Observation): { state: EngineState; events: TriggerEvent[] } {
  const value = new Decimal(obs.value);
  if (current.state === 'ARMED') {
    if (!beyond(value, rule.threshold, rule.direction)) return { state: current, events: [] };
    const triggered: TriggerEvent = { state: 'TRIGGERED', at: obs.at, value: obs.value };
    if (rule.window === 0) {
      return {
        state: { state: 'CONFIRMED', triggeredAt: obs.at, settlementValue: obs.value },
        events: [triggered, { state: 'CONFIRMED', at: obs.at, value: obs.value }],
      };
    }
    return { state: { state: 'TRIGGERED', triggeredAt: obs.at, settlementValue: null }, events: [triggered] };
  }
  if (current.state === 'TRIGGERED' && current.triggeredAt !== null) {
    if (obs.at - current.triggeredAt > rule.window * 1000) {
      return {
        state: { state: 'CONFIRMED', triggeredAt: current.triggeredAt, settlementValue: obs.value },
        events: [{ state: 'CONFIRMED', at: obs.at, value: obs.value }],
      };
    }
    if (isRecovered(rule, obs.value)) {
      return { state: ARMED, events: [{ state: 'RECOVERED', at: obs.at, value: obs.value }] };
    }
  }
  return { state: current, events: [] };
}

export interface BacktestResult {
  events: TriggerEvent[];
  settlementValue: string | null;
  /** The payout ratio of the confirmed incident; "0" when nothing was confirmed. */
  payoutRatio: string;
  triggeredAt: number | null;
}

/** Replays a series (sorted by time, stable for equal times) through the same machine. */
export function backtest(rule: TriggerRule, observations: readonly Observation[]): BacktestResult {
  const series = observations.map((o, i) => ({ o, i })).sort((a, b) => a.o.at - b.o.at || a.i - b.i);
  let state = ARMED;
  const events: TriggerEvent[] = [];
  for (const { o } of series) {
    const step = stepTrigger(rule, state, o);
    state = step.state;
    events.push(...step.events);
    if (state.state === 'CONFIRMED') break;
  }
  const confirmed = state.state === 'CONFIRMED' && state.settlementValue !== null;
  return {
    events,
    settlementValue: confirmed ? state.settlementValue : null,
    payoutRatio: confirmed ? payoutRatio(rule, state.settlementValue as string) : '0',
    triggeredAt: state.triggeredAt,
  };
}

/**
 * The aggregate of fresh feed values: the median, and for an even count the middle value
 * on the side of "no trigger" (the higher one for a BELOW rule, the lower for ABOVE). An
 * average of the two middle values would let one source decide (with two feeds it moves
 * the mean as far as it likes); this way a trigger needs the honest half to agree.
 */
export function aggregate(values: readonly string[], direction: TriggerRule['direction']): string {
  if (values.length === 0) throw new RangeError('aggregate of no values');
  const sorted = values.map((v) => new Decimal(v)).sort((a, b) => a.comparedTo(b));
  const mid = Math.floor(sorted.length / 2);
  const pick = sorted.length % 2 === 1 || direction === 'BELOW' ? mid : mid - 1;
  return decimalString(sorted[pick] as Decimal, 18);
}
