import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { DAY, PURCHASE, QUOTE, USDC, fundedBuyer, marketWithPool, unmigratedTestDatabase, useHarness, watchedRisk } from './helpers.ts';
import { deleteStaleQuotes } from '../src/db/cover-store.ts';
import { DELIVERY_LOG_DAYS, pruneDeliveries } from '../src/db/webhook-store.ts';
import { downsampleObservations, ensureObservationPartitions, observationPartitions } from '../src/db/observation-partitions.ts';
import { feedsOfRisk, heldMinimum, latestObservations, trailingMax } from '../src/db/feed-store.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { dailyCloses } from '../src/db/history-store.ts';

const h = useHarness();
const JAN = Date.UTC(2026, 0, 1);
const FEB = Date.UTC(2026, 1, 1);

/** A feed observed every 30 s through January 2026 at 1.0001, with a dip to 0.990 on the 10th at noon for 20 minutes. */
async function januaryOf(feedId: string) {
  await h.db.query(sql`
    INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at)
    SELECT ${feedId}, v, v, t, t FROM (
      SELECT t, CASE WHEN t >= '2026-01-10 12:00Z' AND t < '2026-01-10 12:20Z' THEN 0.990 ELSE 1.0001 + extract(minute FROM t) / 1e6 END AS v
      FROM generate_series('2026-01-01 00:00Z'::timestamptz, '2026-01-31 23:59:30Z', interval '30 seconds') t) s`);
}

test('observations are a table partitioned by month: months created ahead, a row the default partition caught moved into its month', async () => {
  const [kind] = await h.db.query<{ relkind: string }>(sql`SELECT relkind FROM pg_class WHERE relname = 'observations'`);
  assert.equal(kind?.relkind, 'p');
  const adminToken = await h.signIn(h.admin);
  const risk = await watchedRisk(h, adminToken);
  const [feed] = (await feedsOfRisk(h.db, risk.id, '')).map((f) => f.id);
  assert.ok(feed);
  // Before maintenance ran, the rows sit in the default partition.
  const [{ n: before } = { n: '0' }] = await h.db.query<{ n: string }>(sql`SELECT count(*) AS n FROM observations_default`);
  assert.ok(Number(before) > 0);
  await runMaintenance(h.deps);
  const parts = await observationPartitions(h.db);
  const now = h.clock.now();
  const month = parts.find((p) => p.from !== null && p.from <= now && (p.to as number) > now);
  assert.ok(month, JSON.stringify(parts));
  assert.ok(
    parts.some((p) => p.from !== null && p.from > now + 31 * DAY),
    'the months ahead exist',
  );
  const [{ n: left } = { n: '1' }] = await h.db.query<{ n: string }>(sql`SELECT count(*) AS n FROM observations_default`);
  assert.equal(Number(left), 0, 'the default partition emptied into its months');
  const [{ n: inMonth } = { n: '0' }] = await h.db.query<{ n: string }>(sql.raw(`SELECT count(*) AS n FROM ${month.name}`));
  assert.equal(Number(inMonth), Number(before));
  // Running it again creates nothing more.
  assert.deepEqual(await ensureObservationPartitions(h.db, now, now + 40 * DAY), []);
  // The risk's latest reading comes through the parent as before.
  assert.equal((await latestObservations(h.db, risk.id, now)).length, 1);
});

test('a month past the raw window is downsampled to each hour low, high and last, with the days a trigger or an incident needs kept whole, and read the same', async () => {
  const adminToken = await h.signIn(h.admin);
  const risk = await watchedRisk(h, adminToken);
  const [feed] = (await feedsOfRisk(h.db, risk.id, '')).map((f) => f.id);
  assert.ok(feed);
  await ensureObservationPartitions(h.db, JAN, FEB);
  await januaryOf(feed);
  const name = 'observations_p2026_01';
  const count = async (where = sql``) =>
    Number((await h.db.query<{ n: string }>(sql`SELECT count(*) AS n FROM observations WHERE feed_id = ${feed} ${where}`))[0]?.n);
  const raw = await count(sql`AND observed_at < ${new Date(FEB).toISOString()}::timestamptz`);
  assert.equal(raw, 31 * 2880);
  const reads = async () => ({
    low: await heldMinimum(h.db, feed, JAN),
    high: await trailingMax(h.db, feed, JAN),
    lowAfterDip: await heldMinimum(h.db, feed, Date.UTC(2026, 0, 20)),
    highOfDay: await trailingMax(h.db, feed, Date.UTC(2026, 0, 25)),
  });
  const seen = await reads();

  // Within the raw window nothing is touched.
  assert.equal(await downsampleObservations(h.db, FEB + 30 * DAY, 90 * DAY), null);
  const done = await downsampleObservations(h.db, h.clock.now(), 90 * DAY);
  assert.equal(done?.partition, name);
  assert.equal(done?.rowsBefore, raw);
  // The dip's day, the day before (the rule's window is one day) and the day after: whole.
  const dipDays = await count(sql`AND observed_at >= '2026-01-09Z' AND observed_at < '2026-01-12Z'`);
  assert.equal(dipDays, 3 * 2880);
  // Every other hour: its low (its first minute), high (its last minute's first) and last.
  const hours = await h.db.query<{ n: string }>(sql`
    SELECT count(*) AS n FROM observations WHERE feed_id = ${feed} AND observed_at >= '2026-01-12Z' AND observed_at < ${new Date(FEB).toISOString()}::timestamptz
    GROUP BY date_trunc('hour', observed_at)`);
  assert.equal(hours.length, 20 * 24);
  assert.ok(
    hours.every((r) => Number(r.n) === 3),
    JSON.stringify(hours.slice(0, 3)),
  );
  // 3 whole days and 3 rows of each of the other 28 days' hours: 10,656 of 89,280 (a real month
  // without a dip keeps 3 of 120 an hour, 1/40).
  assert.equal(done?.rowsAfter, 3 * 2880 + 28 * 24 * 3);
  assert.equal(done?.rowsAfter, await count(sql`AND observed_at < ${new Date(FEB).toISOString()}::timestamptz`));
  // What the trigger and pricing read of the past is unchanged.
  assert.deepEqual(await reads(), seen);
  // The partition keeps its name and range, and is not downsampled twice.
  const part = (await observationPartitions(h.db)).find((p) => p.name === name);
  assert.deepEqual([part?.from, part?.to], [JAN, FEB]);
  assert.deepEqual(await downsampleObservations(h.db, h.clock.now(), 90 * DAY), {
    partition: 'observations_p2026_02',
    rowsBefore: 0,
    rowsAfter: 0,
  });
  assert.equal(await downsampleObservations(h.db, h.clock.now(), 90 * DAY), null);
  // Still the one place a January row goes: a late one is accepted once, a repeat skipped.
  await h.db.query(sql`INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at)
    VALUES (${feed}, 1, 1, '2026-01-20 10:00:15Z', now()) ON CONFLICT (feed_id, observed_at) DO NOTHING`);
  await h.db.query(sql`INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at)
    VALUES (${feed}, 1, 1, '2026-01-20 10:00:15Z', now()) ON CONFLICT (feed_id, observed_at) DO NOTHING`);
  assert.equal(await count(sql`AND observed_at = '2026-01-20 10:00:15Z'`), 1);
});

test('a deployment with observations converts them online: the rows stay, in observations_legacy up to its bound, later months partitioned', async () => {
  const db = await unmigratedTestDatabase();
  const shipped = new URL('../src/db/migrations', import.meta.url).pathname;
  const before = mkdtempSync(join(tmpdir(), 'migrations-'));
  try {
    // The migrations before 0043, without the online statements that convert the table.
    cpSync(shipped, before, { recursive: true });
    rmSync(join(before, 'online'), { recursive: true, force: true });
    const journal = JSON.parse(readFileSync(join(before, 'meta/_journal.json'), 'utf8'));
    journal.entries = journal.entries.filter((e: { tag: string }) => e.tag < '0043');
    writeFileSync(join(before, 'meta/_journal.json'), JSON.stringify(journal));
    await db.migrate(before);
    await db.query(
      sql`INSERT INTO feeds (id, name, kind, config, reporter, heartbeat_seconds, created_by, created_at) VALUES ('f1', 'f1', 'PUSH', '{}', '0x0', 60, '0x0', now())`,
    );
    await db.query(sql`
      INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at)
      SELECT 'f1', 1, 1, t, t FROM generate_series(now() - interval '40 days', now(), interval '1 minute') t`);
    const [{ n: rows } = { n: '0' }] = await db.query<{ n: string }>(sql`SELECT count(*) AS n FROM observations`);
    const [{ id: lastId } = { id: '0' }] = await db.query<{ id: string }>(sql`SELECT max(id) AS id FROM observations`);

    await db.migrate();
    const parts = await observationPartitions(db);
    const legacy = parts.find((p) => p.name === 'observations_legacy');
    assert.equal(legacy?.from, null);
    assert.ok(legacy?.to !== null && (legacy?.to as number) > Date.now(), 'bounded a week ahead');
    const [{ n: after } = { n: '0' }] = await db.query<{ n: string }>(sql`SELECT count(*) AS n FROM observations`);
    assert.equal(after, rows);
    // The parent takes writes at once (into the legacy partition until its bound), numbered on.
    const [inserted] = await db.query<{ id: string }>(sql`
      INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at) VALUES ('f1', 1, 1, now() + interval '1 second', now()) RETURNING id`);
    assert.ok(BigInt(inserted?.id ?? 0) > BigInt(lastId));
    // Months after the bound are partitions of their own; running the migrations again changes nothing.
    const created = await ensureObservationPartitions(db, Date.now(), Date.now() + 62 * DAY);
    assert.ok(created.length >= 2, created.join());
    const first = (await observationPartitions(db)).find((p) => p.name === created[0]);
    assert.equal(first?.from, legacy?.to, 'the first month starts where the legacy rows end');
    await db.migrate();
    assert.equal((await observationPartitions(db)).length, parts.length + created.length);
  } finally {
    rmSync(before, { recursive: true, force: true });
    await db.close();
  }
});

test('stale quotes are pruned a batch at a time from where the last run stopped: a bought quote is read once, never deleted', async () => {
  const { adminToken, risk } = await marketWithPool(h, USDC(1_000_000));
  const buyer = await fundedBuyer(h, adminToken, USDC(10_000));
  const quotes: string[] = [];
  for (let i = 0; i < 5; i++)
    quotes.push((await h.ok(QUOTE, { r: risk.id, amt: USDC(1_000 + i).toString(), d: 30 }, buyer.token)).quote.id);
  await h.ok(PURCHASE, { q: quotes[2] }, buyer.token);
  const left = async () => Number((await h.db.query<{ n: string }>(sql`SELECT count(*) AS n FROM quotes`))[0]?.n);
  const all = await left();
  // Not a day past their expiry: kept.
  assert.deepEqual((await deleteStaleQuotes(h.db, h.clock.now() - DAY)).deleted, 0);
  h.clock.advance(2 * DAY);
  // Two a statement, and the budget spent after the first: one batch a run.
  const first = await deleteStaleQuotes(h.db, h.clock.now() - DAY, { batch: 2, budgetMs: 0 });
  assert.equal(first.batches, 1);
  const rest = await deleteStaleQuotes(h.db, h.clock.now() - DAY, { batch: 2, budgetMs: 60_000 });
  assert.equal(first.deleted + rest.deleted, 4);
  assert.equal(await left(), all - 4);
  // The bought quote stays, and the next run reads nothing it read before.
  assert.equal((await h.db.query(sql`SELECT 1 FROM quotes q JOIN policies p ON p.quote_key = q.id`)).length, 1);
  const again = await deleteStaleQuotes(h.db, h.clock.now() - DAY, { batch: 2, budgetMs: 60_000 });
  assert.deepEqual([again.deleted, again.batches], [0, 1]);
  const [seen] = await h.db.query<{ n: string }>(sql`
    SELECT count(*) AS n FROM quotes q, prune_marks m WHERE m.job = 'quotes' AND (q.expires_at, q.id) > (m.upto_at, m.upto_id)`);
  assert.equal(Number(seen?.n), 0);
});

test("finished webhook deliveries leave their endpoint's log after DELIVERY_LOG_DAYS, in batches; pending ones stay", async () => {
  const now = h.clock.now();
  await h.db.query(sql`INSERT INTO webhook_endpoints (id, owner, url, secret, events, created_at)
    VALUES ('whe_1', '0x1', 'https://example.com/hook', 's', ARRAY['incident.confirmed'], ${new Date(now - 60 * DAY).toISOString()}::timestamptz)`);
  const delivery = (id: string, status: string, daysAgo: number) => sql`
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event, payload, status, next_attempt_at, created_at)
    VALUES (${id}, 'whe_1', ${id}, 'incident.confirmed', '{}', ${status}, now(), ${new Date(now - daysAgo * DAY).toISOString()}::timestamptz)`;
  for (const [id, status, days] of [
    ['d1', 'DELIVERED', 40],
    ['d2', 'FAILED', 35],
    ['d3', 'DELIVERED', 31],
    ['d4', 'PENDING', 45],
    ['d5', 'DELIVERED', 5],
  ] as const)
    await h.db.query(delivery(id, status, days));
  const pruned = await pruneDeliveries(h.db, now - DELIVERY_LOG_DAYS * DAY, { batch: 2, budgetMs: 60_000 });
  assert.deepEqual([pruned.deleted, pruned.batches], [3, 2]);
  const left = await h.db.query<{ id: string }>(sql`SELECT id FROM webhook_deliveries ORDER BY id`);
  assert.deepEqual(
    left.map((r) => r.id),
    ['d4', 'd5'],
  );
});

test('ids are time-ordered: each quote, policy and journal entry sorts after the ones made before it, at the end of its primary key', async () => {
  const { adminToken, risk } = await marketWithPool(h, USDC(1_000_000));
  const buyer = await fundedBuyer(h, adminToken, USDC(10_000));
  const quotes: string[] = [];
  const policies: string[] = [];
  for (let i = 0; i < 4; i++) {
    const quote = (await h.ok(QUOTE, { r: risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer.token)).quote.id as string;
    quotes.push(quote.split('.')[0] as string);
    policies.push((await h.ok(PURCHASE, { q: quote }, buyer.token)).purchasePolicy.id);
  }
  const sorted = (ids: string[]) => [...ids].sort();
  assert.deepEqual(sorted(quotes), quotes);
  assert.deepEqual(sorted(policies), policies);
  // The wallet's entries, in the order they were posted (its credit, then each premium).
  const entries = (
    await h.db.query<{ entry_id: string }>(
      sql`SELECT entry_id FROM postings WHERE lower(account_id) = ${`wallet:usdc:${buyer.wallet.address.toLowerCase()}`} ORDER BY id`,
    )
  ).map((r) => r.entry_id);
  assert.equal(entries.length, 5);
  assert.deepEqual(sorted(entries), entries);
});

test("a day's close is its last live observation, else its last imported point, each feed's day by day up to the bound", async () => {
  const adminToken = await h.signIn(h.admin);
  const risk = await watchedRisk(h, adminToken);
  const [feed] = (await feedsOfRisk(h.db, risk.id, '')).map((f) => f.id);
  assert.ok(feed);
  await h.db.query(sql`DELETE FROM observations WHERE feed_id = ${feed}`);
  const at = (s: string) => Date.parse(s);
  const live = [
    ['2026-01-02T23:59:00Z', '0.98'],
    ['2026-01-02T12:00:00Z', '0.97'],
    ['2026-01-04T00:00:00Z', '0.96'],
    ['2026-01-04T18:00:00Z', '0.95'],
  ];
  const imported = [
    ['2025-12-30T10:00:00Z', '1.01'],
    ['2025-12-30T20:00:00Z', '1.02'],
    ['2026-01-02T23:59:30Z', '0.50'],
    ['2026-01-03T08:00:00Z', '1.03'],
  ];
  for (const [t, v] of live)
    await h.db.query(
      sql`INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at) VALUES (${feed}, ${v}, ${v}, ${t}, ${t})`,
    );
  for (const [t, v] of imported)
    await h.db.query(
      sql`INSERT INTO feed_history (feed_id, observed_at, value, source, imported_at) VALUES (${feed}, ${t}, ${v}, 'test', ${t})`,
    );
  const closes = (before: string) =>
    dailyCloses(h.db, risk.id, at(before)).then((cs) => cs.map((c) => [new Date(c.at).toISOString(), c.value]));
  // Dec 30 imported (its last point); Dec 31 and Jan 1 nothing; Jan 2 live, though a later import
  // sits on that day; Jan 3 imported; Jan 4 live, cut at the bound when it falls inside the day.
  assert.deepEqual(await closes('2026-01-05T00:00:00Z'), [
    ['2025-12-30T20:00:00.000Z', '1.02'],
    ['2026-01-02T23:59:00.000Z', '0.98'],
    ['2026-01-03T08:00:00.000Z', '1.03'],
    ['2026-01-04T18:00:00.000Z', '0.95'],
  ]);
  assert.deepEqual((await closes('2026-01-04T12:00:00Z')).at(-1), ['2026-01-04T00:00:00.000Z', '0.96']);
  assert.deepEqual(await closes('2025-12-30T00:00:00Z'), []);
});
