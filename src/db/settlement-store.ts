import { type SQL, sql } from 'drizzle-orm';
import type { IncidentRecord } from '../domain/incident.ts';
import type { Executor } from './create-database.ts';
import { type AccountRef, ledgerAccounts, postJournal } from './ledger.ts';
import { big, ts } from './sql-helpers.ts';
import { WAD } from '../domain/money.ts';

/**
 * The payout rule in SQL: floor(amount x ratio) for a policy row (the same as
 * domain/payout.ts `policyPayout`, which a property test checks it against).
 */
export function payoutDue(amount: SQL, ratio: SQL): SQL {
  return sql`floor(${amount} * ${ratio})`;
}

/**
 * A policy `p` not paid yet: it has no payout row. (Status PAID was written by settlements
 * before migration 0008; the partial index on risk and term serves queries that say so.)
 */
export const unpaid = sql`p.status <> 'PAID' AND NOT EXISTS (SELECT 1 FROM payouts y WHERE y.policy_id = p.id)`;

/** Unpaid policies `p` of the incident's risk that were active at triggeredAt (start <= t < end). */
function claims(incident: IncidentRecord): SQL {
  return sql`p.risk_id = ${incident.riskId} AND ${unpaid} AND COALESCE(p.covered_from, p.start_at) <= ${ts(incident.triggeredAt)} AND p.end_at > ${ts(incident.triggeredAt)}`;
}

/** The claims of the incident held by one pool. */
function eligible(incident: IncidentRecord, poolId: string): SQL {
  return sql`p.pool_id = ${poolId} AND ${claims(incident)}`;
}

/** The pools that hold policies the incident pays. */
export async function poolsToSettle(ex: Executor, incident: IncidentRecord): Promise<string[]> {
  const rows = await ex.query<{ pool_id: string }>(
    sql`SELECT DISTINCT p.pool_id FROM policies p WHERE ${claims(incident)} ORDER BY p.pool_id`,
  );
  return rows.map((r) => r.pool_id);
}

/**
 * The pools holding a claim of the incident whose token may have moved on chain: one minted, or
 * whose mint was sent. Their payouts wait for the token indexer to reach the confirmation; the
 * others' claimants are who the ledger says.
 */
export async function poolsWithTokens(ex: Executor, incident: IncidentRecord): Promise<Set<string>> {
  const rows = await ex.query<{ pool_id: string }>(
    sql`SELECT DISTINCT p.pool_id FROM policies p WHERE ${claims(incident)} AND (p.minted_block IS NOT NULL OR p.mint_sent_at IS NOT NULL)`,
  );
  return new Set(rows.map((r) => r.pool_id));
}

/** Marks the incident settled with its totals; false if it already was. */
export async function markIncidentSettled(ex: Executor, incidentId: string, at: number): Promise<boolean> {
  const updated = await ex.query(sql`
    UPDATE incidents SET status = 'SETTLED', settled_at = ${ts(at)},
      total_due = (SELECT COALESCE(SUM(due), 0) FROM incident_pools WHERE incident_id = ${incidentId}),
      total_paid = (SELECT COALESCE(SUM(paid), 0) FROM incident_pools WHERE incident_id = ${incidentId}),
      policies_paid = (SELECT COUNT(*) FROM payouts WHERE incident_id = ${incidentId})
    WHERE id = ${incidentId} AND status = 'SETTLING' RETURNING id`);
  return updated.length > 0;
}

export async function poolSettled(ex: Executor, incidentId: string, poolId: string): Promise<boolean> {
  return (await ex.query(sql`SELECT 1 FROM incident_pools WHERE incident_id = ${incidentId} AND pool_id = ${poolId}`)).length > 0;
}

/**
 * What the claims release: their policies' earning rate, the rest of their premium (wad) to
 * earn now, and their exposure by risk and correlation group.
 */
export async function claimsRelease(ex: Executor, incident: IncidentRecord, poolId: string, now: number) {
  const where = eligible(incident, poolId);
  const earning = await ex.query<{ rate: string; rest: string }>(sql`
    SELECT COALESCE(SUM(p.earning_rate_wad), 0) AS rate,
      COALESCE(SUM((p.premium - p.skim - p.repayment - p.curator_fee) * ${WAD.toString()}::numeric - p.earning_rate_wad * floor(extract(epoch FROM (${ts(now)} - p.start_at)) * 1000)), 0) AS rest
    FROM policies p WHERE ${where} AND p.status = 'ACTIVE'`);
  const released = await ex.query<{ risk_id: string; correlation_group: string; exposure: string }>(sql`
    SELECT p.risk_id, r.correlation_group, SUM(p.exposure) AS exposure
    FROM policies p JOIN risks r ON r.id = p.risk_id
    WHERE ${where} AND p.status = 'ACTIVE'
    GROUP BY p.risk_id, r.correlation_group`);
  return {
    rateWad: big(earning[0]?.rate ?? '0'),
    restWad: big(earning[0]?.rest ?? '0'),
    released: released.map((r) => ({ riskId: r.risk_id, correlationGroup: r.correlation_group, exposure: big(r.exposure) })),
  };
}

/** Σ of what the pool's claims are due. */
export async function claimsDue(ex: Executor, incident: IncidentRecord, poolId: string): Promise<bigint> {
  const rows = await ex.query<{ due: string }>(
    sql`SELECT COALESCE(SUM(${payoutDue(sql`p.amount`, sql`${incident.payoutRatio}::numeric`)}), 0) AS due FROM policies p WHERE ${eligible(incident, poolId)}`,
  );
  return big(rows[0]?.due ?? '0');
}

/**
 * Writes the claims' payouts in one statement: each gets its share of `paid` by largest
 * remainder, ordered by policy id, so the parts sum exactly; due - paid is the claimant's
 * IOU. The payout row is the policy's paid state: the policy row itself is not rewritten.
 * Its `seq` (1..n, in policy id order) is the order the claims are credited to wallets in.
 */
export async function writePayouts(
  ex: Executor,
  incident: IncidentRecord,
  poolId: string,
  paid: bigint,
  totalDue: bigint,
  now: number,
): Promise<void> {
  const due = payoutDue(sql`p.amount`, sql`${incident.payoutRatio}::numeric`);
  // The payee: who held the policy when the incident confirmed (a transfer after it does not redirect the payout).
  const payee = sql`COALESCE((SELECT t.to_address FROM policy_transfers t
    WHERE t.policy_id = p.id AND t.at <= ${ts(incident.confirmedAt)} ORDER BY t.seq DESC LIMIT 1), p.buyer)`;
  const columns = sql`INSERT INTO payouts (incident_id, policy_id, pool_id, buyer, due, paid, created_at, seq)`;
  // Rows go in in policy id order, numbered in that order: both the primary key and the
  // (incident, pool, seq) index then grow at their right edge instead of at random pages.
  if (paid === totalDue) {
    // Paid in full: nothing to rank.
    await ex.query(sql`${columns}
      SELECT ${incident.id}, p.id, ${poolId}, ${payee}, ${due}, ${due}, ${ts(now)}, row_number() OVER (ORDER BY p.id)
      FROM policies p WHERE ${eligible(incident, poolId)}`);
    return;
  }
  const divisor = totalDue > 0n ? totalDue : 1n;
  await ex.query(sql`
    WITH claims AS (
      SELECT p.id, ${payee} AS buyer, ${due} AS due FROM policies p WHERE ${eligible(incident, poolId)}
    ), shares AS (
      SELECT id, buyer, due, div(due * ${paid.toString()}::numeric, ${divisor.toString()}::numeric) AS base,
        mod(due * ${paid.toString()}::numeric, ${divisor.toString()}::numeric) AS frac
      FROM claims
    ), ranked AS (
      SELECT id, buyer, due, base, row_number() OVER (ORDER BY frac DESC, id) AS rn, ${paid.toString()}::numeric - SUM(base) OVER () AS remainder
      FROM shares
    )
    ${columns}
    SELECT ${incident.id}, id, ${poolId}, buyer, due, base + CASE WHEN rn <= remainder THEN 1 ELSE 0 END, ${ts(now)}, row_number() OVER (ORDER BY id)
    FROM ranked`);
}

/**
 * The pool's payout journal entry: the layers that paid (`takes`) into the asset's claims
 * payable, one posting per layer whatever the number of claimants; the claims are credited
 * to wallets afterwards (claims-store.ts). Idempotent per incident and pool.
 */
export async function postPayoutJournal(
  ex: Executor,
  p: { incidentId: string; poolId: string; asset: string; at: number; takes: ReadonlyArray<{ account: AccountRef; amount: bigint }> },
): Promise<string | null> {
  const paid = p.takes.reduce((s, t) => s + t.amount, 0n);
  return postJournal(ex, {
    kind: 'PAYOUT',
    at: p.at,
    reference: p.incidentId,
    idempotencyKey: `payout:${p.incidentId}:${p.poolId}`,
    postings: [
      ...p.takes.map((t) => ({ account: t.account, amount: -t.amount })),
      { account: ledgerAccounts.claimsPayable(p.asset), amount: paid },
    ],
  });
}

/** One row per waterfall layer of the pool, with share prices before and after. */
export async function insertIncidentLayers(
  ex: Executor,
  incidentId: string,
  poolId: string,
  rows: ReadonlyArray<{ layer: string; amount: bigint; priceBefore: string | null; priceAfter: string | null }>,
): Promise<void> {
  if (rows.length === 0) return;
  await ex.query(sql`
    INSERT INTO incident_layers (incident_id, pool_id, layer, amount, share_price_before, share_price_after)
    VALUES ${sql.join(
      rows.map(
        (r) =>
          sql`(${incidentId}, ${poolId}, ${r.layer}, ${r.amount.toString()}::numeric, ${r.priceBefore}::numeric, ${r.priceAfter}::numeric)`,
      ),
      sql`, `,
    )}`);
}

export async function insertIncidentPool(
  ex: Executor,
  r: { incidentId: string; poolId: string; due: bigint; paid: bigint; journalEntryId: string | null; at: number },
): Promise<void> {
  await ex.query(sql`
    INSERT INTO incident_pools (incident_id, pool_id, due, paid, journal_entry_id, settled_at, credited_at)
    VALUES (${r.incidentId}, ${r.poolId}, ${r.due.toString()}::numeric, ${r.paid.toString()}::numeric, ${r.journalEntryId}, ${ts(r.at)},
      ${r.paid === 0n ? ts(r.at) : null})`);
}

/** Σ due of the claims of confirmed incidents not yet settled (of one pool, or all). */
export async function unsettledClaims(ex: Executor, poolId: string | null): Promise<bigint> {
  const rows = await ex.query<{ due: string }>(sql`
    SELECT COALESCE(SUM(${payoutDue(sql`p.amount`, sql`i.payout_ratio`)}), 0) AS due
    FROM incidents i JOIN policies p ON p.risk_id = i.risk_id
    WHERE i.status = 'SETTLING' AND ${unpaid} AND COALESCE(p.covered_from, p.start_at) <= i.triggered_at AND p.end_at > i.triggered_at
      ${poolId ? sql`AND p.pool_id = ${poolId}` : sql``}`);
  return big(rows[0]?.due ?? '0');
}
