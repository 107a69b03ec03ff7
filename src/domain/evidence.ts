import type { TriggerRule } from './trigger-rule.ts';

/** One transition of the episode as the API shows it: times in ISO-8601, values as strings. */
export interface EvidenceStep {
  state: string;
  at: number;
  value: string | null;
  observations: ReadonlyArray<{
    feedId: string;
    value: string;
    observedAt: number;
    source: Record<string, string | number>;
    signal?: string;
  }>;
  /** Which of a risk's signals moved ("" its own rule); absent for a risk with one rule. */
  signal?: string;
}

/** What an incident is about and on what terms it settles. */
export interface IncidentTerms {
  id: string;
  riskId: string;
  rule: TriggerRule;
  ruleVersion: number;
  triggeredAt: number;
  triggerValue: string;
  confirmedAt: number;
  settlementValue: string;
  payoutRatio: string;
}

/**
 * The public evidence of an incident: what confirmed it and on what terms, built only from
 * fields the API publishes (no internal row ids), so anyone can rebuild it from the API,
 * canonicalize it (RFC 8785) and get the same bytes and the same SHA-256.
 */
export function evidenceDocument(incident: IncidentTerms & { timeline: readonly EvidenceStep[] }): Record<string, unknown> {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    incidentId: incident.id,
    riskId: incident.riskId,
    rule: { ...incident.rule, version: incident.ruleVersion },
    triggeredAt: iso(incident.triggeredAt),
    triggerValue: incident.triggerValue,
    confirmedAt: iso(incident.confirmedAt),
    settlementValue: incident.settlementValue,
    payoutRatio: incident.payoutRatio,
    // A risk with signals names, on each step and reading, the signal it belongs to; a risk
    // with one rule has the document it always had.
    timeline: incident.timeline.map((e) => ({
      state: e.state,
      ...(e.signal === undefined ? {} : { signal: e.signal }),
      at: iso(e.at),
      value: e.value,
      observations: e.observations.map((o) => ({
        feedId: o.feedId,
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        value: o.value,
        observedAt: iso(o.observedAt),
        source: o.source,
      })),
    })),
  };
}
