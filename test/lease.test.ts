import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { findIncident } from '../src/db/incident-store.ts';
import { claimTurn, leaseHolder } from '../src/db/lease-store.ts';
import { createWatcher } from '../src/watcher/watcher.ts';
import { createPrometheus } from '../src/http/prometheus.ts';
import { createLeaseKeeper } from '../src/watcher/lease-keeper.ts';
import { fencedTransaction } from '../src/app/lease.ts';
import { LeaseLostError } from '../src/domain/errors.ts';
import { httpStatusOf } from '../src/http/errors.ts';
import type { Executor } from '../src/db/create-database.ts';
import { bigIncident } from './bulk-policies.ts';
import { type Harness, SERVER_URL, USDC, assertLedgerInvariants, createHarness, insuredMarket, useHarness, waitFor } from './helpers.ts';
import { registerFeed } from '../src/app/register-feed.ts';

const idle = { read: async () => [] };

/** A lease's (or turn's) time runs out now, on the database's clock that leases are kept on, instead of the test sleeping through it. */
const lapse = (h: Harness, name: string) =>
  h.db.query(sql`UPDATE leases SET expires_at = now() - interval '1 millisecond' WHERE name = ${name}`);

describe('one settling watcher: the lease', () => {
  const h = useHarness();

  test('two watchers: one leads, the other waits, and takes over when the leader stops beating', async () => {
    // A TTL no set-up on a loaded machine can outlast: the lease lapses when the test says, not
    // when the wall clock does (a 3 s TTL once lapsed before the follower's first check in CI).
    const a = createWatcher(h.deps, { reader: idle, intervalMs: 60_000, leaseTtlMs: 600_000, holder: 'watcher-a' });
    const b = createWatcher(h.deps, { reader: idle, intervalMs: 60_000, leaseTtlMs: 600_000, holder: 'watcher-b' });
    await a.tick();
    await b.tick();
    assert.equal(a.isLeader(), true);
    assert.equal(b.isLeader(), false);
    const incident = await bigIncident(h, 1, 50);
    await b.settlePending();
    assert.equal((await findIncident(h.db, incident))?.status, 'SETTLING', 'a follower does not settle');
    // The leader "crashes": no more heartbeats, and its TTL runs out on the database's clock
    // (the lease's clock): its expiry is moved to the past, as that much time passing would.
    await b.tick();
    assert.equal(b.isLeader(), false, 'the follower waits while the lease is live');
    await lapse(h, 'watcher');
    await b.tick();
    assert.equal(b.isLeader(), true);
    assert.equal((await findIncident(h.db, incident))?.status, 'SETTLED');
    await a.tick();
    assert.equal(a.isLeader(), false, 'the old leader sees it lost the lease');
    await b.stop();
    assert.equal(await leaseHolder(h.db, 'watcher'), null, 'a clean stop releases the lease');
    await a.stop();
    await assertLedgerInvariants(h.db);
  });

  test('independent loops: a feed read that hangs delays neither settlement nor maintenance, and health says which loop is stuck', async () => {
    const m = await insuredMarket(h, USDC(50_000), 'loops');
    const admin = { address: h.admin.address, roles: ['admin' as const] };
    await registerFeed(h.deps, admin, { name: 'hangs', kind: 'HTTP', url: 'https://feeds.example/usd', path: 'price' });
    let release = () => {};
    const hung = new Promise<never[]>((resolve) => {
      release = () => resolve([]);
    });
    // Every polled read hangs, as a call to an RPC node that holds its answer does.
    const w = createWatcher(h.deps, { reader: { read: () => hung }, intervalMs: 50, leaseTtlMs: 5_000, holder: 'loops' });
    w.start();
    try {
      const incident = await m.depeg();
      await waitFor('the incident settled while the feed read hangs', async () =>
        (await findIncident(h.db, incident))?.status === 'SETTLED' ? true : undefined,
      );
      // The feeds loop completed at most its first run (before it led); the others go on.
      await new Promise((r) => setTimeout(r, 1_500));
      const ages = w.loopAges();
      assert.ok(ages.feeds === null || ages.feeds >= 1.4, JSON.stringify(ages));
      assert.ok(ages.settlement !== null && ages.settlement < (ages.feeds ?? 99) - 0.5, JSON.stringify(ages));
      assert.ok(ages.chain !== null && ages.chain < (ages.feeds ?? 99) - 0.5, JSON.stringify(ages));
    } finally {
      release();
      await w.stop();
    }
    await assertLedgerInvariants(h.db);
  });

  test('maintenance runs once per deployment: of the replicas and the watcher ticking, one claims each turn', async () => {
    const claims = async () => [
      await claimTurn(h.db, 'maintenance-test', 'api-a', 600_000),
      await claimTurn(h.db, 'maintenance-test', 'api-b', 600_000),
      await claimTurn(h.db, 'maintenance-test', 'watcher', 600_000),
    ];
    assert.deepEqual(await claims(), [true, false, false]);
    assert.deepEqual(await claims(), [false, false, false], 'the turn is taken until its interval has passed');
    await lapse(h, 'maintenance-test');
    assert.deepEqual((await claims()).filter(Boolean).length, 1, 'the next turn, to one of them');
  });

  test('the lease gauge is one series per process, whatever the holder id of each run', async () => {
    const prometheus = createPrometheus(h.db);
    const deps = { ...h.deps, metrics: prometheus.metrics };
    for (const holder of ['run-1', 'run-2']) {
      const keeper = createLeaseKeeper(deps, { name: 'gauge-test', holder, ttlMs: 5_000 }, h.deps.log);
      assert.equal(await keeper.beat(), true);
      await keeper.release();
    }
    const samples = (await prometheus.registry.metrics()).split('\n').filter((l) => l.startsWith('cover_watcher_lease_held'));
    assert.deepEqual(samples, ['cover_watcher_lease_held 0']);
  });

  test('fencing: a leader paused past its TTL writes nothing when it wakes, whoever holds the lease now', async () => {
    const log = h.deps.log;
    const a = createLeaseKeeper(h.deps, { name: 'fence-test', holder: 'a', ttlMs: 300 }, log);
    const b = createLeaseKeeper(h.deps, { name: 'fence-test', holder: 'b', ttlMs: 60_000 }, log);
    const marker = (who: string) =>
      sql`INSERT INTO leases (name, holder, acquired_at, heartbeat_at, expires_at) VALUES (${`mark-${who}`}, ${who}, now(), now(), now())`;
    const asA = { db: h.db, fence: (tx: Executor) => a.fence(tx) };
    assert.equal(await a.beat(), true);
    const first = a.epoch();
    await fencedTransaction(asA, (tx) => tx.query(marker('a1')));
    // A is "paused" past its TTL; B takes over with a higher epoch.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await b.beat(), true);
    assert.ok((b.epoch() as bigint) > (first as bigint), 'a new holder gets a higher epoch');
    const lost = await fencedTransaction(asA, (tx) => tx.query(marker('a2'))).then(
      () => assert.fail('a fenced write of a lost lease must fail'),
      (error: unknown) => error,
    );
    assert.ok(lost instanceof LeaseLostError, String(lost));
    // One of the product's errors: an outage whoever asked may retry, 503 wherever HTTP answers it.
    assert.equal(lost.code, 'UNAVAILABLE');
    assert.equal(httpStatusOf(lost.code), 503);
    assert.equal(a.isLeader(), false, 'a fenced write stops the old leader leading');
    const marks = await h.db.query<{ name: string }>(sql`SELECT name FROM leases WHERE name LIKE 'mark-%' ORDER BY name`);
    assert.deepEqual(
      marks.map((m) => m.name),
      ['mark-a1'],
      "the stale leader's write was not made",
    );
    // Its own lease lapsing is enough: re-taking it is a new epoch, and the old one's writes fail.
    await b.release();
    const c = createLeaseKeeper(h.deps, { name: 'fence-solo', holder: 'c', ttlMs: 300 }, log);
    assert.equal(await c.beat(), true);
    const stale = c.epoch() as bigint;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await c.beat(), true);
    assert.ok((c.epoch() as bigint) > stale, 'a lease taken again after it lapsed is a new epoch');
    await h.db.query(sql`DELETE FROM leases WHERE name LIKE 'mark-%' OR name LIKE 'fence-%'`);
  });
});

describe('two watcher processes on the PostgreSQL server, the leader killed mid-settlement', () => {
  let h: Harness;
  const children: ChildProcess[] = [];
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await h.close();
  });

  // PGlite is a single in-process database: a second process cannot open it. This test runs
  // in CI's server pass (DATABASE_URL set); the lease logic itself is tested above on both.
  test('the follower takes over and the incident is paid exactly once', {
    skip: SERVER_URL ? false : 'needs the PostgreSQL server (DATABASE_URL)',
  }, async () => {
    const incident = await bigIncident(h, 6, 4_000);
    const spawnWatcher = (name: string) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/watcher.ts'], {
        env: {
          ...process.env,
          DATABASE_URL: h.db.url,
          WATCHER_INTERVAL_MS: '100',
          WATCHER_LEASE_TTL_MS: '1500',
          WATCHER_METRICS_PORT: '0',
          LOG_LEVEL: 'warn',
          SIMULATION_PATHS: '1000',
        },
        stdio: 'ignore',
      });
      children.push(child);
      return { name, child };
    };
    const first = spawnWatcher('first');
    // Let the first take the lease before the second starts.
    const leader = await waitFor('a lease holder', async () => (await leaseHolder(h.db, 'watcher'))?.holder);
    assert.match(leader, new RegExp(`:${first.child.pid}:`));
    const second = spawnWatcher('second');
    // Kill the leader once part of the settlement has committed.
    await waitFor('part of the settlement', async () => {
      const rows = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM incident_pools WHERE incident_id = ${incident}`);
      return Number(rows[0]?.n) > 0 ? true : undefined;
    });
    first.child.kill('SIGKILL');
    const settled = await waitFor('the settled incident', async () => (await findIncident(h.db, incident))?.status === 'SETTLED', 60_000);
    assert.ok(settled);
    assert.match((await leaseHolder(h.db, 'watcher'))?.holder ?? '', new RegExp(`:${second.child.pid}:`));
    const rows = await h.db.query<{ n: string; paid: string }>(
      sql`SELECT COUNT(*) AS n, SUM(paid) AS paid FROM payouts WHERE incident_id = ${incident}`,
    );
    assert.equal(Number(rows[0]?.n), 24_000);
    assert.equal(BigInt(rows[0]?.paid ?? '0'), 24_000n * USDC(1_000));
    second.child.kill('SIGTERM');
    await assertLedgerInvariants(h.db);
  });
});
