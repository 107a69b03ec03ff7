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

test("a sale reads its risk before taking the pool's lock, and holds the lock for 10 statements", async () => {
  const { admin, risk } = await directMarket(h, USDC(1_000_000));
  const buyer: Viewer = { address: newWallet().address, roles: [] };
  await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(100).toString(), reference: 'lock-buyer' });
  const quote = await requestQuote(h.deps, buyer, risk.id, USDC(1_000).toString(), 30);

  const inTransaction: string[] = [];
  const db: Database = {
    ...h.deps.db,
    transaction: (fn) =>
      h.deps.db.transaction((tx) =>
        fn({
          query: (statement: SQL, options?: { name?: string }) => {
            inTransaction.push(dialect.sqlToQuery(statement).sql.replace(/\s+/g, ' ').trim());
            return tx.query(statement, options);
          },
        }),
      ),
  };
  await purchasePolicy({ ...h.deps, db }, buyer, quote.id);

  const lockAt = inTransaction.findIndex((s) => /FROM pools p .* FOR UPDATE OF p/.test(s));
  const riskAt = inTransaction.findIndex((s) => /FROM risks WHERE id = \$1 FOR SHARE/.test(s));
  assert.ok(lockAt >= 0 && riskAt >= 0, `the pool's lock and the risk's read are there:\n${inTransaction.join('\n')}`);
  assert.ok(riskAt < lockAt, 'the risk (and its feeds) are read before the lock');
  // The lock, the pool's state, the claims it owes, the buyer's settled claims and wallet, the
  // backstop, the pool's draws, the policy, the pool's aggregates (one statement) and the
  // journal entry with its postings and balances (one statement).
  const held = inTransaction.slice(lockAt);
  assert.equal(held.length, 10, `statements under the pool's lock:\n${held.join('\n')}`);
  assert.equal(held.filter((s) => /journal_entries|postings/.test(s)).length, 1, 'the journal entry is one statement');
  await assertLedgerInvariants(h.db);
});

test('statements a transaction names are prepared on the server (planned once, not on every sale)', async () => {
  const { pool } = await directMarket(h, USDC(1_000));
  const prepared = await h.db.transaction(async (tx: Executor) => {
    await loadPoolSnapshot(tx, pool.id, h.clock.now(), { lock: true });
    return (await tx.query<{ name: string }>(sql`SELECT name FROM pg_prepared_statements`)).map((r) => r.name);
  });
  // PGlite is one session and takes no statement names; the server prepares named ones per connection.
  if (h.db.kind === 'postgres') assert.ok(prepared.includes('pool_states_by_poolId'), `prepared: ${prepared.join(', ')}`);
  else assert.deepEqual(prepared, []);
});
