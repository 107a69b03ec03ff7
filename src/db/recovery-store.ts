import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { big, json, ms, num, ts } from './sql-helpers.ts';
import type { RecoveryPart, RecoveryRecord } from '../domain/incident.ts';

interface RecoveryRow {
  id: string;
  incident_id: string;
  amount: string;
  reference: string;
  distribution: Array<{ layer: RecoveryPart['layer']; poolId: string | null; amount: string }>;
  created_at: Date;
}

const toRecovery = (r: RecoveryRow): RecoveryRecord => ({
  id: r.id,
  incidentId: r.incident_id,
  amount: big(r.amount),
  reference: r.reference,
  parts: r.distribution.map((p) => ({ ...p, amount: big(p.amount) })),
  createdAt: ms(r.created_at),
});

export async function recoveriesOf(ex: Executor, incidentId: string): Promise<RecoveryRecord[]> {
  return (await ex.query<RecoveryRow>(sql`SELECT * FROM recoveries WHERE incident_id = ${incidentId} ORDER BY created_at, id`)).map(
    toRecovery,
  );
}

export async function findRecoveryByReference(ex: Executor, reference: string): Promise<RecoveryRecord | undefined> {
  const rows = await ex.query<RecoveryRow>(sql`SELECT * FROM recoveries WHERE reference = ${reference}`);
  return rows[0] && toRecovery(rows[0]);
}

/** What each pool's layers lost to the incident (and the pools' asset). */
export async function incidentTakes(ex: Executor, incidentId: string) {
  const rows = await ex.query<{ pool_id: string; layer: string; amount: string; asset: string }>(sql`
    SELECT l.pool_id, l.layer, l.amount, pl.asset FROM incident_layers l JOIN pools pl ON pl.id = l.pool_id
    WHERE l.incident_id = ${incidentId} ORDER BY l.pool_id`);
  return rows.map((r) => ({ poolId: r.pool_id, layer: r.layer, amount: big(r.amount), asset: r.asset }));
}

/** What the incident's claimants are still owed (their open IOUs). */
export async function openIous(ex: Executor, incidentId: string): Promise<bigint> {
  const rows = await ex.query<{ open: string }>(
    sql`SELECT COALESCE(SUM(due - paid - iou_repaid), 0) AS open FROM payouts WHERE incident_id = ${incidentId}`,
  );
  return big(rows[0]?.open ?? '0');
}

/** What the incident's backstop draws still owe the fund. */
export async function openDraws(ex: Executor, incidentId: string): Promise<bigint> {
  const rows = await ex.query<{ open: string }>(
    sql`SELECT COALESCE(SUM(amount - repaid), 0) AS open FROM backstop_draws WHERE incident_id = ${incidentId}`,
  );
  return big(rows[0]?.open ?? '0');
}

export async function insertRecovery(ex: Executor, r: RecoveryRecord, by: string): Promise<void> {
  await ex.query(sql`
    INSERT INTO recoveries (id, incident_id, amount, reference, distribution, created_by, created_at)
    VALUES (${r.id}, ${r.incidentId}, ${num(r.amount)}, ${r.reference}, ${json(r.parts.map((p) => ({ ...p, amount: p.amount.toString() })))}, ${by}, ${ts(r.createdAt)})`);
}
