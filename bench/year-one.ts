/**
 * Year-one volume (issue 70; `BENCH_ONLY=year npm run bench`, on the PostgreSQL server): builds
 * in database `bench_year` what a year of a busy deployment leaves, seeded through the use cases
 * (admin, feeds, risks, pools, deposits) and filled in bulk by the server itself (INSERT ...
 * SELECT from generate_series, constraints checked once at the end rather than per row), then
 * measures the hot paths against the same market on a database with none of that history, in
 * the same run, and prints the database's size. `BENCH_KEEP=1` leaves `bench_year` in place with
 * its busiest risk named `year-one`, driven by a PUSH feed whose reporter is the README's admin
 * key (a fresh push arms it). `BENCH_YEAR_SCALE` (default 1) scales every volume, for a quick
 * run of the code path; `BENCH_YEAR_DB` names the database (beside a kept one, say).
 *
 * What it holds at scale 1: 50 feeds observed every 30 s for a year (52.6 million
 * observations), 10 million policies (1 million active, the rest expired) with their quotes,
 * 100,000 buyers' accounts, 30 million journal entries (60 million postings) of deposits and
 * withdrawals between those wallets and the outside world (net zero per account, so the
 * ledger's invariants hold), 200 risks and 50 pools, 1,000 webhook endpoints with 35 days of
 * deliveries and a million quotes never bought over the last two days (the oldest of both due
 * for pruning: a maintenance run with that backlog is measured while purchases run, as is a
 * migration adding a column and an online index to the policies). Ids are shaped as the app
 * makes them: time-ordered (domain/ids.ts).
 */
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { Hex } from 'viem';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool } from '../src/app/create-pool.ts';
import { creditAccount } from '../src/app/funding.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { createRisk } from '../src/app/risks.ts';
import { deposit } from '../src/app/underwrite.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { systemClock } from '../src/app/deps.ts';
import { createCoverClient } from '../src/client/index.ts';
import { type Database, createDatabase } from '../src/db/create-database.ts';
import { isLockTimeout } from '../src/db/classify-error.ts';
import { ledgerAccounts, postJournal } from '../src/db/ledger.ts';
import { RAW_WINDOW_DAYS, downsampleObservations, ensureObservationPartitions } from '../src/db/observation-partitions.ts';
import { encodeCursor } from '../src/domain/page.ts';
import {
  PURCHASE,
  QUOTE,
  SERVER_URL,
  USDC,
  createHarness,
  depegRiskInput,
  directMarket,
  migrationsWith,
  newWallet,
  testDeps,
} from '../test/helpers.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { createCpuWorker } from '../src/app/cpu-worker.ts';
import { claimTurn, releaseLease } from '../src/db/lease-store.ts';
import { loadReport } from '../src/db/adequacy-store.ts';
import type { AdequacyReport } from '../src/domain/adequacy.ts';
import { deleteStaleQuotes } from '../src/db/cover-store.ts';
import { DELIVERY_LOG_DAYS, pruneDeliveries } from '../src/db/webhook-store.ts';
import { settleBeside, settlementFigure } from './settle-round.ts';
import { ROOT, SERVER_FLAGS, appEnv, load, measureSteady, median, quoteQuery, serve, settle, spread } from './http.ts';

type Record = (figure: string, ours: string, baseline: string, ratio: number, goal: string, met: boolean) => void;

/** The README's admin key (anvil's first dev account): it signs in as admin and reports year-one's feed. */
const README_ADMIN_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80' as Hex;
const SCALE = Number(process.env.BENCH_YEAR_SCALE ?? 1);
const YEAR_DB = process.env.BENCH_YEAR_DB ?? 'bench_year';
const FEEDS = 50;
const RISKS = 200;
const POOLS = 50;
const YEAR_S = 365 * 86_400;
const v = (n: number) => Math.max(1, Math.round(n * SCALE));

function urlOf(name: string): string {
  const u = new URL(SERVER_URL as string);
  u.pathname = `/${name}`;
  return u.toString();
}

/** One statement on its own connection (no statement timeout): on the server's default database, or `url`'s. */
async function admin(text: string, url = SERVER_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A migrated, empty database `name` (dropped first if it exists). */
async function freshDatabase(name: string): Promise<{ db: Database; url: string }> {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const url = urlOf(name);
  const db = await createDatabase({ url, poolSize: 4 });
  await db.migrate();
  return { db, url };
}

interface Market {
  riskId: string;
  feedId: string;
  poolIds: string[];
  feedIds: string[];
  riskIds: string[];
}

/**
 * The market both databases share, through the use cases: FEEDS PUSH feeds (the first
 * reported by the README's admin), RISKS risks (four per feed; the first named year-one), POOLS
 * pools each backing four risks with 10 million USDC of capital.
 */
async function seed(db: Database): Promise<Market> {
  const adminAddress = privateKeyToAccount(README_ADMIN_KEY).address;
  const { deps } = testDeps(db, systemClock, adminAddress);
  const a: Viewer = { address: adminAddress, roles: ['admin'] };
  const feedIds: string[] = [];
  for (let f = 0; f < FEEDS; f++) feedIds.push((await registerFeed(deps, a, { name: `year feed ${f}`, kind: 'PUSH' })).id);
  const riskIds: string[] = [];
  for (let r = 0; r < RISKS; r++) {
    const risk = await createRisk(deps, a, depegRiskInput(r === 0 ? 'year-one' : `year risk ${r}`, `YEAR${r % 40}`) as never);
    await setRiskFeeds(deps, a, risk.id, [feedIds[r % FEEDS] as string]);
    riskIds.push(risk.id);
  }
  const poolIds: string[] = [];
  for (let p = 0; p < POOLS; p++) {
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const risks = [0, 1, 2, 3].map((k) => ({ riskId: riskIds[(p * 4 + k) % RISKS] as string }));
    const pool = await createPool(deps, curator, { name: `year pool ${p}`, risks });
    const capital = USDC(10_000_000);
    await creditAccount(deps, a, { address: curator.address, amount: capital.toString(), reference: `year-${pool.id}` });
    await deposit(deps, curator, pool.id, capital.toString(), 'SENIOR');
    poolIds.push(pool.id);
  }
  return { riskId: riskIds[0] as string, feedId: feedIds[0] as string, poolIds, feedIds, riskIds };
}

/** Every feed's calm value a second ago: the risks are watched, cover is sold. */
async function watch(db: Database, m: Market): Promise<void> {
  const { deps } = testDeps(db, systemClock, privateKeyToAccount(README_ADMIN_KEY).address);
  const at = Date.now() - 1_000;
  for (const feed of m.feedIds) await recordObservations(deps, feed, [{ value: '1.0001', observedAt: at, source: {} }], false);
}

/** How much history a database holds (fillYear). */
interface Volume {
  /** Observations per feed over the year (every 30 s at scale 1). */
  ticks: number;
  policies: number;
  active: number;
  /** Buyers' wallets: policy g is bought by wallet g mod buyers (0x..1 holds policies / buyers of them). */
  buyers: number;
  /** Deposit-withdrawal pairs of journal entries. */
  pairs: number;
  /** Of those, the busiest wallet's (0x00..0): two statement lines each. */
  busiest: number;
  /** Webhook endpoints, and their deliveries over the last 35 days (the oldest 5 due for pruning). */
  endpoints: number;
  deliveries: number;
  /** Quotes never bought over the last 48 hours (the older half due for pruning). */
  unbought: number;
}

/** A year of a busy deployment (the module's comment), at BENCH_YEAR_SCALE. */
const YEAR: Volume = {
  ticks: v(YEAR_S / 30),
  policies: v(10_000_000),
  active: v(1_000_000),
  buyers: v(100_000),
  pairs: v(15_000_000),
  busiest: v(500_000),
  endpoints: v(1_000),
  deliveries: v(1_400_000),
  unbought: v(1_000_000),
};

/**
 * The baseline's: no observations, and only what the measured pages read, the same on both
 * sides (0x..1's 100 policies, a statement page of 10,000 lines), so a ratio is the history's
 * cost and nothing else.
 */
const EMPTY: Volume = {
  ticks: 0,
  policies: 200,
  active: 20,
  buyers: 2,
  pairs: 5_000,
  busiest: 5_000,
  endpoints: 0,
  deliveries: 0,
  unbought: 0,
};

/**
 * An id as the app makes it (domain/ids.ts): `prefix` and a version 7 UUID's 32 hex digits, its
 * first 48 bits the milliseconds of `at` (an SQL timestamp), the rest from `n` (unique a row).
 */
const idOf = (prefix: string, at: string, n: string) =>
  `'${prefix}_' || lpad(to_hex((extract(epoch FROM ${at}) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(${n}), 19, '0')`;

/** The bulk of a year, written by the server (see the module's comment). */
async function fillYear(db: Database, url: string, m: Market, volume: Volume, log: (s: string) => void): Promise<void> {
  let ex: Pick<Database, 'query'> = db;
  const step = async (what: string, q: ReturnType<typeof sql>) => {
    const t = performance.now();
    await ex.query(q);
    log(`  ${what}: ${((performance.now() - t) / 1000).toFixed(0)} s`);
  };
  const { ticks, policies, active, buyers, pairs, busiest, endpoints, deliveries, unbought } = volume;
  // A year however many ticks (every 30 s at scale 1, less often at a smaller scale).
  const every = ticks === 0 ? 30 : YEAR_S / ticks;
  const feeds = sql.raw(`ARRAY[${m.feedIds.map((f) => `'${f}'`).join(',')}]`);
  const pools = sql.raw(`ARRAY[${m.poolIds.map((p) => `'${p}'`).join(',')}]`);
  // Each pool's four risks, in its order: risk k of pool p is risks[(4p + k) % RISKS].
  const risks = sql.raw(`ARRAY[${m.riskIds.map((r) => `'${r}'`).join(',')}]`);
  // Policy g and its quote were made at `at` (the query's). The year's journal entries are one
  // series h, written in the order of their ids as the app writes them: pair g = h / 2, a
  // deposit (h even) and its withdrawal, evenly spaced over the year.
  const [quoteId, policyId] = [sql.raw(idOf('quo', 'at', 'g')), sql.raw(idOf('pol', 'at', 'g'))];
  const entryId = sql.raw(idOf('je', 'at', 'h'));
  const endpointId = sql.raw(idOf('whk', 'at', 'g'));
  const entryRows = sql`generate_series(2, 2 * ${pairs} + 1) h,
    LATERAL (SELECT h / 2 AS g, CASE h % 2 WHEN 0 THEN 'd' ELSE 'w' END AS k,
      now() - interval '365 days' + ((h - 1)::float / (2 * ${pairs})) * interval '364 days' AS at) x`;
  // The year's months, as maintenance would have created them ahead.
  await ensureObservationPartitions(db, Date.now() - (YEAR_S + 86_400) * 1000, Date.now() + 62 * 86_400_000);
  await db.transaction(async (tx) => {
    ex = tx;
    // A load of minutes: not the app's statement timeout.
    await tx.query(sql`SET LOCAL statement_timeout = 0`);
    // The bulk keeps its references itself (every row below is built from rows written before
    // it): the tables' reference triggers and foreign keys are off for the load, and back on at
    // its end, in the same transaction.
    const bulk = ['observations', 'quotes', 'policies', 'journal_entries', 'postings', 'webhook_deliveries'];
    for (const t of bulk) await tx.query(sql.raw(`ALTER TABLE ${t} DISABLE TRIGGER ALL`));
    // A calm year: each feed within 0.0009 of the peg, never at its risks' recovery threshold
    // (0.999), so retention downsamples it all (a day at the threshold is kept whole).
    await step(
      `${(ticks * FEEDS).toLocaleString('en')} observations`,
      sql`INSERT INTO observations (feed_id, value, raw_value, observed_at, received_at)
        SELECT (${feeds})[f], 1 + ((g::bigint * 7919 + f * 104729) % 1801 - 900) / 1000000.0, 1,
          now() - interval '1 minute' - (${ticks} - g) * ${every} * interval '1 second', now() - interval '1 minute' - (${ticks} - g) * ${every} * interval '1 second'
        FROM generate_series(1, ${FEEDS}) f, generate_series(1, ${ticks}) g`,
    );
    await step(
      `${policies.toLocaleString('en')} quotes`,
      sql`INSERT INTO quotes (id, risk_id, pool_id, amount, duration_days, exposure, premium, fee, breakdown, created_at, expires_at)
        SELECT ${quoteId}, (${risks})[((((g % ${POOLS}) * 4) + (g / ${POOLS}) % 4) % ${RISKS}) + 1], (${pools})[(g % ${POOLS}) + 1],
          100000000, 30, 100000000, 200000, 10000, '{}', at, at
        FROM generate_series(1, ${policies}) g, LATERAL (SELECT now() - interval '365 days' + (g::float / ${policies}) * interval '335 days' AS at) w`,
    );
    await step(
      `${policies.toLocaleString('en')} policies (${active.toLocaleString('en')} active)`,
      sql`INSERT INTO policies (id, quote_id, buyer, holder, risk_id, pool_id, amount, exposure, premium, fee, earning_rate_wad, earning_dust_wad, start_at, end_at, status, created_at)
        SELECT ${policyId}, ${quoteId}, b, b, (${risks})[((((g % ${POOLS}) * 4) + (g / ${POOLS}) % 4) % ${RISKS}) + 1],
          (${pools})[(g % ${POOLS}) + 1], 100000000, 100000000, 200000, 10000, 0, 0,
          at, CASE WHEN g > ${policies - active} THEN now() + interval '20 days' ELSE at + interval '30 days' END,
          CASE WHEN g > ${policies - active} THEN 'ACTIVE' ELSE 'EXPIRED' END, at
        FROM generate_series(1, ${policies}) g,
          LATERAL (SELECT '0x' || lpad(to_hex(g % ${buyers}), 40, '0') AS b,
                          now() - interval '365 days' + (g::float / ${policies}) * interval '335 days' AS at) w`,
    );
    await step(
      `${buyers.toLocaleString('en')} accounts`,
      sql`INSERT INTO accounts (id, kind, asset, owner, balance)
        SELECT 'wallet:USDC:0x' || lpad(to_hex(g), 40, '0'), 'WALLET', 'USDC', '0x' || lpad(to_hex(g), 40, '0'), 0
        FROM generate_series(0, ${buyers - 1}) g ON CONFLICT (id) DO NOTHING`,
    );
    await step(
      `${(2 * pairs).toLocaleString('en')} journal entries`,
      sql`INSERT INTO journal_entries (id, kind, reference, memo, created_at)
        SELECT ${entryId}, CASE k WHEN 'd' THEN 'DEPOSIT' ELSE 'WITHDRAWAL' END, NULL, '{}', at
        FROM ${entryRows}`,
    );
    // Account 0x..0 (the busiest wallet) has a million lines; the others share the rest.
    await step(
      `${(4 * pairs).toLocaleString('en')} postings`,
      sql`INSERT INTO postings (entry_id, account_id, amount, at)
        SELECT ${entryId}, a.account, a.amount, at
        FROM ${entryRows},
          LATERAL (VALUES
            ('wallet:USDC:0x' || lpad(to_hex(CASE WHEN g <= ${busiest} THEN 0 ELSE g % ${buyers} END), 40, '0'), CASE k WHEN 'd' THEN 1000000 ELSE -1000000 END),
            ('external:USDC', CASE k WHEN 'd' THEN -1000000 ELSE 1000000 END)) AS a (account, amount)`,
    );
    // Quotes never bought: a day's, and a day's more now due for pruning. Maintenance has run all
    // year: pruning resumes after the last bought quote's expiry.
    await step(
      `${unbought.toLocaleString('en')} quotes never bought`,
      sql`INSERT INTO quotes (id, risk_id, pool_id, amount, duration_days, exposure, premium, fee, breakdown, created_at, expires_at)
        SELECT ${sql.raw(idOf('quo', 'at', `${policies} + g`))}, (${risks})[((((g % ${POOLS}) * 4) + (g / ${POOLS}) % 4) % ${RISKS}) + 1], (${pools})[(g % ${POOLS}) + 1],
          100000000, 30, 100000000, 200000, 10000, '{}', at, at + interval '5 minutes'
        FROM generate_series(1, ${unbought}) g, LATERAL (SELECT now() - interval '48 hours' + (g::float / ${unbought}) * interval '47 hours' AS at) w`,
    );
    await tx.query(sql`INSERT INTO prune_marks (job, upto_at, upto_id)
      SELECT 'quotes', expires_at, id FROM quotes WHERE expires_at < now() - interval '20 days' ORDER BY expires_at DESC, id DESC LIMIT 1`);
    // Webhooks: endpoints listening for their owners' payouts, and 35 days of deliveries made to them.
    await step(
      `${endpoints.toLocaleString('en')} webhook endpoints, ${deliveries.toLocaleString('en')} deliveries`,
      sql`WITH e AS (
        INSERT INTO webhook_endpoints (id, owner, url, secret, events, created_at)
        SELECT ${endpointId}, '0x' || lpad(to_hex(g), 40, 'e'), 'https://hooks.example.com/y' || g, 'whsec_y' || g,
          ARRAY['PAYOUT', 'WITHDRAWAL'], at
        FROM generate_series(0, ${endpoints - 1}) g, LATERAL (SELECT now() - interval '365 days' AS at) w RETURNING 1)
      INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event, payload, status, attempts, next_attempt_at, last_attempt_at, last_status, delivered_at, created_at)
      SELECT ${sql.raw(idOf('whd', 'at', 'g'))}, e.id, 'payout:y' || g, 'PAYOUT',
        jsonb_build_object('policyId', ${policyId}, 'amount', '100000000', 'at', at),
        'DELIVERED', 1, at, at, 200, at + interval '1 second', at
      FROM generate_series(1, ${deliveries}) g, LATERAL (SELECT now() - interval '35 days' + (g::float / ${deliveries}) * interval '35 days' AS at) w,
        LATERAL (SELECT ${endpointId} AS id FROM (SELECT g % GREATEST(${endpoints}, 1) AS g, now() - interval '365 days' AS at) x) e`,
    );
    await tx.query(sql`INSERT INTO webhook_scan (id, scanned_to) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET scanned_to = now()`);
    // The active policies' exposure, in the aggregates a sale keeps.
    await step(
      'aggregates of the active book',
      sql`WITH x AS (SELECT pool_id, risk_id, SUM(exposure) AS e FROM policies WHERE status = 'ACTIVE' GROUP BY pool_id, risk_id),
        r AS (UPDATE pool_risks pr SET exposure = x.e FROM x WHERE pr.pool_id = x.pool_id AND pr.risk_id = x.risk_id RETURNING pr.pool_id),
        g AS (UPDATE pool_group_exposure ge SET exposure = s.e
              FROM (SELECT x.pool_id, k.correlation_group, SUM(x.e) AS e FROM x JOIN risks k ON k.id = x.risk_id GROUP BY 1, 2) s
              WHERE ge.pool_id = s.pool_id AND ge.correlation_group = s.correlation_group RETURNING ge.pool_id)
        UPDATE pools p SET total_exposure = t.e FROM (SELECT pool_id, SUM(e) AS e FROM x GROUP BY pool_id) t WHERE p.id = t.pool_id`,
    );
    for (const t of bulk) await tx.query(sql.raw(`ALTER TABLE ${t} ENABLE TRIGGER ALL`));
  });
  // The premium the active book paid is held as unearned premium, as a sale holds it.
  for (const poolId of m.poolIds) {
    const [row] = await db.query<{ n: string }>(
      sql`SELECT COUNT(*)::text AS n FROM policies WHERE pool_id = ${poolId} AND status = 'ACTIVE'`,
    );
    const held = BigInt(row?.n ?? '0') * 200_000n;
    if (held > 0n)
      await db.transaction((tx) =>
        postJournal(tx, {
          kind: 'PREMIUM',
          at: Date.now(),
          postings: [
            { account: ledgerAccounts.external('USDC'), amount: -held },
            { account: ledgerAccounts.unearnedPremium('USDC', poolId), amount: held },
          ],
        }),
      );
  }
  // The market set up before the load (its pools' deposits) made the newest journal entries; the
  // year, older, went in behind them, so every page of the two indexes keyed by entry id split in
  // half on the way (3.0 GB for journal_entries_pkey, where a year of the app writing at their
  // right edge leaves 1.7). Rebuilt as that year would have left them.
  const r = performance.now();
  await admin('REINDEX INDEX journal_entries_pkey', url);
  await admin('REINDEX INDEX postings_entry_idx', url);
  log(`  entry id indexes rebuilt: ${((performance.now() - r) / 1000).toFixed(0)} s`);
  const t = performance.now();
  await admin('VACUUM ANALYZE', url);
  log(`  vacuum analyze: ${((performance.now() - t) / 1000).toFixed(0)} s`);
}

/** Bytes of the observations' partitions: all of them, and those still raw (not downsampled). */
async function observationBytes(db: Database): Promise<{ all: number; raw: number }> {
  const [r] = await db.query<{ all: string; raw: string }>(sql`
    SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::text AS all,
      COALESCE(SUM(pg_total_relation_size(c.oid)) FILTER (WHERE d.partition IS NULL), 0)::text AS raw
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid LEFT JOIN observation_downsamples d ON d.partition = c.relname
    WHERE i.inhparent = 'observations'::regclass`);
  return { all: Number(r?.all ?? 0), raw: Number(r?.raw ?? 0) };
}

/** Waits until a server's maintenance has finished a run begun after `since` (its last step is the platform's report). */
async function firstMaintenanceRun(db: Database, since: number): Promise<void> {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    const last = await loadReport<AdequacyReport>(db, 'platform:USDC');
    if (last && last.computedAt >= since) return;
    if (Date.now() > deadline) throw new Error('no maintenance run finished within five minutes');
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/**
 * Retention as maintenance runs it, a month at a time until none is due: what each month's
 * downsampling took (the copy under the month's own lock; the swap under the table's).
 */
async function retention(
  db: Database,
  log: (s: string) => void,
): Promise<{ months: number; seconds: number[]; before: number; after: number }> {
  const seconds: number[] = [];
  let before = 0;
  let after = 0;
  for (let waited = 0; ; ) {
    const t = performance.now();
    const done = await downsampleObservations(db, Date.now(), RAW_WINDOW_DAYS * 86_400_000).catch((error: unknown) => {
      // A lock the swap did not get in time (autovacuum analysing the freshly loaded months, say):
      // maintenance tries again at its next run; here, after a second.
      if (!isLockTimeout(error) || ++waited > 30) throw error;
      return 'again' as const;
    });
    if (done === 'again') {
      log('  a lock not taken in time: again in a second');
      await new Promise((r) => setTimeout(r, 1_000));
      continue;
    }
    if (!done) break;
    seconds.push((performance.now() - t) / 1000);
    before += done.rowsBefore;
    after += done.rowsAfter;
    log(
      `  downsampled ${done.partition}: ${done.rowsBefore.toLocaleString('en')} -> ${done.rowsAfter.toLocaleString('en')} rows in ${seconds.at(-1)?.toFixed(1)} s`,
    );
  }
  return { months: seconds.length, seconds, before, after };
}

/**
 * Rows maintenance's pruning would delete now: unbought quotes expired a day ago (of the last
 * three days, where the built backlog is), deliveries finished 30 days ago.
 */
async function pruningDue(db: Database): Promise<{ quotes: number; deliveries: number }> {
  const [r] = await db.query<{ quotes: number; deliveries: number }>(sql`
    SELECT (SELECT count(*)::int FROM quotes q WHERE q.expires_at < now() - interval '1 day'
              AND q.expires_at > now() - interval '3 days' AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.quote_key = q.id)) AS quotes,
           (SELECT count(*)::int FROM webhook_deliveries WHERE status <> 'PENDING'
              AND created_at < now() - ${DELIVERY_LOG_DAYS} * interval '1 day') AS deliveries`);
  return { quotes: r?.quotes ?? 0, deliveries: r?.deliveries ?? 0 };
}

const databaseBytes = async (db: Database) =>
  Number((await db.query<{ n: string }>(sql`SELECT pg_database_size(current_database())::text AS n`))[0]?.n ?? 0);

/** Median milliseconds of `n` sequential requests of `query` at `url`. */
async function latency(url: string, token: string, query: string, variables: object, n = 30): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t = performance.now();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { errors?: unknown[] };
    if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
    if (i >= 3) times.push(performance.now() - t);
  }
  return times;
}

/** GraphQL over HTTP with a session; throws on an error. */
async function gql(url: string, token: string, query: string, variables: object): Promise<{ [k: string]: unknown }> {
  const body = await post(url, token, query, variables);
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data ?? {};
}

interface Answer {
  data?: { [k: string]: unknown };
  errors?: Array<{ extensions?: { code?: string } }>;
}

async function post(url: string, token: string, query: string, variables: object): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Answer;
}

/**
 * A buyer funded on `db` and signed in at `url`: each call takes a quote (not timed) and buys
 * it, returning the purchase's milliseconds.
 */
async function buyer(db: Database, url: string, riskId: string): Promise<() => Promise<number>> {
  const key = generatePrivateKey();
  const account = privateKeyToAccount(key);
  const adminAddress = privateKeyToAccount(README_ADMIN_KEY).address;
  const { deps } = testDeps(db, systemClock, adminAddress);
  await creditAccount(
    deps,
    { address: adminAddress, roles: ['admin'] },
    { address: account.address, amount: USDC(1_000_000).toString(), reference: `year-buyer-${account.address}` },
  );
  const token = (await createCoverClient({ url }).signIn(account)).token;
  // A price that moved between the quote and the purchase (maintenance refreshing the pool, say)
  // is asked again, as a client does; the buyer waited on every purchase it sent.
  return async () => {
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      const quote = (await gql(url, token, QUOTE, { r: riskId, amt: USDC(100).toString(), d: 30 })).quote as { id: string };
      const t = performance.now();
      const body = await post(url, token, PURCHASE, { q: quote.id });
      waited += performance.now() - t;
      if (!body.errors) return waited;
      if (attempt >= 3 || body.errors[0]?.extensions?.code !== 'QUOTE_PRICE_CHANGED')
        throw new Error(`${PURCHASE}: ${JSON.stringify(body.errors)}`);
    }
  };
}

/** Milliseconds of `n` purchases one after another (buyer), after 5 not counted. */
async function purchaseTimes(buy: () => Promise<number>, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    const took = await buy();
    if (i >= 5) times.push(took);
  }
  return times;
}

/** `work` run while purchases go on one after another: what it returned, its seconds, and the purchases' milliseconds meanwhile. */
async function whilePurchasing<T>(
  buy: () => Promise<number>,
  work: () => Promise<T>,
): Promise<{ result: T; seconds: number; purchases: number[] }> {
  let going = true;
  const purchases: number[] = [];
  const buying = (async () => {
    while (going) purchases.push(await buy());
  })();
  await new Promise((r) => setTimeout(r, 500));
  const t = performance.now();
  try {
    const result = await work();
    return { result, seconds: (performance.now() - t) / 1000, purchases };
  } finally {
    going = false;
    await buying;
  }
}

/** The app compiled as `npm start` compiles it (dist/), once before its servers start. */
const buildApp = () => execFileSync(process.execPath, [join(ROOT, 'src/bin/build.mjs')], { cwd: ROOT, stdio: 'inherit' });

/** The app as `npm start` runs it on the database at `url`, its log `<name>.log` in `work`. */
const serveApp = (url: string, admin: string, work: string, name: string) =>
  serve([...SERVER_FLAGS, 'dist/src/bin/server.js'], appEnv({ admin, url }, work), join(work, `${name}.log`));

type QuoteRounds = { [side in 'year' | 'fresh']: Array<{ rps: number; p99: number }> };

/** The year's quote rounds against the fresh database's: throughput (>= 0.9) and p99 (<= 1.2), medians of the rounds. */
function recordQuoteRounds(record: Record, rounds: QuoteRounds, throughput: string, tail: string): void {
  const rps = (s: 'year' | 'fresh') => rounds[s].map((r) => r.rps);
  const p99 = (s: 'year' | 'fresh') => rounds[s].map((r) => r.p99);
  const t = median(rps('year')) / median(rps('fresh'));
  record(throughput, spread(rps('year'), 'req/s'), spread(rps('fresh'), 'req/s'), t, '>= 0.9', t >= 0.9);
  const p = median(p99('year')) / median(p99('fresh'));
  record(tail, spread(p99('year'), 'ms'), spread(p99('fresh'), 'ms'), p, '<= 1.2', p <= 1.2);
}

const OUTLOOK = `query($id: ID!) { pool(id: $id) { capital outlook { expectedYield premiumYield tranches { tranche premiumYield } worstCase { lossAt99 scenarios { name loss } } } } }`;
const RISK_PAGE = `query($id: ID!) { risk(id: $id) { id name state score { score } pricing { model historyDays } } capacity(riskId: $id) { coverLeft } }`;
const POLICIES = `query($a: String!) { policies(address: $a, first: 50) { nodes { id status amount premium } } }`;
const EVIDENCE = `query($f: ID!, $c: String) { feed(id: $f) { history(first: 100, after: $c) { nodes { value observedAt } } } }`;
const STATEMENT = `query($a: String!) { statement(address: $a, asset: "USDC") { lines { at amount balanceAfter } truncated } }`;

export async function yearOne(record: Record): Promise<void> {
  if (!SERVER_URL) {
    console.log('year-one: needs the PostgreSQL server (DATABASE_URL); skipped');
    return;
  }
  const log = (s: string) => console.log(s);
  const started = performance.now();
  log(`year-one: building ${YEAR_DB} at scale ${SCALE} (minutes)`);
  const year = await freshDatabase(YEAR_DB);
  const yearMarket = await seed(year.db);
  await fillYear(year.db, year.url, yearMarket, YEAR, log);
  await watch(year.db, yearMarket);
  const buildMinutes = (performance.now() - started) / 60_000;
  const fresh = await freshDatabase(`${YEAR_DB}_empty`);
  const freshMarket = await seed(fresh.db);
  await fillYear(fresh.db, fresh.url, freshMarket, EMPTY, () => {});
  await watch(fresh.db, freshMarket);
  const yearBytes = await databaseBytes(year.db);
  const freshBytes = await databaseBytes(fresh.db);
  const observedBefore = await observationBytes(year.db);
  log(
    `year-one: built in ${buildMinutes.toFixed(1)} min; ${(yearBytes / 2 ** 30).toFixed(1)} GiB against ${(freshBytes / 2 ** 20).toFixed(0)} MiB empty`,
  );
  // A year's observations past the raw window, downsampled as maintenance does; then the pages.
  const kept = await retention(year.db, log);
  const retainedBytes = await databaseBytes(year.db);
  const observedAfter = await observationBytes(year.db);

  buildApp();
  const work = mkdtempSync(join(tmpdir(), 'cover-bench-year-'));
  const cpu = createCpuWorker();
  const adminAddress = privateKeyToAccount(README_ADMIN_KEY).address;
  const serversStarted = Date.now();
  const servers = {
    year: await serveApp(year.url, adminAddress, work, 'year'),
    fresh: await serveApp(fresh.url, adminAddress, work, 'fresh'),
  };
  try {
    const sides = { year: { ...servers.year, m: yearMarket }, fresh: { ...servers.fresh, m: freshMarket } };
    const buyers = {
      year: await buyer(year.db, servers.year.url, yearMarket.riskId),
      fresh: await buyer(fresh.db, servers.fresh.url, freshMarket.riskId),
    };
    // Maintenance with a backlog (a day of unbought quotes and five days of finished webhook
    // deliveries due) while purchases run, then what is left of it pruned: the measured rounds
    // below run in the steady state a deployment's maintenance keeps. The bench takes the
    // deployment's maintenance turn first (the servers' first tick is 30 s after their start),
    // for longer than the run takes, so that the backlog is this run's to prune and no server's
    // run goes beside it; it hands the turn back below. Its simulations run on a worker thread,
    // as a server's do: on this process's event loop, they would hold the purchases it times.
    await claimTurn(year.db, 'maintenance', 'bench-year', 20 * 60_000);
    const before = await purchaseTimes(buyers.year, 20);
    const dueBefore = await pruningDue(year.db);
    const maintained = { ...testDeps(year.db, systemClock, privateKeyToAccount(README_ADMIN_KEY).address).deps, cpu };
    const run = await whilePurchasing(buyers.year, () => runMaintenance(maintained));
    const dueAfter = await pruningDue(year.db);
    const slowest = Math.max(...run.purchases);
    record(
      'year-one a maintenance run with a backlog to prune, while purchases run (slowest purchase during it / before it)',
      `${slowest.toFixed(0)} ms, ${run.purchases.length} purchases in the run's ${run.seconds.toFixed(1)} s; pruned ${(dueBefore.quotes - dueAfter.quotes).toLocaleString('en')} of ${dueBefore.quotes.toLocaleString('en')} quotes due, ${(dueBefore.deliveries - dueAfter.deliveries).toLocaleString('en')} of ${dueBefore.deliveries.toLocaleString('en')} deliveries`,
      `${Math.max(...before).toFixed(0)} ms`,
      slowest / Math.max(...before),
      'no purchase waits 1 s',
      slowest < 1_000 && dueAfter.quotes < dueBefore.quotes && dueAfter.deliveries < dueBefore.deliveries,
    );
    // The same run again at once: what a deployment's maintenance costs each interval once its
    // books are simulated (each again only when it moved: docs/design.md section 6).
    const again = performance.now();
    await runMaintenance(maintained);
    const steady = (performance.now() - again) / 1_000;
    record(
      'year-one a maintenance run again at once, its books unmoved (it / the run with a backlog)',
      `${steady.toFixed(1)} s`,
      `${run.seconds.toFixed(1)} s`,
      steady / run.seconds,
      'within the 30 s interval',
      steady < 30,
    );
    for (;;) {
      const now = Date.now();
      const gone =
        (await deleteStaleQuotes(year.db, now - 86_400_000)).deleted +
        (await pruneDeliveries(year.db, now - DELIVERY_LOG_DAYS * 86_400_000)).deleted;
      if (gone === 0) break;
    }
    // A server's first maintenance run simulates every book (101 of 100,000 paths: a core for
    // about half a minute); later runs only the books that moved (docs/design.md section 6). The
    // rounds below measure the steady state: after each server's first run, the year's once the
    // bench hands its turn back.
    await releaseLease(year.db, 'maintenance', 'bench-year');
    const handedBack = Date.now();
    await firstMaintenanceRun(fresh.db, serversStarted);
    await firstMaintenanceRun(year.db, handedBack);
    // Quotes over HTTP from a separate process, rounds alternating.
    const rounds = { year: [] as Array<{ rps: number; p99: number }>, fresh: [] as Array<{ rps: number; p99: number }> };
    const n = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);
    for (let i = 0; i < n; i++) {
      for (const side of ['fresh', 'year'] as const) {
        await settle(SERVER_URL);
        rounds[side].push(measureSteady(sides[side].url, quoteQuery(sides[side].m.riskId), Number(process.env.BENCH_HTTP_SECONDS ?? 8)));
      }
    }
    recordQuoteRounds(record, rounds, 'year-one quote throughput over HTTP (year / empty)', 'year-one quote p99 (year / empty)');
    // Pages, one request at a time.
    const tokens = {
      year: (await createCoverClient({ url: servers.year.url }).signIn(privateKeyToAccount(README_ADMIN_KEY))).token,
      fresh: (await createCoverClient({ url: servers.fresh.url }).signIn(privateKeyToAccount(README_ADMIN_KEY))).token,
    };
    const busiest = `0x${'0'.repeat(40)}`;
    const pages: Array<[string, string, (m: Market) => object]> = [
      ["a pool's outlook", OUTLOOK, (m) => ({ id: m.poolIds[0] })],
      ["a risk's page", RISK_PAGE, (m) => ({ id: m.riskId })],
      ["an account's policies", POLICIES, () => ({ a: `0x${'0'.repeat(39)}1` })],
      ['a statement page (10,000 lines of the busiest account)', STATEMENT, () => ({ a: busiest })],
    ];
    for (const [name, query, vars] of pages) {
      const y = await latency(servers.year.url, tokens.year, query, vars(yearMarket));
      const f = await latency(servers.fresh.url, tokens.fresh, query, vars(freshMarket));
      const ratio = median(y) / median(f);
      record(
        `year-one ${name} (year / empty)`,
        spread(y, 'ms', 1),
        spread(f, 'ms', 1),
        ratio,
        '<= 1.5 and < 200 ms',
        ratio <= 1.5 && median(y) < 200,
      );
    }
    // Purchases, one after another, alternating sides in two halves.
    const bought = { year: [] as number[], fresh: [] as number[] };
    for (const side of ['fresh', 'year', 'fresh', 'year'] as const) bought[side].push(...(await purchaseTimes(buyers[side], 20)));
    const buys = median(bought.fresh) / median(bought.year);
    record(
      'year-one purchases over HTTP, one after another (throughput, year / empty)',
      spread(bought.year, 'ms', 1),
      spread(bought.fresh, 'ms', 1),
      buys,
      '>= 0.85',
      buys >= 0.85,
    );
    // Evidence over a window of a year-old feed: a page of the first feed's history from 360 days back.
    const evidenceVars = (m: Market) => ({ f: m.feedId, c: encodeCursor({ key: Date.now() - 360 * 86_400_000, id: m.feedId }) });
    const ey = await latency(servers.year.url, tokens.year, EVIDENCE, evidenceVars(yearMarket));
    const ef = await latency(servers.fresh.url, tokens.fresh, EVIDENCE, evidenceVars(freshMarket));
    record(
      "year-one an incident's evidence: 100 observations of a year-old window (year / empty)",
      spread(ey, 'ms', 1),
      spread(ef, 'ms', 1),
      median(ey) / median(ef),
      '< 200 ms',
      median(ey) < 200,
    );
    // A column and an index added to the ten million policies while purchases run: the runner's
    // lock timeout for the column, the index built online (CONCURRENTLY). Then taken out again, so
    // the kept database is the product's.
    const probe = migrationsWith('9999_year_probe', 'ALTER TABLE policies ADD COLUMN year_probe text;', {
      '9999_year_probe.sql': 'CREATE INDEX CONCURRENTLY IF NOT EXISTS policies_year_probe_idx ON policies (buyer, risk_id, created_at);',
    });
    const migrating = await createDatabase({ url: year.url, poolSize: 1 });
    try {
      const calm = await purchaseTimes(buyers.year, 20);
      const m = await whilePurchasing(buyers.year, () => migrating.migrate(probe));
      const [index] = await year.db.query<{ valid: boolean }>(
        sql`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'policies_year_probe_idx'`,
      );
      const worst = Math.max(...m.purchases);
      record(
        `year-one a column and an index added to ${YEAR.policies.toLocaleString('en')} policies while purchases run (slowest purchase during it / before it)`,
        `${worst.toFixed(0)} ms, ${m.purchases.length} purchases in the migration's ${m.seconds.toFixed(1)} s`,
        `${Math.max(...calm).toFixed(0)} ms`,
        worst / Math.max(...calm),
        'no purchase waits 1 s; the index valid',
        worst < 1_000 && index?.valid === true && m.purchases.length >= 3,
      );
    } finally {
      await admin('DROP INDEX CONCURRENTLY IF EXISTS policies_year_probe_idx', year.url);
      await admin('ALTER TABLE policies DROP COLUMN IF EXISTS year_probe', year.url);
      const journal = JSON.parse(readFileSync(join(probe, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ when: number }> };
      await admin(`DELETE FROM drizzle.__drizzle_migrations WHERE created_at = ${journal.entries.at(-1)?.when}`, year.url);
      await migrating.close();
      rmSync(probe, { recursive: true, force: true });
    }
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    const longest = Math.max(0, ...kept.seconds);
    record(
      `year-one retention: ${kept.months} months past ${RAW_WINDOW_DAYS} days downsampled (the longest month)`,
      `${kept.before.toLocaleString('en')} -> ${kept.after.toLocaleString('en')} rows, ${longest.toFixed(1)} s`,
      '-',
      kept.before === 0 ? 0 : kept.after / kept.before,
      'each month a run, under its own lock',
      kept.before > 0 && kept.after < kept.before,
    );
    // After retention the observations hold the raw window and the downsampled months: what a
    // month adds past the window is its downsampled copy; the rest grows with sales.
    const perMonth = (retainedBytes - observedAfter.raw) / 12;
    record(
      'year-one database size after retention (observations: all / the raw window)',
      `${gib(retainedBytes)} (was ${gib(yearBytes)}); observations ${gib(observedAfter.all)} / ${gib(observedAfter.raw)} (were ${gib(observedBefore.all)}); ${gib(perMonth)} a month`,
      `${(freshBytes / 2 ** 20).toFixed(0)} MiB`,
      retainedBytes / freshBytes,
      "observations at most 1.15 x their raw window's (docs/scaling.md)",
      observedAfter.all <= 1.15 * observedAfter.raw,
    );
    // Settling an incident on a million active policies (a risk and pool of their own, written in
    // bulk beside the year's book) against a bare insert of as many rows, on the year's database.
    // The invariants checked after each round read the whole ledger (61 million postings): on
    // a connection without the app's two-minute statement timeout, which a slow host passed.
    for (const s of Object.values(servers)) s.child.kill('SIGTERM');
    const unbounded = await createDatabase({ url: year.url, poolSize: 4, statementTimeoutMs: 0 });
    const h = await createHarness({}, unbounded);
    const beforeSettling = await databaseBytes(year.db);
    const active = v(1_000_000);
    const runs = [];
    try {
      for (let i = 0; i < Number(process.env.BENCH_YEAR_SETTLE_ROUNDS ?? 2); i++) runs.push(await settleBeside(h, active, i % 2 === 0));
    } finally {
      await unbounded.close();
    }
    const f = settlementFigure(runs);
    record(
      `year-one settling an incident on ${active.toLocaleString('en')} active policies (ours / a bare insert of as many rows)`,
      f.ours,
      f.bare,
      f.ratio,
      '<= 1.5',
      f.ratio <= 1.5,
    );
    // What BENCH_KEEP=1 leaves, to measure against: the year after retention, with the settlement
    // rounds' million-policy pools and what the measurements before them wrote.
    const keptBytes = await databaseBytes(year.db);
    const settled = keptBytes - beforeSettling;
    record(
      `year-one database size as left (${YEAR_DB}, what BENCH_KEEP=1 keeps / after retention)`,
      `${gib(keptBytes)}, of which the settlement rounds' ${(runs.length * active).toLocaleString('en')} policies ${gib(settled)}`,
      gib(retainedBytes),
      keptBytes / retainedBytes,
      'the rest within 2% of the size after retention',
      keptBytes - settled <= 1.02 * retainedBytes,
    );
  } finally {
    for (const s of Object.values(servers)) s.child.kill('SIGTERM');
    await year.db.close();
    await fresh.db.close();
    await cpu.close();
    rmSync(work, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS ${YEAR_DB}_empty WITH (FORCE)`);
    if (process.env.BENCH_KEEP !== '1') await admin(`DROP DATABASE IF EXISTS ${YEAR_DB} WITH (FORCE)`);
  }
}

/**
 * BENCH_ONLY=year-again: quotes on a kept `bench_year` (BENCH_KEEP=1) measured again as anyone
 * would, from servers started just now: the app on bench_year's risk `year-one` (its feed pushed
 * first, as the README's admin would) and on a fresh database of one risk and one pool, rounds
 * alternating from the moment both are ready, without waiting for either's first maintenance run
 * (which, on the year's 50 pools, simulates every book: a core for about half a minute).
 */
export async function yearAgain(record: Record): Promise<void> {
  if (!SERVER_URL) {
    console.log('year-again: needs the PostgreSQL server (DATABASE_URL); skipped');
    return;
  }
  const yearUrl = urlOf(YEAR_DB);
  const yearDb = await createDatabase({ url: yearUrl, poolSize: 2 });
  const fresh = await freshDatabase(`${YEAR_DB}_again`);
  const work = mkdtempSync(join(tmpdir(), 'cover-bench-again-'));
  const servers: Array<{ child: ChildProcess }> = [];
  try {
    const [yearOne] = await yearDb.query<{ id: string; feed: string }>(
      sql`SELECT r.id, rf.feed_id AS feed FROM risks r JOIN risk_feeds rf ON rf.risk_id = r.id WHERE r.name = 'year-one'`,
    );
    if (!yearOne) throw new Error(`${YEAR_DB} has no risk named year-one: run BENCH_ONLY=year BENCH_KEEP=1 first`);
    const adminAddress = privateKeyToAccount(README_ADMIN_KEY).address;
    const { deps } = testDeps(yearDb, systemClock, adminAddress);
    await recordObservations(deps, yearOne.feed, [{ value: '1.0001', observedAt: Date.now() - 1_000, source: {} }], false);
    const freshAdmin = newWallet();
    const { deps: freshDeps } = testDeps(fresh.db, systemClock, freshAdmin.address);
    const freshMarket = await directMarket(
      { deps: freshDeps, db: fresh.db, admin: freshAdmin, clock: systemClock },
      USDC(10_000_000),
      depegRiskInput('again', 'AGAIN'),
      'again',
    );
    buildApp();
    const started = Date.now();
    const sides = {
      fresh: { ...(await serveApp(fresh.url, freshAdmin.address, work, 'fresh')), riskId: freshMarket.risk.id },
      year: { ...(await serveApp(yearUrl, adminAddress, work, 'year')), riskId: yearOne.id },
    };
    servers.push(sides.fresh, sides.year);
    const rounds = {
      year: [] as Array<{ rps: number; p99: number; at: number }>,
      fresh: [] as Array<{ rps: number; p99: number; at: number }>,
    };
    const n = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);
    const seconds = Number(process.env.BENCH_HTTP_SECONDS ?? 8);
    for (let i = 0; i < n; i++) {
      for (const side of ['fresh', 'year'] as const) {
        const at = (Date.now() - started) / 1_000;
        rounds[side].push({ ...load(sides[side].url, quoteQuery(sides[side].riskId), seconds), at });
      }
    }
    const report = await loadReport<AdequacyReport>(yearDb, 'platform:USDC');
    const firstRun =
      report && report.computedAt >= started ? `at ${((report.computedAt - started) / 1_000).toFixed(0)} s` : 'after the rounds';
    console.log(
      `year-again: rounds (s after the servers started: req/s) fresh ${rounds.fresh.map((r) => `${r.at.toFixed(0)}: ${r.rps.toFixed(0)}`).join(', ')}; year ${rounds.year.map((r) => `${r.at.toFixed(0)}: ${r.rps.toFixed(0)}`).join(', ')}; the year server's first maintenance run finished ${firstRun}`,
    );
    recordQuoteRounds(
      record,
      rounds,
      'year-again quote throughput over HTTP, servers just started (kept year / fresh database)',
      'year-again quote p99, servers just started (kept year / fresh database)',
    );
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await yearDb.close();
    await fresh.db.close();
    rmSync(work, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS ${YEAR_DB}_again WITH (FORCE)`);
  }
}
