import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { GraphQLError } from 'graphql';
import { createMaskError } from '../src/http/errors.ts';
import { createDatabaseClock } from '../src/app/database-clock.ts';
import { pgError } from '../src/db/classify-error.ts';
import { databaseNow } from '../src/db/clock-store.ts';
import { createDatabase } from '../src/db/create-database.ts';
import { SERVER_URL, createTestDatabase } from './helpers.ts';

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
    const folder = mkdtempSync(join(tmpdir(), 'migrations-'));
    cpSync(new URL('../src/db/migrations', import.meta.url).pathname, folder, { recursive: true });
    writeFileSync(join(folder, '0099_lock_probe.sql'), 'ALTER TABLE policies ADD COLUMN lock_probe integer;\n');
    const journal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8'));
    // Applied after the shipped ones: drizzle runs a migration dated after the last one applied.
    const when = journal.entries.at(-1).when + 86_400_000;
    journal.entries.push({ idx: journal.entries.length, version: '7', when, tag: '0099_lock_probe', breakpoints: true });
    writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify(journal));
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
});
