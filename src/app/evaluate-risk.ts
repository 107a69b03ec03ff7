import canonicalize from 'canonicalize';
import { keccak256, sha256, toBytes } from 'viem';
import type { Executor } from '../db/create-database.ts';
import { latestObservations } from '../db/feed-store.ts';
import { currentEpisode, insertIncident, insertRiskEvent } from '../db/incident-store.ts';
import type { EvidenceObservation, IncidentRecord, RiskEventRecord } from '../domain/incident.ts';
import { publish } from '../db/events.ts';
import { findRisk, flagQuietRisks, saveRiskEvaluation } from '../db/risk-store.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { canonicalJson } from '../domain/canonical-json.ts';
import { evidenceDocument } from '../domain/evidence.ts';
import { newId } from '../db/ids.ts';
import { aggregate, isRecovered } from '../domain/trigger-engine.ts';
import { payoutRatio } from '../domain/payout.ts';
import { OWN_RULE, type SignalReading, signalsOf, stepSignals } from '../domain/risk-signals.ts';

export interface Evaluation {
  events: RiskEventRecord[];
  incidentId: string | null;
}

const NONE: Evaluation = { events: [], incidentId: null };

/**
 * Evaluates one risk at time `at`, inside the caller's transaction: for each of its signals
 * (its own rule, and the named signals of domain/risk-signals.ts), the aggregate (median, see
 * `aggregate`) of the fresh values of the feeds that drive it, through the trigger engine.
 * With fewer fresh feeds than the quorum on its own rule, or none on a named signal, the risk
 * is DEGRADED and nothing moves. When a signal confirms, the incident is created in the same
 * transaction, with the observations that moved each state (of every signal) as evidence.
 *
 * After an incident the risk stays CONFIRMED (sales paused) until every signal is back at or
 * beyond its recovery threshold; then it re-arms, so a depeg that persists is never sold as
 * cover and paid a second time.
 */
export async function evaluateRisk(tx: Executor, riskId: string, at: number, now: number): Promise<Evaluation> {
  const risk = await findRisk(tx, riskId, true);
  if (!risk) return NONE;
  if (risk.lastEvaluatedAt !== null && at < risk.lastEvaluatedAt) return NONE;
  const maxAge = risk.maxStalenessSeconds * 1000;
  const fresh = (await latestObservations(tx, riskId, at)).filter((o) => at - o.observedAt <= maxAge);
  const composite = risk.signals.length > 0;
  const readings: SignalReading[] = [];
  for (const signal of signalsOf(risk)) {
    const values = fresh.filter((o) => o.signal === signal.name).map((o) => o.value);
    if (values.length < (signal.name === OWN_RULE ? risk.quorum : 1)) {
      return { events: await degrade(tx, risk, at, now), incidentId: null };
    }
    readings.push({ signal, value: aggregate(values, signal.rule.direction) });
  }
  const value = (readings[0] as SignalReading).value;
  const evidence: EvidenceObservation[] = fresh.map((o) => ({
    feedId: o.feedId,
    ...(composite ? { signal: o.signal } : {}),
    observationId: o.id,
    value: o.value,
    observedAt: o.observedAt,
    source: o.source,
  }));
  const events: RiskEventRecord[] = [];
  const record = async (state: RiskEventRecord['state'], eventValue: string | null, signal?: string) => {
    events.push(
      await insertRiskEvent(
        tx,
        {
          riskId,
          state,
          at,
          value: eventValue,
          ruleVersion: risk.ruleVersion,
          observations: evidence,
          ...(composite && signal !== undefined ? { signal } : {}),
        },
        now,
      ),
    );
  };
  if (risk.degraded) await record('HEALTHY', value);

  if (risk.state === 'CONFIRMED') {
    const rearm = readings.every((r) => isRecovered(r.signal.rule, r.value));
    if (rearm) await record('REARMED', value);
    await saveRiskEvaluation(tx, riskId, {
      state: rearm ? 'ARMED' : 'CONFIRMED',
      triggeredAt: rearm ? null : risk.triggeredAt,
      degraded: false,
      lastValue: value,
      evaluatedAt: at,
      changedAt: rearm ? at : null,
      ...(rearm && composite ? { signalStates: {} } : {}),
    });
    if (events.length > 0) await publish(tx, { type: 'risk', riskId, state: rearm ? 'ARMED' : 'CONFIRMED' });
    else if (risk.lastValue === null || Number(value) !== Number(risk.lastValue)) await publish(tx, { type: 'observed', riskId });
    return { events, incidentId: null };
  }

  // A risk with one rule keeps its engine's state in its own columns; one with signals, each signal's beside them.
  const states = composite ? risk.signalStates : { [OWN_RULE]: { state: risk.state, triggeredAt: risk.triggeredAt } };
  const step = stepSignals(readings, states, at);
  for (const e of step.events) await record(e.state, e.value, e.signal);
  await saveRiskEvaluation(tx, riskId, {
    state: step.state,
    triggeredAt: step.triggeredAt,
    degraded: false,
    lastValue: value,
    evaluatedAt: at,
    changedAt: step.events.length > 0 ? at : null,
    ...(composite ? { signalStates: step.state === 'CONFIRMED' ? {} : step.states } : {}),
  });
  // Announced while TRIGGERED too, so subscribers see the trigger's progress move.
  if (events.length > 0 || step.state === 'TRIGGERED') await publish(tx, { type: 'risk', riskId, state: step.state });
  // A new value without a state change: live views of the risk (its latest value, its chart) follow it.
  else if (risk.lastValue === null || Number(value) !== Number(risk.lastValue)) await publish(tx, { type: 'observed', riskId });
  if (!step.confirmed) return { events, incidentId: null };
  const { signal, triggeredAt, settlementValue } = step.confirmed;
  // The episode of the signal that confirmed, from its trigger, with whatever other signals did meanwhile.
  const timeline = await currentEpisode(tx, riskId, composite ? signal.name : undefined);
  const trigger = timeline[0];
  const terms = {
    id: newId('inc'),
    riskId,
    rule: signal.rule,
    ruleVersion: risk.ruleVersion,
    triggeredAt,
    triggerValue: trigger?.value ?? settlementValue,
    confirmedAt: at,
    settlementValue,
    payoutRatio: payoutRatio(signal.rule, settlementValue),
  };
  const incidentId = terms.id;
  const document = canonicalize(evidenceDocument({ ...terms, timeline })) as string;
  await insertIncident(tx, {
    ...terms,
    evidence: { timeline },
    evidenceDocument: document,
    evidenceHash: sha256(toBytes(document)),
    status: 'SETTLING',
    totalDue: null,
    totalPaid: null,
    policiesPaid: null,
    createdAt: now,
    settledAt: null,
  });
  await publish(tx, { type: 'incident', incidentId, status: 'SETTLING' });
  return { events, incidentId };
}

/**
 * Marks a risk DEGRADED (its feeds cannot say where it stands): an event, the flag, and the
 * announcement; the engine's state is kept. Nothing when it already is.
 */
async function degrade(tx: Executor, risk: RiskRecord, at: number, now: number): Promise<RiskEventRecord[]> {
  if (risk.degraded) return [];
  const event = await insertRiskEvent(
    tx,
    { riskId: risk.id, state: 'DEGRADED', at, value: null, ruleVersion: risk.ruleVersion, observations: [] },
    now,
  );
  await saveRiskEvaluation(tx, risk.id, {
    state: risk.state,
    triggeredAt: risk.triggeredAt,
    degraded: true,
    lastValue: null,
    evaluatedAt: null,
    changedAt: null,
  });
  await publish(tx, { type: 'risk', riskId: risk.id, state: 'DEGRADED' });
  return [event];
}

/** A feed read no value (an emptied vault): each risk it drives goes DEGRADED at once, not on the reading before. */
export async function degradeRisksOf(tx: Executor, riskIds: readonly string[], now: number): Promise<string[]> {
  const degraded: string[] = [];
  for (const riskId of riskIds) {
    const risk = await findRisk(tx, riskId, true);
    if (risk && (await degrade(tx, risk, now, now)).length > 0) degraded.push(riskId);
  }
  return degraded;
}

/**
 * Whether the incident's published evidence bytes hash to its evidence hash (SHA-256 of the
 * RFC 8785 document; incidents from before the document was published used keccak256 of
 * an internal form, checked as they were).
 */
export function evidenceVerified(incident: IncidentRecord): boolean {
  if (incident.evidenceDocument !== null) return sha256(toBytes(incident.evidenceDocument)) === incident.evidenceHash;
  return (
    keccak256(
      toBytes(
        canonicalJson({
          riskId: incident.riskId,
          rule: incident.rule,
          ruleVersion: incident.ruleVersion,
          timeline: incident.evidence.timeline,
        }),
      ),
    ) === incident.evidenceHash
  );
}

/**
 * Wall-clock health: a risk whose feeds have gone quiet is reported DEGRADED at once rather
 * than at its next observation. It changes nothing else: the engine's state is kept, and a
 * fresh observation evaluates it again.
 */
export async function markQuietRisks(tx: Executor, now: number): Promise<string[]> {
  const rows = await flagQuietRisks(tx, now);
  for (const r of rows) {
    await insertRiskEvent(tx, { riskId: r.id, state: 'DEGRADED', at: now, value: null, ruleVersion: r.ruleVersion, observations: [] }, now);
  }
  return rows.map((r) => r.id);
}
