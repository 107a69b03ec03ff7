import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { creditAccount } from '../src/app/funding.ts';
import type { Database, Executor } from '../src/db/create-database.ts';
import { loadPoolSnapshot } from '../src/db/pool-snapshots.ts';
import { USDC, assertLedgerInvariants, directMarket, newWallet, useHarness } from './helpers.ts';

/**
 * Every sale of a pool waits for the pool's row lock, so what a sale does while holding it
 * bounds how many sales a pool takes per second (`npm run bench`: purchases against bare
 * transactions doing the same row writes). These hold the shape of that critical section.
 */
const h = useHarness();
const dialect = new PgDialect();

test("a sale reads its quote (bought or not) in one statement, its risk and the backstop before taking the pool's lock, then locks the buyer's wallet, and holds the pool's lock for 4 statements", async () => {
  const { admin, risk } = await directMarket(h, USDC(1_000_000));
  const buyer: Viewer = { address: newWallet().address, roles: [] };
  await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(100).toString(), reference: 'lock-buyer' });
  const quote = await requestQuote(h.deps, buyer, risk.id, USDC(1_000).toString(), 30);

  const inTransaction: string[] = [];
  const before: string[] = [];
  const text = (statement: SQL) => dialect.sqlToQuery(statement).sql.replace(/\s+/g, ' ').trim();
  const db: Database = {
    ...h.deps.db,
    query: (statement: SQL, options?: { name?: string }) => {
      before.push(text(statement));
      return h.deps.db.query(statement, options);
    },
    transaction: (fn) =>
      h.deps.db.transaction((tx) =>
        fn({
          query: (statement: SQL, options?: { name?: string }) => {
            inTransaction.push(text(statement));
            return tx.query(statement, options);
          },
        }),
      ),
  };
  const policy = await purchasePolicy({ ...h.deps, db }, buyer, quote.id);
  // Before the transaction: the quote and whether it was bought, in one statement; the risk
  // comes from the quotes' shared market read, not a read of its own.
  assert.ok(/EXISTS \(SELECT 1 FROM policies p WHERE p.quote_id = \$1\) AS bought/.test(before[0] ?? ''), before[0]);
  assert.deepEqual(
    before.filter((s) => / FROM (risks|policies) /.test(s) && !s.includes('AS bought')),
    [],
    `reads before the sale:\n${before.join('\n')}`,
  );
  // A retry returns the policy the quote became.
  before.length = 0;
  assert.equal((await purchasePolicy({ ...h.deps, db }, buyer, quote.id)).id, policy.id);
  assert.equal(before.filter((s) => /FROM policies p .*WHERE p.quote_id = \$1$/.test(s)).length, 1, before.join('\n'));

  const at = (pattern: RegExp) => inTransaction.findIndex((s) => pattern.test(s));
  const lockAt = at(/FROM pools WHERE id = \$1 FOR UPDATE/);
  const riskAt = at(/FROM risks r .* FOR SHARE OF r/);
  const walletAt = at(/FROM accounts WHERE id = \$1 FOR UPDATE/);
  const backstopAt = at(/JOIN backstop_state/);
  assert.ok(lockAt >= 0 && riskAt >= 0 && walletAt >= 0 && backstopAt >= 0, `the reads are there:\n${inTransaction.join('\n')}`);
  assert.ok(Math.max(riskAt, backstopAt) < lockAt, 'the risk (and its feeds) and the backstop are read before the lock');
  // The wallet after the pool, in the order every writer takes (pool, rows of the pool,
  // wallets): before it, a purchase and a deposit of the same wallet deadlocked.
  assert.ok(walletAt > lockAt, 'the wallet is locked after the pool');
  // The lock, the pool's state (with what it owes the backstop), the wallet, and the policy
  // with the pool's aggregates and the journal entry, its postings and balances: one statement.
  const held = inTransaction.slice(lockAt);
  assert.equal(held.length, 4, `statements under the pool's lock:\n${held.join('\n')}`);
  assert.ok(/INSERT INTO policies.*UPDATE pool_risks.*UPDATE pools.*INSERT INTO journal_entries/.test(held[3] ?? ''), held[3]);
  await assertLedgerInvariants(h.db);
});

test('statements a transaction names or marks are prepared on the server (planned once, not on every sale)', async () => {
  const { pool } = await directMarket(h, USDC(1_000));
  const prepared = await h.db.transaction(async (tx: Executor) => {
    await loadPoolSnapshot(tx, pool.id, h.clock.now(), { lock: true });
    return (await tx.query<{ name: string }>(sql`SELECT name FROM pg_prepared_statements`)).map((r) => r.name);
  });
  // PGlite is one session and takes no statement names; the server prepares named ones per connection.
  if (h.db.kind === 'postgres') {
    assert.ok(prepared.includes('pool_states_by_poolId'), `prepared: ${prepared.join(', ')}`);
    // The pool's lock is marked `prepare`: named after its text.
    assert.ok(
      prepared.some((n) => /^s_[\w-]{24}$/.test(n)),
      `prepared: ${prepared.join(', ')}`,
    );
  } else assert.deepEqual(prepared, []);
});
