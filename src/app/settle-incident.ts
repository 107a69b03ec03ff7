import { sql } from 'drizzle-orm';
import type { Executor } from '../db/create-database.ts';
import { type IncidentRecord, findIncident } from '../db/incident-store.ts';
import { changeIouOutstanding, insertDraw, loadBackstop, poolDrawnSince } from '../db/backstop-store.ts';
import { publish } from '../db/events.ts';
import { ledgerAccounts, postJournal, postJournalFromSelect } from '../db/ledger.ts';
import { applyPoolAggregates, loadTranches } from '../db/pool-store.ts';
import { decimalString, ratio } from '../domain/decimal.ts';
import { runWaterfall } from '../domain/waterfall.ts';
import { big, ts } from '../db/sql-helpers.ts';
import { WAD } from '../domain/money.ts';
import type { Deps } from './deps.ts';
import { checkpointPool, incomePostings, loadPoolSnapshot, splitIncome } from './pool-state.ts';
import { lockBackstop } from './backstop.ts';

/** Test seam: called after each step of a pool's settlement, so tests can crash it there. */
export type SettlementProbe = (step: 'premium' | 'payouts' | 'journal', poolId: string) => void | Promise<void>;

const YEAR_MS = 365 * 86_400_000;

/**
 * Pays every policy of the incident's risk that was active at `triggeredAt`
 * (start <= triggeredAt < end): amount x payout ratio, rounded down, credited to the
 * buyer's wallet from the pool's capital. One transaction per pool, set-based (a few
 * statements whatever the number of policies).
 *
 * @invariant each policy is paid at most once ever (payouts: primary key per incident and
 * policy, unique per policy), and a pool's part commits whole or not at all, so re-running
 * after a crash at any point completes the settlement without double or missing payouts.
 */
export async function settleIncident(deps: Deps, incidentId: string, probe?: SettlementProbe): Promise<IncidentRecord | undefined> {
  const started = performance.now();
  const incident = await findIncident(deps.db, incidentId);
  if (!incident || incident.status === 'SETTLED') return incident;
  // A confirmed episode whose settlement value pays nothing (e.g. it recovered at the
  // confirming observation) consumes no cover.
  const pools =
    Number(incident.payoutRatio) === 0
      ? []
      : await deps.db.query<{ pool_id: string }>(sql`
    SELECT DISTINCT pool_id FROM policies
    WHERE risk_id = ${incident.riskId} AND start_at <= ${ts(incident.triggeredAt)} AND end_at > ${ts(incident.triggeredAt)} AND status <> 'PAID'
    ORDER BY pool_id`);
  for (const { pool_id } of pools) {
    await deps.db.transaction((tx) => settlePool(deps, tx, incident, pool_id, probe));
  }
  await deps.db.transaction(async (tx) => {
    const updated = await tx.query(sql`
      UPDATE incidents SET status = 'SETTLED', settled_at = ${ts(deps.clock.now())},
        total_due = (SELECT COALESCE(SUM(due), 0) FROM incident_pools WHERE incident_id = ${incidentId}),
        total_paid = (SELECT COALESCE(SUM(paid), 0) FROM incident_pools WHERE incident_id = ${incidentId}),
        policies_paid = (SELECT COUNT(*) FROM payouts WHERE incident_id = ${incidentId})
      WHERE id = ${incidentId} AND status = 'SETTLING' RETURNING id`);
    if (updated.length > 0) await publish(tx, { type: 'incident', incidentId, status: 'SETTLED' });
  });
  const settled = await findIncident(deps.db, incidentId);
  deps.metrics.observe('settlement_seconds', (performance.now() - started) / 1000);
  deps.metrics.count('payouts', {}, settled?.policiesPaid ?? 0);
  return settled;
}

async function settlePool(deps: Deps, tx: Executor, incident: IncidentRecord, poolId: string, probe?: SettlementProbe): Promise<void> {
  const now = deps.clock.now();
  const snap = await loadPoolSnapshot(tx, poolId, now, { lock: true });
  const done = await tx.query(sql`SELECT 1 FROM incident_pools WHERE incident_id = ${incident.id} AND pool_id = ${poolId}`);
  if (done.length > 0) return;
  await checkpointPool(tx, snap);
  const byRatio = sql`${incident.payoutRatio}::numeric`;
  const eligible = sql`p.pool_id = ${poolId} AND p.risk_id = ${incident.riskId} AND p.status <> 'PAID'
    AND p.start_at <= ${ts(incident.triggeredAt)} AND p.end_at > ${ts(incident.triggeredAt)}`;

  // A paid policy's cover is used up: it stops earning (the rest of its premium is earned
  // now) and its exposure is released.
  const earning = await tx.query<{ rate: string; rest: string }>(sql`
    SELECT COALESCE(SUM(p.earning_rate_wad), 0) AS rate,
      COALESCE(SUM((p.premium - p.skim - p.repayment) * ${WAD.toString()}::numeric - p.earning_rate_wad * floor(extract(epoch FROM (${ts(now)} - p.start_at)) * 1000)), 0) AS rest
    FROM policies p WHERE ${eligible} AND p.status = 'ACTIVE'`);
  const released = await tx.query<{ risk_id: string; correlation_group: string; exposure: string }>(sql`
    SELECT p.risk_id, r.correlation_group, SUM(p.exposure) AS exposure
    FROM policies p JOIN risks r ON r.id = p.risk_id
    WHERE ${eligible} AND p.status = 'ACTIVE'
    GROUP BY p.risk_id, r.correlation_group`);
  const carry = snap.accrual.carryWad + big(earning[0]?.rest ?? '0');
  const riskDeltas = new Map<string, bigint>();
  const groupDeltas = new Map<string, bigint>();
  let releasedTotal = 0n;
  for (const r of released) {
    const e = big(r.exposure);
    riskDeltas.set(r.risk_id, (riskDeltas.get(r.risk_id) ?? 0n) - e);
    groupDeltas.set(r.correlation_group, (groupDeltas.get(r.correlation_group) ?? 0n) - e);
    releasedTotal += e;
  }
  await applyPoolAggregates(tx, poolId, {
    accrual: { rateWad: snap.accrual.rateWad - big(earning[0]?.rate ?? '0'), carryWad: carry % WAD, accruedAt: now },
    totalExposure: snap.totalExposure - releasedTotal,
    riskDeltas,
    groupDeltas,
  });
  const asset = snap.pool.asset;
  const income = carry / WAD;
  if (income > 0n) {
    await postJournal(tx, {
      kind: 'PREMIUM_EARNED',
      at: now,
      reference: incident.id,
      postings: incomePostings(
        snap.pool,
        splitIncome(snap.pool, await loadTranches(tx, poolId), income),
        ledgerAccounts.unearnedPremium(asset, poolId),
      ),
    });
  }
  await probe?.('premium', poolId);

  // The loss goes through the waterfall (docs/design.md §6): first-loss, junior, senior, a capped
  // backstop draw; what is left is a pro-rata haircut of this incident's claimants here.
  const totals = await tx.query<{ due: string }>(
    sql`SELECT COALESCE(SUM(floor(p.amount * ${byRatio})), 0) AS due FROM policies p WHERE ${eligible}`,
  );
  const totalDue = big(totals[0]?.due ?? '0');
  const tranches = await loadTranches(tx, poolId);
  await lockBackstop(tx, asset);
  const backstop = await loadBackstop(tx, asset);
  const waterfall = runWaterfall({
    due: totalDue,
    tranches: tranches.map((t) => ({ tranche: t.tranche, assets: t.balance })),
    backstopBalance: backstop.balance,
    poolDrawnThisYear: await poolDrawnSince(tx, poolId, now - YEAR_MS),
    limits: deps.config.solvency.backstopLimits,
  });
  const paid = waterfall.paid;

  // Each claimant gets its share of what the layers paid, by largest remainder ordered by
  // policy id, so the parts sum exactly (with enough money, every claim in full). The
  // unpaid rest (due - paid) is the claimant's IOU. The policies are marked PAID in the
  // same statement that writes their payouts.
  const divisor = totalDue > 0n ? totalDue : 1n;
  await tx.query(sql`
    WITH claims AS (
      UPDATE policies p SET status = 'PAID' WHERE ${eligible}
      RETURNING p.id, p.buyer, floor(p.amount * ${byRatio}) AS due
    ), shares AS (
      SELECT id, buyer, due, div(due * ${paid.toString()}::numeric, ${divisor.toString()}::numeric) AS base,
        mod(due * ${paid.toString()}::numeric, ${divisor.toString()}::numeric) AS frac
      FROM claims
    ), ranked AS (
      SELECT id, buyer, due, base, row_number() OVER (ORDER BY frac DESC, id) AS rn, ${paid.toString()}::numeric - SUM(base) OVER () AS remainder
      FROM shares
    )
    INSERT INTO payouts (incident_id, policy_id, pool_id, buyer, due, paid, created_at)
    SELECT ${incident.id}, id, ${poolId}, buyer, due, base + CASE WHEN rn <= remainder THEN 1 ELSE 0 END, ${ts(now)}
    FROM ranked`);
  await probe?.('payouts', poolId);

  const takes = waterfall.rows.filter((r) => r.amount > 0n && r.layer !== 'HAIRCUT');
  const sources = takes.map((r) =>
    r.layer === 'BACKSTOP'
      ? sql`(${ledgerAccounts.backstop(asset).id}, 'BACKSTOP', ${asset}, ${null}::text, ${(-r.amount).toString()}::numeric)`
      : sql`(${ledgerAccounts.tranche(asset, poolId, r.layer).id}, 'TRANCHE', ${asset}, ${poolId}, ${(-r.amount).toString()}::numeric)`,
  );
  const mine = sql`x.incident_id = ${incident.id} AND x.pool_id = ${poolId}`;
  const walletPrefix = ledgerAccounts.wallet(asset, '').id;
  const entryId = await postJournalFromSelect(
    tx,
    { kind: 'PAYOUT', at: now, reference: incident.id, idempotencyKey: `payout:${incident.id}:${poolId}` },
    sources.length === 0
      ? sql`SELECT ${walletPrefix} || x.buyer, 'WALLET', ${asset}, x.buyer, SUM(x.paid) FROM payouts x WHERE ${mine} GROUP BY x.buyer`
      : sql`
      SELECT ${walletPrefix} || x.buyer, 'WALLET', ${asset}, x.buyer, SUM(x.paid) FROM payouts x WHERE ${mine} GROUP BY x.buyer
      UNION ALL
      SELECT * FROM (VALUES ${sql.join(sources, sql`, `)}) AS s(account_id, kind, asset, owner, amount)`,
  );
  const price = (assets: bigint, shares: bigint) => decimalString(ratio(assets + 1n, shares + 1n), 18);
  const layers = waterfall.rows.map((row) => {
    const t = tranches.find((x) => x.tranche === row.layer);
    return sql`(${incident.id}, ${poolId}, ${row.layer}, ${row.amount.toString()}::numeric,
      ${t ? price(t.balance, t.totalShares) : null}::numeric, ${t ? price(t.balance - row.amount, t.totalShares) : null}::numeric)`;
  });
  if (layers.length > 0) {
    await tx.query(sql`
      INSERT INTO incident_layers (incident_id, pool_id, layer, amount, share_price_before, share_price_after)
      VALUES ${sql.join(layers, sql`, `)}`);
  }
  if (waterfall.backstopDraw > 0n)
    await insertDraw(tx, { incidentId: incident.id, poolId, asset, amount: waterfall.backstopDraw, at: now });
  await changeIouOutstanding(tx, asset, waterfall.haircut);
  await tx.query(sql`
    INSERT INTO incident_pools (incident_id, pool_id, due, paid, journal_entry_id, settled_at)
    VALUES (${incident.id}, ${poolId}, ${totalDue.toString()}::numeric, ${paid.toString()}::numeric, ${entryId}, ${ts(now)})`);
  await publish(tx, { type: 'payouts', incidentId: incident.id, poolId });
  await probe?.('journal', poolId);
}
