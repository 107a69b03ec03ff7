import { wireDeps } from '../src/app/wire.ts';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { createCoalescer } from '../src/app/coalesce.ts';
import { createDatabase } from '../src/db/create-database.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { findQuote } from '../src/db/cover-store.ts';
import type { Deps } from '../src/app/deps.ts';
import { creditAccount } from '../src/app/funding.ts';
import { deposit } from '../src/app/underwrite.ts';
import { USDC, asStored, useHarness, depegRiskInput, directMarket } from './helpers.ts';
import { offerKey } from '../src/domain/offer-id.ts';

describe('createCoalescer', () => {
  test('a call made while a run is in flight joins the next run, which starts after it', async () => {
    const runs: string[][] = [];
    let release: () => void = () => {};
    const gate = () => new Promise<void>((r) => (release = r));
    let wait = gate();
    const call = createCoalescer(async (_key: string, inputs: readonly string[]) => {
      runs.push([...inputs]);
      await wait;
      return inputs.map((i) => i.toUpperCase());
    });
    const first = call('k', 'a');
    const joined = [call('k', 'b'), call('k', 'c')];
    const other = call('other', 'z');
    assert.deepEqual(runs, [['a'], ['z']], 'a quiet key runs at once; the others wait for the next run');
    const released = release;
    wait = gate();
    released();
    assert.equal(await first, 'A');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(runs, [['a'], ['z'], ['b', 'c']], 'the callers that arrived during the run share one run');
    release();
    assert.deepEqual(await Promise.all([...joined, other]), ['B', 'C', 'Z']);
  });

  test('a failed run fails its callers only; the next run goes ahead', async () => {
    let n = 0;
    const call = createCoalescer(async (_key: string, inputs: readonly number[]) => {
      n++;
      if (inputs.includes(13)) throw new Error('unlucky');
      return inputs.map((i) => i * 2);
    });
    const results = await Promise.allSettled([call('k', 13), call('k', 1), call('k', 2)]);
    assert.equal(results[0]?.status, 'rejected');
    assert.deepEqual(
      results.slice(1).map((r) => (r.status === 'fulfilled' ? r.value : r.reason)),
      [2, 4],
    );
    assert.equal(n, 2);
  });

  test('batches are capped at maxBatch', async () => {
    const sizes: number[] = [];
    const call = createCoalescer(
      async (_key: string, inputs: readonly number[]) => {
        sizes.push(inputs.length);
        return inputs;
      },
      { maxBatch: 3 },
    );
    assert.deepEqual(await Promise.all(Array.from({ length: 8 }, (_, i) => call('k', i))), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(sizes, [1, 3, 3, 1]);
  });
});

describe('concurrent quotes share their reads and writes', () => {
  const h = useHarness();
  /**
   * The app's services on the harness's database, which shows `see` each statement's SQL text
   * before running it: `see` may count it, hold it back (by returning a promise) or fail it.
   */
  const watching = (see: (text: string) => Promise<void> | void): Deps => {
    const dialect = new PgDialect();
    return wireDeps({
      ...h.deps,
      db: {
        ...h.deps.db,
        async query<T>(statement: SQL) {
          await see(dialect.sqlToQuery(statement).sql);
          return h.deps.db.query<T>(statement);
        },
      },
    });
  };

  test('40 concurrent quotes: 40 distinct stored quotes from fewer statements, each seeing the writes made before it', async () => {
    const { admin, risk, curator, pool } = await directMarket(h, USDC(1_000_000), depegRiskInput('coalesced', 'COAL'), 'coalesced');

    let statements = 0;
    const counting = watching(() => {
      statements++;
    });
    const quotes = await Promise.all(Array.from({ length: 40 }, () => requestQuote(counting, null, risk.id, USDC(10_000).toString(), 30)));
    assert.equal(new Set(quotes.map((q) => q.id)).size, 40);
    await counting.quotePaths.settled();
    const stored = await h.db.query<{ n: string }>(
      sql`SELECT COUNT(*) AS n FROM quotes WHERE id IN (${sql.join(
        quotes.map((q) => sql`${offerKey(q.id)}`),
        sql`, `,
      )})`,
    );
    assert.equal(Number(stored[0]?.n), 40, 'every quote answered is stored');
    assert.ok(statements < 40, `${statements} statements for 40 quotes (3 each without coalescing)`);
    assert.ok(
      quotes.every((q) => q.premium === quotes[0]?.premium),
      'same market, same price',
    );

    // A deposit committed before a quote is called is always seen by that quote: more
    // capital, lower utilisation, a lower (or equal) price, never a stale one.
    const utilisation = (q: (typeof quotes)[number]) => Number((q.breakdown as { utilisationAfter: string }).utilisationAfter);
    const before = await requestQuote(counting, null, risk.id, USDC(100_000).toString(), 30);
    const pending = Array.from({ length: 10 }, () => requestQuote(counting, null, risk.id, USDC(100_000).toString(), 30));
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(1_000_000).toString(), reference: 'coal-more' });
    await deposit(h.deps, curator, pool.id, USDC(1_000_000).toString(), 'SENIOR');
    const after = await requestQuote(counting, null, risk.id, USDC(100_000).toString(), 30);
    await Promise.all(pending);
    assert.ok(utilisation(after) < utilisation(before), `${utilisation(after)} < ${utilisation(before)}`);
  });

  test('a burst of quotes rides along the next market read: one statement fewer, neither job failing the other', async () => {
    const { risk } = await directMarket(h, USDC(1_000_000), depegRiskInput('carried', 'CARR'), 'carried');
    const texts: string[] = [];
    let hold: Promise<void> | undefined;
    let failCarried = false;
    const deps = watching(async (text) => {
      texts.push(text);
      // The first wave's market read waits until the second wave has asked for its quotes.
      if (hold && text.includes('FROM pools p')) {
        const wait = hold;
        hold = undefined;
        await wait;
      }
      if (failCarried && text.includes('WITH alongside')) {
        failCarried = false;
        throw new Error('injected failure of the shared statement');
      }
    });
    const quote = () => requestQuote(deps, null, risk.id, USDC(10_000).toString(), 30);
    const stored = async (ids: string[]) => {
      await deps.quotePaths.settled();
      return Number(
        (
          await h.db.query<{ n: string }>(
            sql`SELECT COUNT(*) AS n FROM quotes WHERE id IN (${sql.join(
              ids.map((id) => sql`${offerKey(id)}`),
              sql`, `,
            )})`,
          )
        )[0]?.n,
      );
    };
    const twoWaves = async () => {
      texts.length = 0;
      let release: () => void = () => {};
      hold = new Promise<void>((r) => (release = r));
      const first = Array.from({ length: 10 }, quote);
      await new Promise((r) => setImmediate(r)); // the first wave's read is under way
      const second = Array.from({ length: 10 }, quote);
      release();
      return Promise.all([...first, ...second]);
    };

    const quotes = await twoWaves();
    assert.equal(await stored(quotes.map((q) => q.id)), 20, 'every quote answered is recorded');
    const inserts = texts.filter((t) => t.includes('INSERT INTO quotes'));
    assert.equal(inserts.length, 2, `one insert per wave:\n${texts.map((t) => t.slice(0, 60).replace(/\s+/g, ' ')).join('\n')}`);
    assert.equal(
      inserts.filter((t) => t.includes('WITH alongside')).length,
      1,
      "the first wave's quotes rode along the second wave's read",
    );
    assert.equal(texts.length, 3, `two market reads of one statement each and one insert of its own:\n${texts.join('\n')}`);

    // The shared statement fails: the quotes it carried are stored on their own, and the
    // second wave's risk is read again; nobody sees the other job's failure.
    failCarried = true;
    const again = await twoWaves();
    assert.equal(failCarried, false, 'the failure was injected');
    assert.equal(await stored(again.map((q) => q.id)), 20);
  });

  test('a quote is answered before its row is written; settled() waits for the row', async () => {
    const { risk } = await directMarket(h, USDC(1_000_000), depegRiskInput('ahead', 'AHED'), 'ahead');
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const deps = watching(async (text) => {
      if (text.includes('INSERT INTO quotes')) await held;
    });
    const quotes = await Promise.all(Array.from({ length: 3 }, () => requestQuote(deps, null, risk.id, USDC(10_000).toString(), 30)));
    const count = async () =>
      Number((await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM quotes WHERE risk_id = ${risk.id}`))[0]?.n);
    assert.equal(await count(), 0, 'answered while their rows were held back');
    let settled = false;
    const settling = deps.quotePaths.settled().then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'settled() waits for the held write');
    release();
    await settling;
    assert.equal(await count(), quotes.length);
  });

  test("a quote's market read is prepared once per connection, and survives migrations that add columns", async () => {
    const { risk } = await directMarket(h, USDC(1_000_000), depegRiskInput('prepared', 'PREP'), 'prepared');
    const quote = () => requestQuote(h.deps, null, risk.id, USDC(10_000).toString(), 30);
    for (let i = 0; i < 10; i++) await quote();
    // A prepared statement's result may not change shape: a later migration's column (another
    // replica deploying) must not break the statements this one has prepared.
    for (const table of ['pools', 'risks', 'quotes']) await h.db.query(sql.raw(`ALTER TABLE ${table} ADD COLUMN later_column integer`));
    const after = await Promise.all(Array.from({ length: 10 }, quote));
    for (let i = 0; i < 10; i++) after.push(await quote());
    assert.equal(after.length, 20);
    await h.deps.quotePaths.settled();
    for (const q of after) assert.deepEqual(await findQuote(h.db, q.id), asStored(q), 'the quote is stored exactly as it was answered');
    if (!h.db.url) return; // PGlite has no prepared statements: the name is ignored there.
    // On the server: the quote paths on a one-connection database leave their statements
    // prepared on it: a market read alone, one carrying the quotes priced before it, and the
    // insert of the last wave's quotes, which no read carried.
    const single = await createDatabase({ url: h.db.url, poolSize: 1 });
    try {
      const deps = wireDeps({ ...h.deps, db: single });
      const quoteOnSingle = () => requestQuote(deps, null, risk.id, USDC(10_000).toString(), 30);
      const first = Array.from({ length: 5 }, quoteOnSingle);
      await new Promise((r) => setImmediate(r)); // the first wave's read is under way
      const stored = await Promise.all([...first, ...Array.from({ length: 5 }, quoteOnSingle)]);
      await deps.quotePaths.settled();
      for (const q of stored) assert.deepEqual(await findQuote(single, q.id), asStored(q));
      const prepared = await single.query<{ name: string }>(sql`SELECT name FROM pg_prepared_statements ORDER BY name`);
      // Besides them, only statements prepared by their text (`prepare: true`, named `s_...`:
      // here the test's own reads of the stored quotes), whose columns are named.
      assert.deepEqual(
        prepared.map((p) => p.name).filter((n) => !/^s_[\w-]{24}$/.test(n)),
        ['insert_quotes_unflushed', 'watched_market', 'watched_market_with_quotes_insert'],
      );
    } finally {
      await single.close();
    }
  });
});
