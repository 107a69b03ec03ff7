import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { type AccountRef, ledgerAccounts, postJournalFromSelect } from './ledger.ts';
import { big, json, ms, num, ts } from './sql-helpers.ts';

export interface BackstopState {
  asset: string;
  balance: bigint;
  target: bigint;
  targetBasis: Record<string, string>;
  iouOutstanding: bigint;
  iouReserve: bigint;
  /** Admin funding still counted in the fund: platform capital, never distributed. */
  platformCapital: bigint;
  updatedAt: number | null;
}

/** The backstop's state and its two balances, in one statement (one snapshot, one round trip). */
export async function loadBackstop(ex: Executor, asset: string): Promise<BackstopState> {
  const rows = await ex.query<{
    target: string | null;
    target_basis: Record<string, string> | null;
    iou_outstanding: string | null;
    platform_capital: string | null;
    updated_at: Date | null;
    balance: string | null;
    iou_reserve: string | null;
  }>(
    sql`
    SELECT s.target, s.target_basis, s.iou_outstanding, s.platform_capital, s.updated_at,
           (SELECT balance FROM accounts WHERE id = ${ledgerAccounts.backstop(asset).id}) AS balance,
           (SELECT balance FROM accounts WHERE id = ${ledgerAccounts.iouReserve(asset).id}) AS iou_reserve
    FROM (SELECT 1) AS one LEFT JOIN backstop_state s ON s.asset = ${asset}`,
    { prepare: true },
  );
  const r = rows[0];
  return {
    asset,
    balance: big(r?.balance ?? '0'),
    target: big(r?.target ?? '0'),
    targetBasis: r?.target_basis ?? {},
    iouOutstanding: big(r?.iou_outstanding ?? '0'),
    iouReserve: big(r?.iou_reserve ?? '0'),
    platformCapital: big(r?.platform_capital ?? '0'),
    updatedAt: r?.updated_at == null ? null : ms(r.updated_at),
  };
}

export async function saveBackstopTarget(
  ex: Executor,
  asset: string,
  target: bigint,
  basis: Record<string, string>,
  at: number,
): Promise<void> {
  await ex.query(
    sql`UPDATE backstop_state SET target = ${num(target)}, target_basis = ${json(basis)}, updated_at = ${ts(at)} WHERE asset = ${asset}`,
  );
}

export async function addPlatformCapital(ex: Executor, asset: string, amount: bigint): Promise<void> {
  if (amount === 0n) return;
  await ex.query(sql`UPDATE backstop_state SET platform_capital = platform_capital + ${num(amount)} WHERE asset = ${asset}`);
}

export async function changeIouOutstanding(ex: Executor, asset: string, delta: bigint): Promise<void> {
  if (delta === 0n) return;
  await ex.query(sql`UPDATE backstop_state SET iou_outstanding = iou_outstanding + ${num(delta)} WHERE asset = ${asset}`);
}

/** What the pool still owes the backstop for its draws. */
export async function poolOwes(ex: Executor, poolId: string): Promise<bigint> {
  const rows = await ex.query<{ owed: string }>(sql`SELECT ${owedBy(sql`${poolId}`)} AS owed`);
  return big(rows[0]?.owed ?? '0');
}

/** What the pool `poolId` (a value or a column) still owes the backstop for its draws, as a scalar subquery. */
export function owedBy(poolId: SQL): SQL {
  return sql`(SELECT COALESCE(SUM(d.amount - d.repaid), 0) FROM backstop_draws d WHERE d.pool_id = ${poolId})`;
}

/** Per pool of the asset: gross draws since `since`, and what it still owes the fund (one read). */
export async function drawsByPool(ex: Executor, asset: string, since: number): Promise<Map<string, { drawn: bigint; owed: bigint }>> {
  const rows = await ex.query<{ pool_id: string; drawn: string; owed: string }>(sql`
    SELECT pool_id, COALESCE(SUM(amount) FILTER (WHERE drawn_at > ${ts(since)}), 0) AS drawn, COALESCE(SUM(amount - repaid), 0) AS owed
    FROM backstop_draws WHERE asset = ${asset} GROUP BY pool_id`);
  return new Map(rows.map((r) => [r.pool_id, { drawn: big(r.drawn), owed: big(r.owed) }]));
}

/** Gross draws of the pool in the rolling year before `now`. */
export async function poolDrawnSince(ex: Executor, poolId: string, since: number): Promise<bigint> {
  const rows = await ex.query<{ drawn: string }>(
    sql`SELECT COALESCE(SUM(amount), 0) AS drawn FROM backstop_draws WHERE pool_id = ${poolId} AND drawn_at > ${ts(since)}`,
  );
  return big(rows[0]?.drawn ?? '0');
}

export async function insertDraw(
  ex: Executor,
  d: { incidentId: string; poolId: string; asset: string; amount: bigint; at: number },
): Promise<void> {
  await ex.query(sql`
    INSERT INTO backstop_draws (incident_id, pool_id, asset, amount, drawn_at)
    VALUES (${d.incidentId}, ${d.poolId}, ${d.asset}, ${num(d.amount)}, ${ts(d.at)})`);
}

/** Applies a repayment to the pool's (or the incident's) oldest open draws first. */
export async function repayDraws(ex: Executor, where: { poolId?: string; incidentId?: string }, amount: bigint): Promise<bigint> {
  const rows = await ex.query<{ incident_id: string; pool_id: string; open: string }>(
    where.poolId
      ? sql`SELECT incident_id, pool_id, amount - repaid AS open FROM backstop_draws WHERE pool_id = ${where.poolId} AND repaid < amount ORDER BY drawn_at, incident_id FOR UPDATE`
      : sql`SELECT incident_id, pool_id, amount - repaid AS open FROM backstop_draws WHERE incident_id = ${where.incidentId ?? ''} AND repaid < amount ORDER BY drawn_at, pool_id FOR UPDATE`,
  );
  let left = amount;
  for (const r of rows) {
    if (left <= 0n) break;
    const part = big(r.open) < left ? big(r.open) : left;
    await ex.query(
      sql`UPDATE backstop_draws SET repaid = repaid + ${num(part)} WHERE incident_id = ${r.incident_id} AND pool_id = ${r.pool_id}`,
    );
    left -= part;
  }
  return amount - left;
}

export async function listDraws(ex: Executor, asset: string, limit: number) {
  const rows = await ex.query<{ incident_id: string; pool_id: string; amount: string; repaid: string; drawn_at: Date }>(
    sql`SELECT * FROM backstop_draws WHERE asset = ${asset} ORDER BY drawn_at DESC, incident_id LIMIT ${limit}`,
  );
  return rows.map((r) => ({
    incidentId: r.incident_id,
    poolId: r.pool_id,
    amount: big(r.amount),
    repaid: big(r.repaid),
    drawnAt: ms(r.drawn_at),
  }));
}

/** Serialises the movements of one asset's backstop (draws, IOU repayments, excess). */
export async function lockBackstop(tx: Executor, asset: string): Promise<void> {
  await tx.query(sql`SELECT asset FROM backstop_state WHERE asset = ${asset} FOR UPDATE`);
}

/**
 * Pays IOU holders from an account, oldest incident first and pro rata by what each is
 * still owed within an incident (largest remainder, by policy id). Returns what was paid.
 */
export async function repayIous(
  tx: Executor,
  asset: string,
  from: AccountRef,
  amount: bigint,
  at: number,
  incidentId?: string,
): Promise<bigint> {
  let left = amount;
  const incidents = await tx.query<{ incident_id: string; open: string }>(sql`
    SELECT x.incident_id, SUM(x.due - x.paid - x.iou_repaid) AS open
    FROM payouts x JOIN incidents i ON i.id = x.incident_id JOIN pools pl ON pl.id = x.pool_id
    WHERE x.paid + x.iou_repaid < x.due AND pl.asset = ${asset} ${incidentId ? sql`AND x.incident_id = ${incidentId}` : sql``}
    GROUP BY x.incident_id, i.created_at
    ORDER BY i.created_at, x.incident_id`);
  await tx.query(sql`CREATE TEMP TABLE IF NOT EXISTS iou_parts (policy_id text, buyer text, part numeric) ON COMMIT DROP`);
  for (const inc of incidents) {
    if (left <= 0n) break;
    const open = big(inc.open);
    const pay = open < left ? open : left;
    await tx.query(sql`DELETE FROM iou_parts`);
    await tx.query(sql`
      INSERT INTO iou_parts (policy_id, buyer, part)
      SELECT policy_id, buyer, base + CASE WHEN rn <= remainder THEN 1 ELSE 0 END
      FROM (
        SELECT policy_id, buyer, base, row_number() OVER (ORDER BY frac DESC, policy_id) AS rn, ${pay.toString()}::numeric - SUM(base) OVER () AS remainder
        FROM (
          SELECT policy_id, buyer, div((due - paid - iou_repaid) * ${pay.toString()}::numeric, ${open.toString()}::numeric) AS base,
            mod((due - paid - iou_repaid) * ${pay.toString()}::numeric, ${open.toString()}::numeric) AS frac
          FROM payouts WHERE incident_id = ${inc.incident_id} AND paid + iou_repaid < due
        ) d
      ) r`);
    await tx.query(
      sql`UPDATE payouts x SET iou_repaid = x.iou_repaid + p.part FROM iou_parts p WHERE x.policy_id = p.policy_id AND p.part > 0`,
    );
    await postJournalFromSelect(
      tx,
      { kind: 'IOU_REPAYMENT', at, reference: inc.incident_id },
      sql`
        SELECT ${ledgerAccounts.wallet(asset, '').id} || buyer, 'WALLET', ${asset}, buyer, SUM(part) FROM iou_parts GROUP BY buyer
        UNION ALL
        SELECT ${from.id}, ${from.kind}, ${asset}, ${from.owner}::text, ${(-pay).toString()}::numeric`,
    );
    left -= pay;
  }
  const paid = amount - left;
  await changeIouOutstanding(tx, asset, -paid);
  return paid;
}
