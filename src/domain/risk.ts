/** A risk as the marketplace keeps it: its rule, signals, score and trigger state. db/risk-store.ts persists it. */
import type { RiskFactor } from './risk-score.ts';
import type { TriggerRule } from './trigger-rule.ts';
import type { RiskSignal, SignalStates } from './risk-signals.ts';
import type { TriggerState } from './trigger-engine.ts';

export type RiskKind = 'DEPEG' | 'SMART_CONTRACT_FAILURE';

export interface RiskRecord {
  id: string;
  name: string;
  kind: RiskKind;
  description: string;
  correlationGroup: string;
  rule: TriggerRule;
  /** The named signals beside its rule (domain/risk-signals.ts); none for most risks. */
  signals: RiskSignal[];
  /** Each signal's trigger state (the risk's own rule under ""), kept only for a risk with signals. */
  signalStates: SignalStates;
  ruleVersion: number;
  maxPayoutRatio: string;
  quorum: number;
  maxStalenessSeconds: number;
  scoreModel: string;
  scoreInputs: Record<string, string | number | string[]>;
  scoreFactors: RiskFactor[];
  modelScore: string;
  scoreOverride: string | null;
  scoreOverrideReason: string | null;
  state: TriggerState;
  /** Fewer fresh feeds than the quorum at the last evaluation: never triggers on such data. */
  degraded: boolean;
  triggeredAt: number | null;
  lastValue: string | null;
  lastEvaluatedAt: number | null;
  /** When the trigger last changed state (for an ARMED risk: when it re-armed after a trigger); null if never. */
  stateChangedAt: number | null;
  createdBy: string;
  createdAt: number;
  /** Bumped when the risk's history or feeds change: its price is worked out again (app/loss-models.ts). */
  pricingRevision: number;
}

/** The score that prices cover: the admin override when there is one, else the model's. */
export function effectiveScore(risk: Pick<RiskRecord, 'modelScore' | 'scoreOverride'>): string {
  return risk.scoreOverride ?? risk.modelScore;
}
