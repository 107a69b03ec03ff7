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
}

/**
 * A ledger account's postings in the order they were made, each with the balance after it
 * (the running sum from the account's first posting, so a window of time still carries the
 * true balance), those made in [from, to) only, at most `limit`.
 */
export async function accountPostings(ex: Executor, accountId: string, from: number, to: number, limit: number): Promise<StatementRow[]> {
  const rows = await ex.query<{
    entry_id: string;
    at: unknown;
    kind: string;
    reference: string | null;
    amount: string;
    after: string;
    renewal: boolean | null;
  }>(sql`
    SELECT s.*, (s.kind = 'PREMIUM' AND EXISTS (SELECT 1 FROM policies pol WHERE pol.id = s.reference AND pol.renews IS NOT NULL)) AS renewal
    FROM (
      SELECT p.entry_id, e.created_at AS at, e.kind, e.reference, p.amount,
        sum(p.amount) OVER (ORDER BY p.id ROWS UNBOUNDED PRECEDING) AS after, p.id
      FROM postings p JOIN journal_entries e ON e.id = p.entry_id
      WHERE p.account_id = ${accountId}
    ) s WHERE s.at >= ${ts(from)} AND s.at < ${ts(to)} ORDER BY s.id LIMIT ${limit}`);
  return rows.map((r) => ({
    entryId: r.entry_id,
    at: ms(r.at),
    kind: r.kind,
    reference: r.reference,
    amount: big(r.amount),
    balanceAfter: big(r.after),
    renewal: r.renewal === true,
  }));
}
