import { sql } from 'drizzle-orm';
import type { TriggerRule } from '../domain/trigger-rule.ts';
import type { Layer } from '../domain/waterfall.ts';
import type { Executor } from './create-database.ts';
import { big, json, ms, ts, pageOf } from './sql-helpers.ts';
import type { PageRequest } from '../domain/page.ts';
import { policyIdOfPart } from '../domain/cover.ts';
import type { RiskEventState, EvidenceObservation, RiskEventRecord, IncidentRecord, PayoutRecord } from '../domain/incident.ts';

export async function insertRiskEvent(ex: Executor, e: Omit<RiskEventRecord, 'id'>, at: number): Promise<RiskEventRecord> {
  const rows = await ex.query<{ id: string }>(sql`
    INSERT INTO risk_events (risk_id, state, at, value, rule_version, observations, signal, created_at)
    VALUES (${e.riskId}, ${e.state}, ${ts(e.at)}, ${e.value}::numeric, ${e.ruleVersion}, ${json(e.observations)}, ${e.signal ?? null},
      ${ts(at)})
    RETURNING id`);
  return { ...e, id: String(rows[0]?.id) };
}

interface RiskEventRow {
  id: string;
  risk_id: string;
  state: RiskEventState;
  at: Date;
  value: string | null;
  rule_version: number;
  observations: EvidenceObservation[];
  signal: string | null;
}

const toEvent = (r: RiskEventRow): RiskEventRecord => ({
  id: String(r.id),
  riskId: r.risk_id,
  state: r.state,
  at: ms(r.at),
  value: r.value == null ? null : String(r.value),
  ruleVersion: r.rule_version,
  observations: r.observations,
  ...(r.signal === null || r.signal === undefined ? {} : { signal: r.signal }),
});

export async function riskEvents(ex: Executor, riskId: string, limit: number): Promise<RiskEventRecord[]> {
  const rows = await ex.query<RiskEventRow>(sql`SELECT * FROM risk_events WHERE risk_id = ${riskId} ORDER BY id DESC LIMIT ${limit}`);
  return rows.map(toEvent).reverse();
}

/** The events of the current episode: everything since the last TRIGGERED event. */
export async function currentEpisode(ex: Executor, riskId: string, signal?: string): Promise<RiskEventRecord[]> {
  const rows = await ex.query<RiskEventRow>(sql`
    SELECT * FROM risk_events
    WHERE risk_id = ${riskId} AND state IN ('TRIGGERED', 'CONFIRMED')
      AND id >= (SELECT MAX(id) FROM risk_events WHERE risk_id = ${riskId} AND state = 'TRIGGERED'
        ${signal === undefined ? sql`` : sql`AND signal = ${signal}`})
    ORDER BY id`);
  return rows.map(toEvent);
}

interface IncidentRow {
  id: string;
  risk_id: string;
  rule: TriggerRule;
  rule_version: number;
  triggered_at: Date;
  trigger_value: string;
  confirmed_at: Date;
  settlement_value: string;
  payout_ratio: string;
  evidence: { timeline: RiskEventRecord[] };
  evidence_document: string | null;
  evidence_hash: string;
  status: 'SETTLING' | 'SETTLED';
  total_due: string | null;
  total_paid: string | null;
  policies_paid: number | null;
  created_at: Date;
  settled_at: Date | null;
}

const toIncident = (r: IncidentRow): IncidentRecord => ({
  id: r.id,
  riskId: r.risk_id,
  rule: r.rule,
  ruleVersion: r.rule_version,
  triggeredAt: ms(r.triggered_at),
  triggerValue: String(r.trigger_value),
  confirmedAt: ms(r.confirmed_at),
  settlementValue: String(r.settlement_value),
  payoutRatio: String(r.payout_ratio),
  evidence: r.evidence,
  evidenceDocument: r.evidence_document,
  evidenceHash: r.evidence_hash,
  status: r.status,
  totalDue: r.total_due == null ? null : big(r.total_due),
  totalPaid: r.total_paid == null ? null : big(r.total_paid),
  policiesPaid: r.policies_paid,
  createdAt: ms(r.created_at),
  settledAt: r.settled_at == null ? null : ms(r.settled_at),
});

export async function insertIncident(ex: Executor, i: IncidentRecord): Promise<void> {
  await ex.query(sql`
    INSERT INTO incidents (id, risk_id, rule, rule_version, triggered_at, trigger_value, confirmed_at, settlement_value, payout_ratio,
      evidence, evidence_document, evidence_hash, status, created_at)
    VALUES (${i.id}, ${i.riskId}, ${json(i.rule)}, ${i.ruleVersion}, ${ts(i.triggeredAt)}, ${i.triggerValue}::numeric, ${ts(i.confirmedAt)},
      ${i.settlementValue}::numeric, ${i.payoutRatio}::numeric, ${json(i.evidence)}, ${i.evidenceDocument}, ${i.evidenceHash}, 'SETTLING', ${ts(i.createdAt)})`);
}

export async function findIncident(ex: Executor, id: string): Promise<IncidentRecord | undefined> {
  const rows = await ex.query<IncidentRow>(sql`SELECT * FROM incidents WHERE id = ${id}`);
  return rows[0] && toIncident(rows[0]);
}

/** Incidents (of one risk, or all), newest first, a page at a time. */
export async function listIncidents(ex: Executor, riskId: string | null, page: PageRequest): Promise<IncidentRecord[]> {
  const { where, limit } = pageOf(sql`created_at`, sql`id`, page, true);
  const rows = await ex.query<IncidentRow>(
    sql`SELECT * FROM incidents WHERE ${riskId ? sql`risk_id = ${riskId}` : sql`TRUE`} AND ${where} ORDER BY created_at DESC, id DESC ${limit}`,
  );
  return rows.map(toIncident);
}

export async function settlingIncidentIds(ex: Executor): Promise<string[]> {
  const rows = await ex.query<{ id: string }>(sql`SELECT id FROM incidents WHERE status = 'SETTLING' ORDER BY created_at, id`);
  return rows.map((r) => r.id);
}

/** Incidents confirmed and not yet fully paid: how many, and when the oldest was confirmed (null: none). */
export async function settlingBacklog(ex: Executor): Promise<{ count: number; oldestAt: number | null }> {
  const rows = await ex.query<{ n: string | number; oldest: Date | null }>(
    sql`SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM incidents WHERE status = 'SETTLING'`,
  );
  const row = rows[0];
  return { count: Number(row?.n ?? 0), oldestAt: row?.oldest ? ms(row.oldest) : null };
}

type PayoutRow = {
  incident_id: string;
  policy_id: string;
  pool_id: string;
  buyer: string;
  due: string;
  paid: string;
  iou_repaid: string;
  created_at: unknown;
};

const toPayout = (r: PayoutRow): PayoutRecord => ({
  incidentId: r.incident_id,
  policyId: policyIdOfPart(r.policy_id),
  partId: r.policy_id,
  poolId: r.pool_id,
  buyer: r.buyer,
  due: big(r.due),
  paid: big(r.paid),
  iouRepaid: big(r.iou_repaid),
  createdAt: ms(r.created_at),
});

/** Payouts of an incident (by policy id, at most `limit`), or of the given policies (one each at most). */
export async function payoutsOf(
  ex: Executor,
  where: { incidentId?: string; policyIds?: readonly string[] },
  limit: number,
): Promise<PayoutRecord[]> {
  if (where.policyIds) {
    if (where.policyIds.length === 0) return [];
    const ids = sql.join(
      where.policyIds.map((id) => sql`${id}`),
      sql`, `,
    );
    return (await ex.query<PayoutRow>(sql`SELECT * FROM payouts WHERE policy_id IN (${ids})`)).map(toPayout);
  }
  const rows = await ex.query<PayoutRow>(
    sql`SELECT * FROM payouts WHERE incident_id = ${where.incidentId ?? ''} ORDER BY policy_id LIMIT ${limit}`,
  );
  return rows.map(toPayout);
}

/** The payouts one settled pool of an incident made to `buyer` (at most 1,000). */
export async function payoutsToBuyer(ex: Executor, incidentId: string, poolId: string, buyer: string): Promise<PayoutRecord[]> {
  const rows = await ex.query<PayoutRow>(
    sql`SELECT * FROM payouts WHERE incident_id = ${incidentId} AND pool_id = ${poolId} AND buyer = ${buyer} ORDER BY policy_id LIMIT 1000`,
  );
  return rows.map(toPayout);
}

/** A buyer's payouts, newest first, a page at a time. */
export async function payoutsOfBuyer(ex: Executor, buyer: string, page: PageRequest): Promise<PayoutRecord[]> {
  const p = pageOf(sql`pay.created_at`, sql`pay.policy_id`, page, true);
  const rows = await ex.query<PayoutRow>(sql`
    SELECT pay.* FROM payouts pay
    WHERE pay.buyer = ${buyer} AND ${p.where} ORDER BY pay.created_at DESC, pay.policy_id DESC ${p.limit}`);
  return rows.map(toPayout);
}

/**
 * A buyer's payouts paid after `since`, oldest first (at most 1,000): on the ledger when the
 * payout was made; with money on chain when its transfer was confirmed.
 */
export async function payoutsPaidSince(ex: Executor, buyer: string, since: number, onChain: boolean): Promise<PayoutRecord[]> {
  const rows = onChain
    ? await ex.query<PayoutRow>(sql`
        SELECT pay.* FROM payouts pay
          JOIN outbound_transfers t ON t.reference = 'payout:' || pay.policy_id
        WHERE pay.buyer = ${buyer} AND t.status = 'CONFIRMED' AND t.finished_at > ${ts(since)}
        ORDER BY t.finished_at, pay.policy_id LIMIT 1000`)
    : await ex.query<PayoutRow>(sql`
        SELECT pay.* FROM payouts pay
        WHERE pay.buyer = ${buyer} AND pay.created_at > ${ts(since)}
        ORDER BY pay.created_at, pay.policy_id LIMIT 1000`);
  return rows.map(toPayout);
}

export async function incidentPools(
  ex: Executor,
  incidentId: string,
): Promise<Array<{ poolId: string; due: bigint; paid: bigint; settledAt: number }>> {
  const rows = await ex.query<{ pool_id: string; due: string; paid: string; settled_at: Date }>(
    sql`SELECT pool_id, due, paid, settled_at FROM incident_pools WHERE incident_id = ${incidentId} ORDER BY pool_id`,
  );
  return rows.map((r) => ({ poolId: r.pool_id, due: big(r.due), paid: big(r.paid), settledAt: ms(r.settled_at) }));
}

export async function incidentLayers(ex: Executor, incidentId: string) {
  const rows = await ex.query<{
    pool_id: string;
    layer: Layer;
    amount: string;
    share_price_before: string | null;
    share_price_after: string | null;
  }>(sql`
    SELECT pool_id, layer, amount, share_price_before, share_price_after FROM incident_layers WHERE incident_id = ${incidentId}
    ORDER BY pool_id, CASE layer WHEN 'FIRST_LOSS' THEN 0 WHEN 'JUNIOR' THEN 1 WHEN 'SENIOR' THEN 2 WHEN 'BACKSTOP' THEN 3 ELSE 4 END`);
  return rows.map((r) => ({
    poolId: r.pool_id,
    layer: r.layer,
    amount: big(r.amount),
    sharePriceBefore: r.share_price_before == null ? null : String(r.share_price_before),
    sharePriceAfter: r.share_price_after == null ? null : String(r.share_price_after),
  }));
}

/** The incident that pays a policy (confirmed on the risk of one of its parts, `partIds`, while it was in force), if any. */
export async function incidentPayingPolicy(ex: Executor, partIds: readonly string[]): Promise<string | undefined> {
  const [row] = await ex.query<{ id: string }>(sql`
    SELECT i.id FROM incidents i JOIN policies p ON p.risk_id = i.risk_id
    WHERE p.id IN (${sql.join(
      partIds.map((id) => sql`${id}`),
      sql`, `,
    )}) AND p.start_at <= i.triggered_at AND p.end_at > i.triggered_at
    ORDER BY i.triggered_at LIMIT 1`);
  return row?.id;
}
