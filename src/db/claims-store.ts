import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { accountBalance, ledgerAccounts, postJournal, postJournalFromSelect } from './ledger.ts';
import { big, ms, ts } from './sql-helpers.ts';

/**
 * The claims sub-ledger (docs/design.md §6, migration 0008). A settlement pays a pool's
 * claims into the asset's claims-payable account in one posting per layer and writes one
 * payout row per policy; the payouts are credited to the buyers' wallets afterwards:
 *
 * - in batches in `seq` order (1..n within the incident pool, in policy id order), per
 *   incident and pool (`creditClaimsBatch`): `incident_pools.credited_through` is the last
 *   seq credited, `credited_at` is set when all are;
 * - at once for one buyer (`creditClaimsOf`), before that buyer's wallet is spent, marking
 *   each payout it credits (`payouts.credited_entry_id`).
 *
 * @invariant the claims-payable balance of an asset is the sum of its uncredited payouts, and
 * a buyer's balance (`walletBalance`) is the wallet account plus its uncredited payouts, so a
 * payout is the buyer's money from the moment its settlement commits, credited or not.
 */

/** Payout `y` of incident pool `ip` is not yet in its buyer's wallet. */
export const uncredited = sql`ip.credited_at IS NULL AND (ip.credited_through IS NULL OR y.seq > ip.credited_through) AND y.credited_entry_id IS NULL`;

/** The owner's uncredited payouts in `asset` (a payout's `buyer` is its payee: the policy's holder at the confirmation). */
function ownClaims(asset: string, owner: string, columns: SQL): SQL {
  return sql`SELECT ${columns} FROM payouts y
    JOIN incident_pools ip ON ip.incident_id = y.incident_id AND ip.pool_id = y.pool_id
    JOIN pools pl ON pl.id = ip.pool_id AND pl.asset = ${asset}
    WHERE y.buyer = ${owner} AND ${uncredited} AND y.paid > 0`;
}

/** What the owner holds in `asset` on the platform: the wallet account and the payouts not yet credited to it. */
export async function walletBalance(ex: Executor, asset: string, owner: string): Promise<bigint> {
  const rows = await ex.query<{ total: string }>(sql`
    SELECT COALESCE((SELECT balance FROM accounts WHERE id = ${ledgerAccounts.wallet(asset, owner).id}), 0)
      + (${ownClaims(asset, owner, sql`COALESCE(SUM(y.paid), 0)`)}) AS total`);
  return big(rows[0]?.total ?? '0');
}

/** The incident pools of `asset` whose payouts are not all credited to wallets yet. */
const openIncidentPools = (asset: string) =>
  sql`SELECT 1 FROM incident_pools ip JOIN pools pl ON pl.id = ip.pool_id AND pl.asset = ${asset} WHERE ip.credited_at IS NULL`;

/**
 * Locks an owner's wallet (FOR UPDATE) and reads its balance, once the owner's claims settled
 * but not yet credited are credited to it (creditClaimsOf): one round trip in the usual case,
 * when no incident waits to be credited. A sale reads its buyer's wallet so.
 */
export async function creditedWallet(tx: Executor, asset: string, owner: string, now: number): Promise<bigint> {
  const wallet = ledgerAccounts.wallet(asset, owner).id;
  const [row] = await tx.query<{ balance: string | null; open: boolean }>(
    sql`WITH w AS (SELECT balance FROM accounts WHERE id = ${wallet} FOR UPDATE)
      SELECT (SELECT balance FROM w) AS balance, EXISTS (${openIncidentPools(asset)}) AS open`,
    { prepare: true },
  );
  if (row?.open && (await creditClaimsOf(tx, asset, owner, now)) > 0n) return accountBalance(tx, wallet, true);
  return big(row?.balance ?? '0');
}

/**
 * Credits the owner's uncredited payouts in `asset` to its wallet, inside the caller's
 * transaction, before the wallet is spent. Waits for a batch crediting the same incident
 * pool (share lock on it), and locks the payouts it credits, so a payout is credited once.
 */
export async function creditClaimsOf(tx: Executor, asset: string, owner: string, now: number): Promise<bigint> {
  const open = await tx.query(sql`${openIncidentPools(asset)} FOR SHARE OF ip`, { prepare: true });
  if (open.length === 0) return 0n;
  const rows = await tx.query<{ policy_id: string; paid: string }>(
    sql`${ownClaims(asset, owner, sql`y.policy_id, y.paid`)} ORDER BY y.policy_id FOR UPDATE OF y`,
  );
  if (rows.length === 0) return 0n;
  const total = rows.reduce((s, r) => s + big(r.paid), 0n);
  const entry = await postJournal(tx, {
    kind: 'PAYOUT_CREDITED',
    at: now,
    reference: owner,
    postings: [
      { account: ledgerAccounts.claimsPayable(asset), amount: -total },
      { account: ledgerAccounts.wallet(asset, owner), amount: total },
    ],
  });
  await tx.query(
    sql`UPDATE payouts SET credited_entry_id = ${entry} WHERE policy_id IN (${sql.join(
      rows.map((r) => sql`${r.policy_id}`),
      sql`, `,
    )})`,
  );
  return total;
}

export interface UncreditedPool {
  incidentId: string;
  poolId: string;
  asset: string;
}

/** The settled incident pools whose payouts are not all credited yet, oldest first. */
export async function uncreditedPools(ex: Executor, limit = 100): Promise<UncreditedPool[]> {
  const rows = await ex.query<{ incident_id: string; pool_id: string; asset: string }>(sql`
    SELECT ip.incident_id, ip.pool_id, pl.asset FROM incident_pools ip JOIN pools pl ON pl.id = ip.pool_id
    WHERE ip.credited_at IS NULL ORDER BY ip.settled_at, ip.incident_id, ip.pool_id LIMIT ${limit}`);
  return rows.map((r) => ({ incidentId: r.incident_id, poolId: r.pool_id, asset: r.asset }));
}

/**
 * Credits the next batch of an incident pool's payouts to wallets: the next `size` after
 * `credited_through` in seq order, in one journal entry (one posting per buyer, one from
 * claims payable). Returns whether the pool is fully credited. Idempotent per batch.
 */
export async function creditClaimsBatch(tx: Executor, pool: UncreditedPool, size: number, now: number): Promise<boolean> {
  const state = await tx.query<{ credited_through: number | null; credited_at: Date | null }>(sql`
    SELECT credited_through, credited_at FROM incident_pools
    WHERE incident_id = ${pool.incidentId} AND pool_id = ${pool.poolId} FOR UPDATE`);
  const row = state[0];
  if (!row || row.credited_at !== null) return true;
  const mine = sql`y.incident_id = ${pool.incidentId} AND y.pool_id = ${pool.poolId}`;
  const from = Number(row.credited_through ?? 0);
  const upTo = from + Math.max(1, size);
  const range = sql`${mine} AND y.seq > ${from} AND y.seq <= ${upTo} AND y.credited_entry_id IS NULL AND y.paid > 0`;
  const claims = ledgerAccounts.claimsPayable(pool.asset);
  await postJournalFromSelect(
    tx,
    { kind: 'PAYOUT_CREDITED', at: now, reference: pool.incidentId, idempotencyKey: `claims:${pool.incidentId}:${pool.poolId}:${upTo}` },
    sql`SELECT ${ledgerAccounts.wallet(pool.asset, '').id} || y.buyer, 'WALLET', ${pool.asset}, y.buyer, SUM(y.paid) FROM payouts y WHERE ${range} GROUP BY y.buyer
        UNION ALL
        SELECT ${claims.id}, ${claims.kind}, ${pool.asset}, NULL::text, -SUM(y.paid) FROM payouts y WHERE ${range}`,
  );
  const done = (await tx.query(sql`SELECT 1 FROM payouts y WHERE ${mine} AND y.seq > ${upTo} LIMIT 1`)).length === 0;
  await tx.query(sql`
    UPDATE incident_pools SET credited_through = ${upTo}, credited_at = ${done ? ts(now) : null}
    WHERE incident_id = ${pool.incidentId} AND pool_id = ${pool.poolId}`);
  return done;
}

/** Marks an incident pool's payouts credited at once (with money on chain they leave through pending outbound instead). */
export async function markPoolCredited(tx: Executor, incidentId: string, poolId: string, now: number): Promise<void> {
  await tx.query(sql`UPDATE incident_pools SET credited_at = ${ts(now)} WHERE incident_id = ${incidentId} AND pool_id = ${poolId}`);
}

/** How many settled incident pools still have payouts to credit, and since when the oldest waits. */
export async function creditingBacklog(ex: Executor): Promise<{ count: number; oldestAt: number | null }> {
  const rows = await ex.query<{ n: string | number; oldest: Date | null }>(
    sql`SELECT COUNT(*) AS n, MIN(settled_at) AS oldest FROM incident_pools WHERE credited_at IS NULL`,
  );
  const row = rows[0];
  return { count: Number(row?.n ?? 0), oldestAt: row?.oldest ? ms(row.oldest) : null };
}
