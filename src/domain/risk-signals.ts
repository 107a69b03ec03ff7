import { badInput, under } from './errors.ts';
import { type EngineState, type TriggerEvent, type TriggerState, stepTrigger } from './trigger-engine.ts';
import { payoutRatio } from './payout.ts';
import { type TriggerRule, type TriggerRuleInput, normaliseTriggerRule } from './trigger-rule.ts';
import { Decimal, decimalString } from './decimal.ts';

/**
 * Several signals on one risk (docs/design.md §5, "Signals"): a smart-contract-failure risk
 * may name rules beside its own, each on its own feeds, and it triggers when any one of them
 * meets its rule (a share price down 50% held an hour, or paused for 6 hours). The risk's own
 * rule is the signal named `OWN_RULE` (""). Each signal runs the same trigger machine on its
 * own fresh median; the first to confirm makes the incident, paid by its own payout rule.
 * The risk is TRIGGERED while any signal is, CONFIRMED from an incident until every signal is
 * back at its recovery threshold.
 */
export interface RiskSignal {
  /** Its name, e.g. "paused": how the feeds that drive it (setRiskFeeds) and the evidence name it. */
  name: string;
  rule: TriggerRule;
}

export interface RiskSignalInput {
  name: string;
  rule: TriggerRuleInput;
}

export const OWN_RULE = '';
export const MAX_SIGNALS = 8;
const NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Validates the named signals of a risk (terms fixed at creation, like its rule). */
export function normaliseSignals(inputs: readonly RiskSignalInput[]): RiskSignal[] {
  if (inputs.length > MAX_SIGNALS) throw badInput(`a risk has at most ${MAX_SIGNALS} signals besides its rule`, { field: 'signals' });
  const seen = new Set<string>();
  return inputs.map((s, i) =>
    under(['signals', i], () => {
      if (typeof s.name !== 'string' || !NAME.test(s.name)) {
        throw badInput('a signal name is 1 to 32 lower-case letters, digits or -, starting with a letter', { field: 'name' });
      }
      if (seen.has(s.name)) throw badInput(`signal ${s.name} is named twice`, { field: 'name' });
      seen.add(s.name);
      return { name: s.name, rule: under(['rule'], () => normaliseTriggerRule(s.rule)) };
    }),
  );
}

/**
 * Every rule of a risk with where its signal read last, its own first: what the point of sale
 * weighs (a value near any signal's threshold closes sales, not only the risk's own).
 */
export function signalReadings(risk: {
  rule: TriggerRule;
  signals: readonly RiskSignal[];
  signalStates: SignalStates;
  lastValue: string | null;
}): Array<{ name: string; rule: TriggerRule; value: string | null }> {
  return [
    { name: OWN_RULE, rule: risk.rule, value: risk.lastValue },
    ...risk.signals.map((s) => ({ name: s.name, rule: s.rule, value: risk.signalStates[s.name]?.value ?? null })),
  ];
}

/** Every rule of a risk, its own first. */
export function signalsOf(risk: { rule: TriggerRule; signals: readonly RiskSignal[] }): RiskSignal[] {
  return [{ name: OWN_RULE, rule: risk.rule }, ...risk.signals];
}

/** The largest share of its amount a policy on the risk can be paid: what its capital is held against. */
export function maxPayoutOf(signals: readonly RiskSignal[]): string {
  return decimalString(Decimal.max(...signals.map((s) => new Decimal(s.rule.maxRatio))), 18);
}

/** A signal's trigger state, and its fresh median at the last evaluation (what the point of sale reads). */
export type SignalState = Pick<EngineState, 'state' | 'triggeredAt'> & { value?: string };
export type SignalStates = Record<string, SignalState>;

export interface SignalReading {
  signal: RiskSignal;
  /** Its fresh median at this evaluation. */
  value: string;
}

export interface SignalStep {
  /** Each signal's state after the step (ARMED for all once one confirms: the episode is the incident's). */
  states: SignalStates;
  events: Array<TriggerEvent & { signal: string }>;
  /** The risk's state: CONFIRMED if a signal confirmed, TRIGGERED if any is, else ARMED. */
  state: TriggerState;
  triggeredAt: number | null;
  /** The signal that confirmed, with the settlement value it confirmed at. */
  confirmed: { signal: RiskSignal; triggeredAt: number; settlementValue: string } | null;
}

const ARMED_SIGNAL: SignalState = { state: 'ARMED', triggeredAt: null };

/**
 * One evaluation of every signal at time `at`. When two confirm at once, the one that pays the
 * larger share makes the incident (a buyer is never paid the smaller of two true claims).
 */
export function stepSignals(readings: readonly SignalReading[], states: SignalStates, at: number): SignalStep {
  const next: SignalStates = {};
  const events: SignalStep['events'] = [];
  let confirmed: SignalStep['confirmed'] = null;
  let best = new Decimal(-1);
  for (const { signal, value } of readings) {
    const current = states[signal.name] ?? ARMED_SIGNAL;
    const step = stepTrigger(signal.rule, { ...current, settlementValue: null }, { value, at });
    next[signal.name] = { state: step.state.state, triggeredAt: step.state.triggeredAt, value };
    events.push(...step.events.map((e) => ({ ...e, signal: signal.name })));
    const settlement = step.state.settlementValue;
    if (step.state.state === 'CONFIRMED' && settlement !== null && step.state.triggeredAt !== null) {
      const ratio = new Decimal(payoutRatio(signal.rule, settlement));
      if (ratio.gt(best)) {
        best = ratio;
        confirmed = { signal, triggeredAt: step.state.triggeredAt, settlementValue: settlement };
      }
    }
  }
  if (confirmed) return { states: next, events, state: 'CONFIRMED', triggeredAt: confirmed.triggeredAt, confirmed };
  const triggered = Object.values(next).filter((s) => s.state === 'TRIGGERED' && s.triggeredAt !== null);
  if (triggered.length === 0) return { states: next, events, state: 'ARMED', triggeredAt: null, confirmed: null };
  return {
    states: next,
    events,
    state: 'TRIGGERED',
    triggeredAt: Math.min(...triggered.map((s) => s.triggeredAt as number)),
    confirmed: null,
  };
}
