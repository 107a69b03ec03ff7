import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { big, ms, ts } from './sql-helpers.ts';
import type { TrancheMove } from '../domain/earnings.ts';

/**
 * Every posting to a tranche's account, oldest first, read from the journal: a deposit's
 * owner is the wallet it came from and its shares are in the entry's memo; a withdrawal's
 * owner is its request's. Losses are the PAYOUT entries (their reference is the incident).
 */
export async function trancheMoves(db: Executor, trancheAccountId: string): Promise<TrancheMove[]> {
  const rows = await db.query<{
    kind: string;
    reference: string | null;
    shares: string | null;
    amount: string;
    at: unknown;
    owner: string | null;
  }>(sql`
    SELECT e.kind, e.reference, e.memo->>'shares' AS shares, p.amount, e.created_at AS at,
      CASE e.kind
        WHEN 'DEPOSIT' THEN (SELECT a.owner FROM postings w JOIN accounts a ON a.id = w.account_id
                             WHERE w.entry_id = e.id AND a.kind = 'WALLET' LIMIT 1)
        WHEN 'WITHDRAWAL' THEN (SELECT r.owner FROM withdrawal_requests r WHERE r.id = e.reference)
      END AS owner
    FROM postings p JOIN journal_entries e ON e.id = p.entry_id
    WHERE p.account_id = ${trancheAccountId}
    ORDER BY p.id`);
  const postings = rows.map((r): TrancheMove => {
    const at = ms(r.at);
    const amount = big(r.amount);
    if ((r.kind === 'DEPOSIT' || r.kind === 'WITHDRAWAL') && r.owner && r.shares)
      return { kind: r.kind, at, amount, shares: big(r.shares), owner: r.owner };
    const kind = r.kind === 'PREMIUM_EARNED' ? 'PREMIUM' : r.kind === 'PAYOUT' ? 'LOSS' : r.kind === 'RECOVERY' ? 'RECOVERY' : 'OTHER';
    return { kind, at, amount, incidentId: kind === 'LOSS' ? r.reference : null };
  });
  // Shares handed on between holders, in time among the postings (after those of the same
  // instant): signed transfers, and shares issued as position tokens (to the token contract's
  // position) and redeemed from them (to the burner), each at its value at that moment.
  const [, poolId, tranche] = trancheAccountId.split(':');
  const pool = poolId ?? '';
  const named = tranche ?? '';
  // Shares a cancelled or lapsed withdrawal gave back (burnt), and shares a deep reorg's undone
  // redemption left with its holder (minted) or a later redemption repaid (burnt), are among them.
  const transfers = await db.query<{
    kind: 'TRANSFER' | 'GIVE_BACK' | 'ADJUST';
    at: unknown;
    from_owner: string;
    to_owner: string | null;
    shares: string;
    value: string;
    kept: string | null;
  }>(sql`
    SELECT kind, at, from_owner, to_owner, shares, value, kept FROM (
      SELECT 'TRANSFER' AS kind, at, from_owner, to_owner, shares, value, seq AS n, NULL::numeric AS kept
      FROM position_transfers WHERE pool_id = ${pool} AND tranche = ${named}
      UNION ALL
      SELECT 'TRANSFER', requested_at, owner, contract, shares, value, 0, NULL FROM position_token_issues WHERE pool_id = ${pool} AND tranche = ${named}
      UNION ALL
      SELECT 'TRANSFER', at, contract, holder, shares, value, log_index, NULL
      FROM position_token_redemptions WHERE pool_id = ${pool} AND tranche = ${named}
      UNION ALL
      SELECT 'GIVE_BACK', given_back_at, owner, NULL, given_back_shares, given_back_value, 0, shares - given_back_shares
      FROM withdrawal_requests WHERE pool_id = ${pool} AND tranche = ${named} AND given_back_at IS NOT NULL
      UNION ALL
      SELECT 'ADJUST', at, holder, NULL, shares, 0, 1000000 + id, NULL
      FROM position_token_shortfalls WHERE pool_id = ${pool} AND tranche = ${named}
    ) t ORDER BY at, from_owner, n`);
  if (transfers.length === 0) return postings;
  const moves: TrancheMove[] = [];
  let next = 0;
  for (const t of transfers) {
    const at = ms(t.at);
    while (next < postings.length && (postings[next] as TrancheMove).at <= at) moves.push(postings[next++] as TrancheMove);
    const [shares, value] = [big(t.shares), big(t.value)];
    if (t.kind === 'ADJUST') moves.push({ kind: 'ADJUST', at, owner: t.from_owner, shares });
    else if (t.kind === 'GIVE_BACK') moves.push({ kind: 'GIVE_BACK', at, owner: t.from_owner, shares, value, kept: big(t.kept ?? '0') });
    else moves.push({ kind: 'TRANSFER', at, from: t.from_owner, to: t.to_owner as string, shares, value });
  }
  return moves.concat(postings.slice(next));
}

/** Premium earned by a pool's tranches per UTC day since `since` (days without any are absent). */
export async function premiumEarnedByDay(db: Executor, poolId: string, since: number): Promise<Array<{ day: number; amount: bigint }>> {
  const rows = await db.query<{ day: unknown; amount: string }>(sql`
    SELECT date_trunc('day', e.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, SUM(p.amount) AS amount
    FROM postings p JOIN journal_entries e ON e.id = p.entry_id JOIN accounts a ON a.id = p.account_id
    WHERE a.kind = 'TRANCHE' AND a.owner = ${poolId} AND e.kind = 'PREMIUM_EARNED' AND e.created_at >= ${ts(since)}
    GROUP BY 1 ORDER BY 1`);
  return rows.map((r) => ({ day: ms(r.day), amount: big(r.amount) }));
}

/** What each incident took from a pool, layer by layer, newest first. */
export async function poolLosses(
  db: Executor,
  poolId: string,
): Promise<Array<{ incidentId: string; at: number; layer: string; amount: bigint }>> {
  const rows = await db.query<{ incident_id: string; at: unknown; layer: string; amount: string }>(sql`
    SELECT l.incident_id, i.created_at AS at, l.layer, l.amount
    FROM incident_layers l JOIN incidents i ON i.id = l.incident_id
    WHERE l.pool_id = ${poolId} AND l.amount > 0
    ORDER BY i.created_at DESC, l.incident_id,
      CASE l.layer WHEN 'FIRST_LOSS' THEN 0 WHEN 'JUNIOR' THEN 1 WHEN 'SENIOR' THEN 2 WHEN 'BACKSTOP' THEN 3 ELSE 4 END`);
  return rows.map((r) => ({ incidentId: r.incident_id, at: ms(r.at), layer: r.layer, amount: big(r.amount) }));
}
