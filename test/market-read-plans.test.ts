import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Viewer } from '../src/app/viewer.ts';
import { priceCover } from '../src/app/price-cover.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { insertQuotes, quotesInsert } from '../src/db/cover-store.ts';
import type { Executor } from '../src/db/create-database.ts';
import { snapshotOf } from '../src/db/pool-snapshots.ts';
import { EXPIRING_LIMIT, type PoolState, loadPoolStates } from '../src/db/pool-store.ts';
import { findWatchedMarket } from '../src/db/risk-store.ts';
import { bulkMarket } from './bulk-policies.ts';
import { USDC, newWallet, useHarness } from './helpers.ts';
import { offerKey } from '../src/domain/offer-id.ts';

const h = useHarness();
const dialect = new PgDialect();
const buyer: Viewer = { address: newWallet().address, roles: [] };

/** The statements `run` prepares on the server (those it names), with their parameters. */
async function namedStatements(run: (ex: Executor) => Promise<unknown>) {
  const named: Array<{ name: string; text: string; params: unknown[] }> = [];
  await run({
    query: (statement: SQL, options?: { name?: string }) => {
      if (options?.name) {
        const { sql: text, params } = dialect.sqlToQuery(statement);
        named.push({ name: options.name, text, params });
      }
      return h.db.query(statement, options);
    },
  });
  return named;
}

/** The estimated cost of a prepared statement's plan, planned for its values (custom) or for any (generic). */
async function planCost(text: string, params: unknown[], mode: 'force_custom_plan' | 'force_generic_plan'): Promise<number> {
  const literal = (p: unknown) => (p === null ? 'NULL' : `'${String(p).replace(/'/g, "''")}'`);
  return h.db.transaction(async (tx) => {
    await tx.query(sql.raw(`SET LOCAL plan_cache_mode = ${mode}`));
    await tx.query(sql.raw(`PREPARE plan_probe AS ${text}`));
    try {
      const [row] = await tx.query<{ 'QUERY PLAN': unknown }>(
        sql.raw(`EXPLAIN (FORMAT JSON) EXECUTE plan_probe(${params.map(literal).join(', ')})`),
      );
      const plan = typeof row?.['QUERY PLAN'] === 'string' ? JSON.parse(row['QUERY PLAN']) : row?.['QUERY PLAN'];
      return Number(plan[0].Plan['Total Cost']);
    } finally {
      await tx.query(sql.raw('DEALLOCATE plan_probe'));
    }
  });
}

/**
 * PostgreSQL keeps one (generic) plan for a prepared statement only while it costs no more
 * than the plans made for the values given; past that, every execution is planned again. The
 * market read was planned again on every quote from about 100,000 active policies (0.9 ms of
 * planning; `npm run bench`'s quote latency at 1k vs 100k read 1.5): its lapsed-policy lookup,
 * `end_at <= $now`, is a third of the pool against a parameter and none against the value.
 */
test('the market reads prepared on the server cost the same planned for any value as for the given one, at 5,000 active policies', async () => {
  const { risk, poolIds } = await bulkMarket(h, 1, 5_000);
  await h.db.query(sql`ANALYZE policies`);
  const now = h.clock.now();
  const statements = [
    ...(await namedStatements((ex) => findWatchedMarket(ex, risk.id, now))),
    ...(await namedStatements((ex) => loadPoolStates(ex, { poolId: poolIds[0] as string }, now))),
    ...(await namedStatements((ex) => loadPoolStates(ex, { asset: 'USDC' }, now))),
  ];
  assert.deepEqual(
    statements.map((s) => s.name),
    ['watched_market', 'pool_states_by_poolId', 'pool_states_by_asset'],
  );
  for (const { name, text, params } of statements) {
    const custom = await planCost(text, params, 'force_custom_plan');
    const generic = await planCost(text, params, 'force_generic_plan');
    assert.ok(generic <= custom, `${name}: the generic plan costs ${generic}, the plan for the values ${custom}`);
  }
});

test('a pool with more lapsed policies than the market read holds is read again in full, and a carried insert runs once', async () => {
  const lapsed = EXPIRING_LIMIT + 44;
  const { risk, feed, poolIds } = await bulkMarket(h, 1, lapsed);
  const poolId = poolIds[0] as string;
  h.clock.advance(31 * 86_400_000); // every one of them has ended, none is expired yet
  await recordObservations(h.deps, feed.id, [{ value: '1', observedAt: h.clock.now(), source: {} }], false);
  const now = h.clock.now();

  const quote = await priceCover(h.deps, buyer, risk.id, USDC(100).toString(), 30);
  const market = await findWatchedMarket(h.db, risk.id, now, { statement: quotesInsert([quote], 'unflushed'), name: 'quotes_insert' });
  const read = market?.pools.find((p) => p.pool.id === poolId);
  assert.equal(read?.expiring.length, lapsed);
  const stored = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM quotes WHERE id = ${offerKey(quote.id)}`);
  assert.equal(Number(stored[0]?.n), 1);

  const [state] = await loadPoolStates(h.db, { poolId }, now);
  assert.equal(state?.expiring.length, lapsed);
  assert.deepEqual(read, state);
  // Read in full, the lapsed policies' exposure is released: the pool carries none.
  assert.equal(snapshotOf(state as PoolState, now).totalExposure, 0n);
  assert.ok((await requestQuote(h.deps, buyer, risk.id, USDC(100).toString(), 30)).id);
});

test("a quote's row commits without waiting for the WAL flush, its statement alone: a purchase's transaction that stores one stays durable", async () => {
  const { risk } = await bulkMarket(h, 1, 0);
  const quote = await priceCover(h.deps, buyer, risk.id, USDC(100).toString(), 30);
  const setting = async (ex: Executor) =>
    (await ex.query<{ synchronous_commit: string }>(sql`SHOW synchronous_commit`))[0]?.synchronous_commit;
  // As the quote paths write it: that statement's transaction commits unflushed, and only it.
  await h.db.transaction(async (tx) => {
    await insertQuotes(tx, [quote], 'unflushed');
    assert.equal(await setting(tx), 'off');
  });
  assert.equal(await setting(h.db), 'on', 'the setting ends with its transaction');
  // As a purchase stores a quote recovered from its offer: durable, like the purchase.
  await h.db.transaction(async (tx) => {
    await insertQuotes(tx, [{ ...quote, breakdown: { ...quote.breakdown, recoveredFromOffer: true } }]);
    assert.equal(await setting(tx), 'on');
  });
  const stored = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM quotes WHERE id = ${offerKey(quote.id)}`);
  assert.equal(Number(stored[0]?.n), 1);
});
