import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import request from 'supertest';
import { createDatabase } from '../src/db/create-database.ts';
import { createApp } from '../src/http/create-app.ts';
import { SERVER_URL, TestClock, USDC, fundedBuyer, marketWithPool, newWallet, testDeps, useHarness } from './helpers.ts';

/**
 * Issue 44: a failover is an outage, not a bug. A transaction that lost its connection before
 * COMMIT is run again against the new primary within DB_FAILOVER_WAIT_MS; what still fails
 * answers UNAVAILABLE (HTTP 503, Retry-After); money mutations without a natural key take an
 * idempotency key, so a retry after an ambiguous failure is applied once.
 */
describe('a database that does not answer is an outage: UNAVAILABLE, 503, Retry-After', () => {
  test('a query and a mutation against an unreachable database, after the bounded wait; /readyz says so at once', async () => {
    // Nothing listens on port 1: every connection is refused, as while no primary answers.
    const db = await createDatabase({ url: 'postgres://nobody@127.0.0.1:1/none', failoverWaitMs: 300 });
    const admin = newWallet();
    const { deps, prometheus } = testDeps(db, new TestClock(), admin.address);
    const app = createApp(deps, { prometheus, rateLimitPerMinute: 0 });
    try {
      for (const query of ['{ risks { nodes { id } } }', 'mutation { siweNonce { nonce } }']) {
        const started = Date.now();
        const res = await request(app).post('/graphql').set('content-type', 'application/json').send({ query });
        assert.equal(res.status, 503, res.text);
        assert.equal(res.headers['retry-after'], '5');
        const [error] = res.body.errors;
        assert.equal(error.extensions.code, 'UNAVAILABLE', res.text);
        assert.equal(error.extensions.details.committed, 'no');
        assert.doesNotMatch(res.text, /ECONNREFUSED|127\.0\.0\.1:1|at .*\.ts:\d+/, 'no internals');
        assert.ok(Date.now() - started < 10_000, 'the wait is bounded');
      }
      const ready = await request(app).get('/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.checks.database, 'unavailable');
    } finally {
      await db.close();
    }
  });
});

describe('idempotency keys for money without a natural key (deposit, requestWithdrawal)', () => {
  const h = useHarness({}, { checkInvariants: true });
  const DEPOSIT = `mutation($p: ID!, $amt: BigInt!, $k: String) { deposit(poolId: $p, amount: $amt, idempotencyKey: $k) { shares } }`;
  const WITHDRAW = `mutation($p: ID!, $s: BigInt!, $k: String) { requestWithdrawal(poolId: $p, shares: $s, idempotencyKey: $k) { id shares } }`;
  const BALANCE = `{ accountBalance { amount } }`;

  test('a deposit sent twice with one key (argument or Idempotency-Key header) is applied once and answered the same', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const { wallet, token } = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const vars = { p: m.pool.id, amt: USDC(400).toString(), k: `dep-${wallet.address}` };
    const first = (await h.ok(DEPOSIT, vars, token)).deposit;
    const again = (await h.ok(DEPOSIT, vars, token)).deposit;
    assert.deepEqual(again, first);
    assert.equal((await h.ok(BALANCE, {}, token)).accountBalance.amount, USDC(600).toString(), 'taken once');
    // The same key with another amount is a different request: refused, nothing moves.
    const other = await h.gql(DEPOSIT, { ...vars, amt: USDC(100).toString() }, token);
    assert.equal(other.errors?.[0]?.extensions?.code, 'CONFLICT');
    // The header, as HTTP clients send it.
    const send = () =>
      request(h.app)
        .post('/graphql')
        .set('content-type', 'application/json')
        .set('authorization', `Bearer ${token}`)
        .set('idempotency-key', 'header-key-1')
        .send({ query: DEPOSIT, variables: { p: m.pool.id, amt: USDC(100).toString() } });
    const a = await send();
    const b = await send();
    assert.equal(a.body.errors, undefined, a.text);
    assert.deepEqual(b.body.data, a.body.data);
    assert.equal((await h.ok(BALANCE, {}, token)).accountBalance.amount, USDC(500).toString());
    // Without a key, two deposits are two deposits.
    await h.ok(DEPOSIT, { p: m.pool.id, amt: USDC(100).toString() }, token);
    await h.ok(DEPOSIT, { p: m.pool.id, amt: USDC(100).toString() }, token);
    assert.equal((await h.ok(BALANCE, {}, token)).accountBalance.amount, USDC(300).toString());
    const journal = await h.db.query<{ n: string }>(
      sql`SELECT COUNT(*) AS n FROM journal_entries WHERE kind = 'DEPOSIT' AND reference = ${m.pool.id}`,
    );
    assert.equal(Number(journal[0]?.n), 1 + 4, "the underwriter's seed, then four deposits of the buyer");
    // A key one account used is not another's: keys are per account.
    const { token: otherToken } = await fundedBuyer(h, m.adminToken, USDC(1_000));
    assert.ok((await h.ok(DEPOSIT, vars, otherToken)).deposit);
    const bad = await h.gql(DEPOSIT, { ...vars, k: 'x'.repeat(101) }, token);
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  });

  test('a withdrawal request sent twice with one key is one request', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const vars = { p: m.pool.id, s: USDC(1_000).toString(), k: 'wdr-1' };
    const first = (await h.ok(WITHDRAW, vars, m.uwToken)).requestWithdrawal;
    const again = (await h.ok(WITHDRAW, vars, m.uwToken)).requestWithdrawal;
    assert.equal(again.id, first.id);
    const rows = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM withdrawal_requests WHERE pool_id = ${m.pool.id}`);
    assert.equal(Number(rows[0]?.n), 1);
  });
});

describe('a lost connection before COMMIT is run again on the server (DATABASE_URL)', {
  skip: SERVER_URL ? false : 'needs the PostgreSQL server',
}, () => {
  let admin: pg.Client;
  before(async () => {
    admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
  });
  after(async () => {
    await admin?.end();
  });

  test('a transaction whose connection is terminated mid-way (as a failover does) is retried and commits once', async () => {
    const db = await createDatabase({ url: SERVER_URL, failoverWaitMs: 10_000 });
    try {
      const table = `failover_probe_${process.pid}`;
      await db.query(sql.raw(`CREATE TABLE IF NOT EXISTS ${table} (id text PRIMARY KEY)`));
      let attempts = 0;
      await db.transaction(async (tx) => {
        attempts++;
        const [row] = await tx.query<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`);
        await tx.query(sql.raw(`INSERT INTO ${table} (id) VALUES ('once')`));
        // The server ends this session before COMMIT (57P01), as a primary that goes away does.
        if (attempts === 1) await admin.query('SELECT pg_terminate_backend($1)', [row?.pid]);
        await tx.query(sql`SELECT 1`);
      });
      assert.equal(attempts, 2, 'run again once');
      const rows = await db.query<{ n: string }>(sql.raw(`SELECT COUNT(*) AS n FROM ${table}`));
      assert.equal(Number(rows[0]?.n), 1, 'committed once');
      await db.query(sql.raw(`DROP TABLE ${table}`));
    } finally {
      await db.close();
    }
  });
});
