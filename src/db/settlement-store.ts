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
  // A policy is sold only by a pool backing its risk (pool_risks, never deleted): each such
  // pool is asked for one claim, not every claim scanned for its pool.
  const rows = await ex.query<{ pool_id: string }>(
    sql`SELECT pr.pool_id FROM pool_risks pr WHERE pr.risk_id = ${incident.riskId}
      AND (SELECT 1 FROM policies p WHERE p.pool_id = pr.pool_id AND ${claims(incident)} LIMIT 1) IS NOT NULL ORDER BY pr.pool_id`,
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
      policies_paid = (SELECT COUNT(DISTINCT split_part(policy_id, '.', 1)) FROM payouts WHERE incident_id = ${incidentId})
    WHERE id = ${incidentId} AND status = 'SETTLING' RETURNING id`);
  return updated.length > 0;
}

export async function poolSettled(ex: Executor, incidentId: string, poolId: string): Promise<boolean> {
  return (await ex.query(sql`SELECT 1 FROM incident_pools WHERE incident_id = ${incidentId} AND pool_id = ${poolId}`)).length > 0;
}

/**
 * What the claims release and what they are due, in one scan of the pool's claims (a large
 * incident's settlement reads its policies once here and once to write the payouts): their
 * policies' earning rate, the rest of their premium (wad) to earn now, and their exposure by
 * risk and correlation group (policies still ACTIVE), and Σ of what they are due (all).
 */
export async function claimsRelease(ex: Executor, incident: IncidentRecord, poolId: string, now: number) {
  // An incident's claims are all of its risk: one aggregate row, the risk's group read once.
  // The rest of the premium, Σ (net premium x WAD - rate x whole ms since the start), is summed
  // as Σ net x WAD - (now x Σ rate - Σ rate x ceil(start)), the same for a whole `now` (ms):
  // fewer numeric operations a row.
  const active = sql`p.status = 'ACTIVE'`;
  const [row] = await ex.query<{
    correlation_group: string;
    exposure: string | null;
    net: string | null;
    rate: string | null;
    started: string | null;
    due: string | null;
  }>(sql`
    SELECT (SELECT correlation_group FROM risks WHERE id = ${incident.riskId}) AS correlation_group,
      SUM(p.exposure) FILTER (WHERE ${active}) AS exposure,
      SUM(p.premium - p.skim - p.repayment - p.curator_fee) FILTER (WHERE ${active}) AS net,
      SUM(p.earning_rate_wad) FILTER (WHERE ${active}) AS rate,
      SUM(p.earning_rate_wad * ceil(extract(epoch FROM p.start_at) * 1000)) FILTER (WHERE ${active}) AS started,
      SUM(${payoutDue(sql`p.amount`, sql`${incident.payoutRatio}::numeric`)}) AS due
    FROM policies p
    WHERE ${eligible(incident, poolId)}`);
  const rate = big(row?.rate ?? '0');
  return {
    rateWad: rate,
    restWad: big(row?.net ?? '0') * WAD - (BigInt(now) * rate - big(row?.started ?? '0')),
    released:
      row?.exposure == null ? [] : [{ riskId: incident.riskId, correlationGroup: row.correlation_group, exposure: big(row.exposure) }],
    due: big(row?.due ?? '0'),
  };
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
  // The payee: who held the policy when the incident confirmed (a transfer after it does not
  // redirect the payout); a part in another pool or on another risk is its lead's, held with it.
  const payee = sql`COALESCE((SELECT t.to_address FROM policy_transfers t
    WHERE t.policy_id = COALESCE(p.lead_id, p.id) AND t.at <= ${ts(incident.confirmedAt)} ORDER BY t.seq DESC LIMIT 1), p.buyer)`;
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
