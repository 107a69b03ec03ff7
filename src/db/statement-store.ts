import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { big, ms, ts } from './sql-helpers.ts';

export interface StatementRow {
  entryId: string;
  at: number;
  kind: string;
  reference: string | null;
  amount: bigint;
  balanceAfter: bigint;
  /** A premium that renewed a policy (policies.renews). */
  renewal: boolean;
  /** The distributor the sale's entry paid a commission to, if any. */
  distributor: string | null;
}

/**
 * A ledger account's postings made in [from, to), in time order (ties in the order they were
 * made), each with the balance after it, at most `limit`. The balance is carried forward: the
 * balance at `from` is the sum of the postings before it or, when `from` is nearer the end of
 * the account's history than its start, the account's balance less the postings since; both
 * are index-only ranges of postings_account_at_idx, so a short window costs the same whatever
 * the wallet's history (issue 73).
 */
export async function accountPostings(
  ex: Executor,
  accountId: string,
  from: number,
  to: number,
  now: number,
  limit: number,
): Promise<StatementRow[]> {
  const rows = await ex.query<{
    entry_id: string;
    at: unknown;
    kind: string;
    reference: string | null;
    amount: string;
    after: string;
    renewal: boolean | null;
    distributor: string | null;
  }>(sql`
    WITH first AS (SELECT min(at) AS at FROM postings WHERE account_id = ${accountId}),
    opening AS (
      SELECT CASE WHEN first.at IS NULL OR ${ts(from)}::timestamptz - first.at <= ${ts(now)}::timestamptz - ${ts(from)}::timestamptz
        THEN (SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = ${accountId} AND at < ${ts(from)})
        ELSE (SELECT coalesce(max(balance), 0) FROM accounts WHERE id = ${accountId})
          - (SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = ${accountId} AND at >= ${ts(from)})
      END AS balance FROM first
    )
    SELECT p.entry_id, p.at, e.kind, e.reference, p.amount, e.memo->>'distributor' AS distributor,
      opening.balance + sum(p.amount) OVER (ORDER BY p.at, p.id ROWS UNBOUNDED PRECEDING) AS after,
      (e.kind = 'PREMIUM' AND EXISTS (SELECT 1 FROM policies pol WHERE pol.id = e.reference AND pol.renews IS NOT NULL)) AS renewal
    FROM postings p JOIN journal_entries e ON e.id = p.entry_id CROSS JOIN opening
    WHERE p.account_id = ${accountId} AND p.at >= ${ts(from)} AND p.at < ${ts(to)}
    ORDER BY p.at, p.id LIMIT ${limit}`);
  return rows.map((r) => ({
    entryId: r.entry_id,
    at: ms(r.at),
    kind: r.kind,
    reference: r.reference,
    amount: big(r.amount),
    balanceAfter: big(r.after),
    renewal: r.renewal === true,
    distributor: r.distributor ?? null,
  }));
}
