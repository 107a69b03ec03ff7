import { wireDeps } from '../src/app/wire.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import type { Deps } from '../src/app/deps.ts';
import { creditAccount } from '../src/app/funding.ts';
import { USDC, assertLedgerInvariants, useHarness, depegRiskInput, newWallet, directMarket } from './helpers.ts';

const h = useHarness();

/**
 * Quote cost must not grow with the number of policies: exposure lives in per-pool and
 * per-risk aggregates kept current by each sale. We count the statements a quote issues
 * and the rows they return at 10 and at 200 active policies: both must be equal.
 */
test('a quote reads the same statements and rows at 10 and at 200 active policies', async () => {
  const { admin, risk } = await directMarket(h, USDC(10_000_000), depegRiskInput(), 'big');
  const buyer: Viewer = { address: newWallet().address, roles: [] };
  await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(1_000_000).toString(), reference: 'buyer' });
  const buy = async (n: number) => {
    for (let i = 0; i < n; i++)
      await purchasePolicy(h.deps, buyer, (await requestQuote(h.deps, buyer, risk.id, USDC(100).toString(), 30)).id);
  };

  const dialect = new PgDialect();
  const measure = async () => {
    const log: Array<{ sql: string; rows: number }> = [];
    const counting: Deps = wireDeps({
      ...h.deps,
      db: {
        ...h.deps.db,
        // Logged when issued, not when answered: a quote's reads run in parallel, and on a
        // server they may finish in either order.
        async query<T>(statement: SQL) {
          const entry = { sql: dialect.sqlToQuery(statement).sql, rows: 0 };
          log.push(entry);
          const rows = await h.deps.db.query<T>(statement);
          entry.rows = rows.length;
          return rows;
        },
      },
    });
    await requestQuote(counting, buyer, risk.id, USDC(100).toString(), 30);
    // Its row is written just behind the answer: counted too.
    await counting.quotePaths.settled();
    assert.ok(log.some((s) => s.sql.includes('INSERT INTO quotes')));
    return log;
  };

  await buy(10);
  const small = await measure();
  await buy(190);
  const large = await measure();
  assert.deepEqual(large, small);
  assert.ok(
    small.every((s) => s.rows <= 2),
    'no statement returns a row per policy',
  );
  await assertLedgerInvariants(h.db);
});
