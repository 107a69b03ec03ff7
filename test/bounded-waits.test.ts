import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { GraphQLError } from 'graphql';
import { createMaskError } from '../src/http/errors.ts';
import { createDatabaseClock } from '../src/app/database-clock.ts';
import { pgError } from '../src/db/classify-error.ts';
import { databaseNow } from '../src/db/clock-store.ts';
import { createDatabase } from '../src/db/create-database.ts';
import { SERVER_URL, USDC, createHarness, createTestDatabase, depegRiskInput, directMarket, migrationsWith, newWallet } from './helpers.ts';
import { bulkMarket } from './bulk-policies.ts';
import { creditAccount } from '../src/app/funding.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import type { Viewer } from '../src/app/viewer.ts';

describe('one clock: business times follow the database', () => {
  test("a process whose clock runs 10 minutes ahead reads the database's time", async () => {
    const db = await createTestDatabase();
    try {
      const ahead = () => Date.now() + 600_000;
      const clock = await createDatabaseClock({ db }, pino({ level: 'silent' }), { local: ahead });
      clock.stop();
      const truth = await databaseNow(db);
      assert.ok(Math.abs(clock.offsetMs() + 600_000) < 1_000, `offset ${clock.offsetMs()}`);
      assert.ok(Math.abs(clock.now() - truth) < 1_000, `${clock.now()} vs ${truth}`);
    } finally {
      await db.close();
    }
  });
});

describe('a wait that runs out says so', () => {
  test('a lock or statement timeout reaches the client as TIMEOUT, not a masked internal error', () => {
    const mask = createMaskError(pino({ level: 'silent' }));
    for (const code of ['55P03', '57014']) {
      const driver = Object.assign(new Error('Failed query: SELECT 1'), {
        cause: Object.assign(new Error('canceling statement'), { code }),
      });
      const shown = mask(new GraphQLError('x', { originalError: driver })) as GraphQLError;
      assert.equal(shown.extensions.code, 'TIMEOUT');
      assert.match(shown.message, /nothing was written/);
    }
  });
});

describe('bounded waits on the PostgreSQL server', {
  skip: !SERVER_URL && 'needs the PostgreSQL server (PGlite is one session: no lock held elsewhere)',
}, () => {
  test('a statement blocked by a lock another session holds fails after the lock timeout instead of waiting it out', async () => {
    const base = await createTestDatabase();
    const url = (base as { url?: string }).url as string;
    const short = await createDatabase({ url, lockTimeoutMs: 300, statementTimeoutMs: 2_000 });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const locking = base.transaction(async (tx) => {
      await tx.query(sql`LOCK TABLE pools IN ACCESS EXCLUSIVE MODE`);
      await held;
    });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await assert.rejects(short.query(sql`SELECT count(*) FROM pools`), (e) => pgError(e)?.code === '55P03');
      assert.ok(Date.now() - started < 2_000, `waited ${Date.now() - started} ms`);
      await assert.rejects(short.query(sql`SELECT pg_sleep(3)`), (e) => pgError(e)?.code === '57014');
    } finally {
      release();
      await locking;
      await short.close();
      await base.close();
    }
  });

  test("a migration that cannot take its table's lock fails safe within its lock timeout, holding requests no longer, and applies once it can", async () => {
    const base = await createTestDatabase();
    const url = (base as { url?: string }).url as string;
    // The shipped migrations and one more, which needs the policies table to itself for a moment.
    const folder = migrationsWith('0099_lock_probe', 'ALTER TABLE policies ADD COLUMN lock_probe integer;');
    const migrating = await createDatabase({ url, migrationLockTimeoutMs: 300, migrationAttempts: 2 });
    const reader = await createDatabase({ url, lockTimeoutMs: 5_000 });
    // A long transaction that read the table holds a lock the ALTER must wait for.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reading = base.transaction(async (tx) => {
      await tx.query(sql`SELECT 1 FROM policies LIMIT 1`);
      await held;
    });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const failed = assert.rejects(migrating.migrate(folder), (e) => pgError(e)?.code === '55P03');
      // A request arriving behind the waiting ALTER waits no longer than the migration's lock timeout.
      await new Promise((r) => setTimeout(r, 50));
      const asked = Date.now();
      await reader.query(sql`SELECT count(*) FROM policies`);
      assert.ok(Date.now() - asked < 1_000, `a read waited ${Date.now() - asked} ms behind the migration`);
      await failed;
      assert.ok(Date.now() - started < 3_000, `the migration gave up after ${Date.now() - started} ms`);
      const column = sql`SELECT 1 FROM information_schema.columns WHERE table_name = 'policies' AND column_name = 'lock_probe'`;
      assert.equal((await reader.query(column)).length, 0, 'nothing of it was applied');
      release();
      await reading;
      await migrating.migrate(folder);
      assert.equal((await reader.query(column)).length, 1);
    } finally {
      release();
      await reading.catch(() => undefined);
      await migrating.close();
      await reader.close();
      await base.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a column and an index added to half a million policies while purchases run: the index built online (CONCURRENTLY), no purchase waits a second though the build takes longer', async () => {
    const h = await createHarness();
    const url = (h.db as { url?: string }).url as string;
    const folder = migrationsWith('0099_column_probe', 'ALTER TABLE policies ADD COLUMN column_probe text;', {
      '0001_policies_probe.sql': 'CREATE INDEX CONCURRENTLY IF NOT EXISTS policies_probe_idx ON policies (buyer, risk_id, created_at);',
    });
    const migrating = await createDatabase({ url });
    try {
      // Half a million policies on one pool, and purchases on another (the bulk pool is full).
      await bulkMarket(h, 1, 500_000);
      const { risk } = await directMarket(h, USDC(10_000_000), depegRiskInput('probe', 'PROBE'), 'probe');
      await h.db.query(sql`VACUUM ANALYZE policies`);
      const buyer: Viewer = { address: newWallet().address, roles: [] };
      await creditAccount(
        h.deps,
        { address: h.admin.address, roles: ['admin'] },
        { address: buyer.address, amount: USDC(1_000_000).toString(), reference: 'probe-buyer' },
      );
      let building = true;
      const purchases: Array<{ at: number; took: number }> = [];
      const buying = (async () => {
        while (building) {
          const started = performance.now();
          await purchasePolicy(h.deps, buyer, (await requestQuote(h.deps, buyer, risk.id, USDC(100).toString(), 30)).id);
          purchases.push({ at: performance.now(), took: performance.now() - started });
        }
      })();
      await new Promise((r) => setTimeout(r, 200));
      const started = performance.now();
      await migrating.migrate(folder);
      const ended = performance.now();
      building = false;
      await buying;
      // A blocking CREATE INDEX holds every insert into the table until it is done: none would
      // complete while it runs. Built online, purchases go on, each as quick as before.
      const during = purchases.filter((p) => p.at > started + 100 && p.at < ended);
      assert.ok(during.length >= 3, `${during.length} purchases completed during the ${(ended - started).toFixed(0)} ms of the migration`);
      const slowest = Math.max(...purchases.map((p) => p.took));
      assert.ok(slowest < 1_000, `a purchase waited ${slowest.toFixed(0)} ms`);
      const [index] = await h.db.query<{ valid: boolean }>(
        sql`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'policies_probe_idx'`,
      );
      assert.equal(index?.valid, true);
      // Run again (every start does): nothing to do.
      await migrating.migrate(folder);
    } finally {
      await migrating.close();
      await h.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
