import { type SQL, sql } from 'drizzle-orm';
import { insufficientFunds } from '../domain/errors.ts';
import { newId } from './ids.ts';
import { isCheckViolation } from './classify-error.ts';
import type { Executor } from './create-database.ts';
import { big, json, num, ts } from './sql-helpers.ts';

export type AccountKind =
  | 'EXTERNAL'
  | 'WALLET'
  | 'TRANCHE'
  | 'UNEARNED_PREMIUM'
  | 'PROTOCOL_FEES'
  | 'BACKSTOP'
  | 'CLAIMS_PAYABLE'
  | 'PENDING_OUTBOUND';

export interface AccountRef {
  id: string;
  kind: AccountKind;
  asset: string;
  owner: string | null;
}

/** The chart of accounts (docs/design.md §2). Ids are readable so the ledger explains itself. */
export const ledgerAccounts = {
  external: (asset: string): AccountRef => ({ id: `external:${asset}`, kind: 'EXTERNAL', asset, owner: null }),
  wallet: (asset: string, address: string): AccountRef => ({ id: `wallet:${asset}:${address}`, kind: 'WALLET', asset, owner: address }),
  tranche: (asset: string, poolId: string, tranche: string): AccountRef => ({
    id: `tranche:${poolId}:${tranche}`,
    kind: 'TRANCHE',
    asset,
    owner: poolId,
  }),
  unearnedPremium: (asset: string, poolId: string): AccountRef => ({ id: `upr:${poolId}`, kind: 'UNEARNED_PREMIUM', asset, owner: poolId }),
  protocolFees: (asset: string): AccountRef => ({ id: `fees:${asset}`, kind: 'PROTOCOL_FEES', asset, owner: null }),
  backstop: (asset: string): AccountRef => ({ id: `backstop:${asset}`, kind: 'BACKSTOP', asset, owner: null }),
  /**
   * Payouts settled but not yet credited to their buyers' wallets: the claims sub-ledger
   * (src/db/claims-store.ts). Its balance is the sum of the uncredited payouts.
   */
  claimsPayable: (asset: string): AccountRef => ({ id: `claims:${asset}`, kind: 'CLAIMS_PAYABLE', asset, owner: null }),
  /** Money set aside to repay claimants' IOUs, before it reaches them. */
  iouReserve: (asset: string): AccountRef => ({ id: `ious:${asset}`, kind: 'CLAIMS_PAYABLE', asset, owner: null }),
  /** Money on its way out to wallets on chain (docs/design.md §10): queued or sent, not yet confirmed. */
  pendingOutbound: (asset: string): AccountRef => ({ id: `outbound:${asset}`, kind: 'PENDING_OUTBOUND', asset, owner: null }),
};

export interface Posting {
  account: AccountRef;
  amount: bigint;
}

/** The two postings of moving `amount` from one account to another. */
export function transfer(from: AccountRef, to: AccountRef, amount: bigint): Posting[] {
  return [
    { account: from, amount: -amount },
    { account: to, amount },
  ];
}

export interface JournalEntry {
  kind: string;
  at: number;
  reference?: string | undefined;
  idempotencyKey?: string | undefined;
  memo?: Record<string, string> | undefined;
  postings: Posting[];
}

/**
 * Writes one balanced journal entry and applies it to the account balances, inside the
 * caller's transaction. This is the only writer of `postings` and `accounts.balance`.
 *
 * @invariant Σ postings = 0 per entry, all in one asset; non-external balances never go
 * below zero (CHECK constraint), which surfaces here as INSUFFICIENT_FUNDS.
 *
 * `alongside`: data-modifying CTEs (named other than `v`, `entry`, `posted`, `moved`) made in
 * the same statement, the change the entry accounts for (a sale's policy and its pool's
 * aggregates: one round trip under the pool's lock).
 */
export async function postJournal(tx: Executor, entry: JournalEntry, alongside: readonly SQL[] = []): Promise<string | null> {
  const merged = new Map<string, Posting>();
  for (const p of entry.postings) {
    const prev = merged.get(p.account.id);
    merged.set(p.account.id, { account: p.account, amount: (prev?.amount ?? 0n) + p.amount });
  }
  const postings = [...merged.values()].filter((p) => p.amount !== 0n).sort((a, b) => (a.account.id < b.account.id ? -1 : 1));
  const sum = postings.reduce((s, p) => s + p.amount, 0n);
  if (sum !== 0n) throw new Error(`unbalanced journal entry ${entry.kind}: sum ${sum}`);
  const assets = new Set(postings.map((p) => p.account.asset));
  if (assets.size > 1) throw new Error(`journal entry ${entry.kind} mixes assets`);
  if (postings.length === 0) {
    if (alongside.length > 0) await tx.query(sql`WITH ${sql.join([...alongside], sql`, `)} SELECT 1`);
    return null;
  }

  const id = newId('je');
  // One statement, one round trip: the entry, its postings, the balances of the accounts
  // that exist moved, and those that do not created with theirs (one another transaction
  // creates meanwhile is moved instead). The postings' reference check runs after the whole
  // statement, so it sees the entry and the accounts created here.
  try {
    await tx.query(
      sql`
      WITH v (n, id, kind, asset, owner, amount) AS (
        VALUES ${sql.join(
          postings.map(
            (p, i) => sql`(${i}::int, ${p.account.id}, ${p.account.kind}, ${p.account.asset}, ${p.account.owner}, ${num(p.amount)})`,
          ),
          sql`, `,
        )}
      ), ${alongside.length > 0 ? sql`${sql.join([...alongside], sql`, `)},` : sql``} entry AS (
        INSERT INTO journal_entries (id, kind, reference, idempotency_key, memo, created_at)
        VALUES (${id}, ${entry.kind}, ${entry.reference ?? null}, ${entry.idempotencyKey ?? null}, ${json(entry.memo ?? {})}, ${ts(entry.at)})
        RETURNING id
      ), posted AS (
        INSERT INTO postings (entry_id, account_id, amount, at) SELECT entry.id, v.id, v.amount, ${ts(entry.at)}::timestamptz FROM entry, v ORDER BY v.n
      ), moved AS (
        UPDATE accounts a SET balance = a.balance + v.amount FROM v WHERE a.id = v.id RETURNING a.id
      )
      INSERT INTO accounts AS a (id, kind, asset, owner, balance)
      SELECT v.id, v.kind, v.asset, v.owner, v.amount FROM v WHERE v.id NOT IN (SELECT id FROM moved) ORDER BY v.n
      ON CONFLICT (id) DO UPDATE SET balance = a.balance + EXCLUDED.balance`,
      // One shape per number of postings: prepared, a sale's entry is not parsed again under its pool's lock.
      { prepare: true },
    );
  } catch (error) {
    if (isCheckViolation(error, 'accounts_balance_nonneg')) {
      throw insufficientFunds('the balance is too low for this movement');
    }
    throw error;
  }
  return id;
}

export async function accountBalance(tx: Executor, accountId: string, lock = false): Promise<bigint> {
  const rows = lock
    ? await tx.query<{ balance: string }>(sql`SELECT balance FROM accounts WHERE id = ${accountId} FOR UPDATE`, { prepare: true })
    : await tx.query<{ balance: string }>(sql`SELECT balance FROM accounts WHERE id = ${accountId}`, { prepare: true });
  return rows[0] ? big(rows[0].balance) : 0n;
}

/**
 * The set-based twin of `postJournal`, for entries with one posting per claimant (an
 * incident can pay 100k policies): `postings` is a SELECT yielding
 * (account_id, kind, asset, owner, amount) rows. Same guarantees: one entry, balanced
 * (checked in SQL before commit), accounts created as needed, balances updated in the same
 * transaction.
 */
export async function postJournalFromSelect(
  tx: Executor,
  entry: Omit<JournalEntry, 'postings'>,
  postings: ReturnType<typeof sql>,
): Promise<string | null> {
  const id = newId('je');
  // One pass over the source: the entry (only if something moves), accounts that do not
  // exist yet and the postings, together. The ledger is append-only, so an empty entry is
  // never written rather than deleted.
  await tx.query(sql`
    WITH src AS (
      SELECT account_id, kind, asset, owner, SUM(amount) AS amount
      FROM (${postings}) AS p(account_id, kind, asset, owner, amount)
      GROUP BY account_id, kind, asset, owner
      HAVING SUM(amount) <> 0
    ), entry AS (
      INSERT INTO journal_entries (id, kind, reference, idempotency_key, memo, created_at)
      SELECT ${id}, ${entry.kind}, ${entry.reference ?? null}, ${entry.idempotencyKey ?? null}, ${json(entry.memo ?? {})}, ${ts(entry.at)}
      WHERE EXISTS (SELECT 1 FROM src)
      RETURNING id
    ), created AS (
      INSERT INTO accounts (id, kind, asset, owner)
      SELECT account_id, kind, asset, owner FROM src WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = src.account_id)
      ON CONFLICT (id) DO NOTHING RETURNING id
    )
    INSERT INTO postings (entry_id, account_id, amount, at)
    SELECT entry.id, src.account_id, src.amount, ${ts(entry.at)}::timestamptz FROM src CROSS JOIN entry`);
  const check = await tx.query<{ n: string; total: string | null; assets: string }>(sql`
    SELECT COUNT(*) AS n, SUM(p.amount) AS total, COUNT(DISTINCT a.asset) AS assets
    FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = ${id}`);
  const summary = check[0];
  if (!summary || Number(summary.n) === 0) return null;
  if (big(summary.total ?? '0') !== 0n || Number(summary.assets) !== 1) throw new Error(`unbalanced journal entry ${entry.kind}`);
  try {
    await tx.query(
      sql`UPDATE accounts a SET balance = a.balance + p.amount FROM postings p WHERE p.entry_id = ${id} AND a.id = p.account_id`,
    );
  } catch (error) {
    if (isCheckViolation(error, 'accounts_balance_nonneg')) throw insufficientFunds('the balance is too low for this movement');
    throw error;
  }
  return id;
}

/** The memo of the journal entry written under an idempotency key (to tell a replay from a clash). */
export async function memoOf(ex: Executor, idempotencyKey: string): Promise<Record<string, string> | undefined> {
  const rows = await ex.query<{ memo: Record<string, string> }>(
    sql`SELECT memo FROM journal_entries WHERE idempotency_key = ${idempotencyKey}`,
  );
  return rows[0]?.memo;
}
