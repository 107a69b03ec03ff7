import assert from 'node:assert/strict';
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
});
