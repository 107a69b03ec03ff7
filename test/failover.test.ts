import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import request from 'supertest';
import net from 'node:net';
import { CommitUnknownError } from '../src/db/classify-error.ts';
import { type Database, createDatabase } from '../src/db/create-database.ts';
import { pruneTransactionMarkers } from '../src/db/idempotency-store.ts';
import { createApp } from '../src/http/create-app.ts';
import {
  SERVER_URL,
  TestClock,
  USDC,
  createTestDatabase,
  fundedBuyer,
  marketWithPool,
  newWallet,
  testDeps,
  useHarness,
} from './helpers.ts';

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
    const migrated = await createTestDatabase();
    const db = await createDatabase({ url: migrated.url, failoverWaitMs: 10_000 });
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
    } finally {
      await db.close();
      await migrated.close();
    }
  });
});

/**
 * A TCP proxy in front of the server that, when armed, cuts the connection carrying the next
 * COMMIT: after the server has it (`after`: the commit applies and its answer is lost) or
 * before (`before`: the server never sees it). `refuse` turns every new connection away, as
 * while no primary answers.
 */
async function commitCutter(target: URL) {
  let armed: 'before' | 'after' | undefined;
  let refuse = false;
  let refuseAfterCut = false;
  let cuts = 0;
  let refused = 0;
  const accepted: number[] = [];
  const open = new Set<() => void>();
  const server = net.createServer((inbound) => {
    if (refuse) {
      refused++;
      inbound.destroy();
      return;
    }
    accepted.push(Date.now());
    const outbound = net.connect(Number(target.port || 5432), target.hostname);
    const cut = () => {
      inbound.destroy();
      outbound.destroy();
    };
    open.add(cut);
    inbound.on('close', () => open.delete(cut));
    inbound.on('error', cut);
    outbound.on('error', cut);
    outbound.on('data', (chunk) => inbound.write(chunk));
    inbound.on('data', (chunk: Buffer) => {
      const at = armed ? chunk.indexOf('COMMIT\0') : -1;
      if (at >= 5 && chunk[at - 5] === 0x51) {
        const when = armed;
        armed = undefined;
        cuts++;
        if (refuseAfterCut) refuse = true;
        if (when === 'before') {
          cut();
        } else {
          outbound.write(chunk);
          // The server commits; its answer never comes back.
          outbound.removeAllListeners('data');
          setTimeout(cut, 200);
        }
      } else {
        outbound.write(chunk);
      }
    });
    inbound.on('close', () => outbound.end());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    /** Cuts the next COMMIT; with `thenRefuse`, turns every connection away after it. */
    arm: (when: 'before' | 'after', thenRefuse = false) => {
      armed = when;
      refuseAfterCut = thenRefuse;
    },
    refuse: (value: boolean) => {
      refuse = value;
    },
    cuts: () => cuts,
    /** Connections turned away so far. */
    refused: () => refused,
    /** When each connection it let through was opened (ms since the epoch). */
    accepted: () => accepted,
    /** Cuts every open connection, as a proxy does to sessions on a primary it marks down. */
    cutAll: () => {
      for (const cut of open) cut();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a COMMIT whose answer is lost is applied exactly once (DATABASE_URL)', {
  skip: SERVER_URL ? false : 'needs the PostgreSQL server',
}, () => {
  let direct: Database & { url?: string };
  let proxy: Awaited<ReturnType<typeof commitCutter>>;
  let db: Database;
  before(async () => {
    direct = await createTestDatabase();
    proxy = await commitCutter(new URL(direct.url as string));
    db = await createDatabase({ url: proxy.url, failoverWaitMs: 3_000 });
    await direct.query(sql`CREATE TABLE once_probe (id text PRIMARY KEY, attempt int NOT NULL)`);
  });
  after(async () => {
    await db?.close();
    await proxy?.close();
    await direct?.close();
  });
  const insertOnce = (id: string, attempts: { n: number }) =>
    db.transaction(async (tx) => {
      attempts.n++;
      await tx.query(sql`INSERT INTO once_probe (id, attempt) VALUES (${id}, ${attempts.n})`);
      return `answer of attempt ${attempts.n}`;
    });
  const rows = (id: string) => direct.query<{ attempt: number }>(sql`SELECT attempt FROM once_probe WHERE id = ${id}`);

  test('committed, then the connection lost before the answer: the work is not run again and the first answer is returned', async () => {
    const attempts = { n: 0 };
    proxy.arm('after');
    const answer = await insertOnce('after', attempts);
    assert.equal(proxy.cuts(), 1, 'the COMMIT was cut');
    assert.equal(attempts.n, 1, 'not run again: its marker showed it committed');
    assert.equal(answer, 'answer of attempt 1');
    assert.deepEqual(await rows('after'), [{ attempt: 1 }]);
  });

  test('the connection lost before the server had the COMMIT: run again, applied once', async () => {
    const attempts = { n: 0 };
    proxy.arm('before');
    const answer = await insertOnce('before', attempts);
    assert.equal(attempts.n, 2);
    assert.equal(answer, 'answer of attempt 2');
    assert.deepEqual(await rows('before'), [{ attempt: 2 }]);
  });

  test('no primary to ask after a lost COMMIT: UNAVAILABLE with the outcome unknown, after the bounded wait', async () => {
    // Every connection after the cut is turned away until the wait (3 s here) runs out.
    proxy.arm('after', true);
    const attempts = { n: 0 };
    const started = Date.now();
    await assert.rejects(insertOnce('unknown', attempts), (error: Error) => error instanceof CommitUnknownError);
    assert.ok(Date.now() - started < 8_000, 'the wait is bounded');
    assert.equal(attempts.n, 1);
    proxy.refuse(false);
    assert.deepEqual(await rows('unknown'), [{ attempt: 1 }], 'it had committed');
  });

  test('requests waiting for a primary go again together within a probe interval of its return, one probe for all of them', async () => {
    // Connections in the pool, then cut, and no primary for a second.
    await Promise.all(Array.from({ length: 10 }, () => db.query(sql`SELECT pg_sleep(0.01)`)));
    const refusedBefore = proxy.refused();
    proxy.refuse(true);
    proxy.cutAll();
    const waiting = Array.from({ length: 20 }, (_, i) => db.query<{ n: number }>(sql`SELECT ${i}::int AS n`));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const refusedWhileDown = proxy.refused() - refusedBefore;
    proxy.refuse(false);
    const back = Date.now();
    const answers = await Promise.all(waiting);
    const lastAfter = Date.now() - back;
    assert.deepEqual(
      answers.map((rows) => rows[0]?.n),
      Array.from({ length: 20 }, (_, i) => i),
    );
    // What the proxy let through once the primary was back: the probe first, then the pool's
    // connections for all 20 together. Timed at the proxy, so the time the server takes to
    // start ten backends on a loaded machine (most of the time to the last answer) is not in it.
    const [probe = Number.NaN, ...pool] = proxy
      .accepted()
      .filter((at) => at >= back)
      .map((at) => at - back);
    const timings = `probe ${probe} ms after the primary was back, the pool's ${pool.length} connections at ${pool.join(', ')} ms, the last answer at ${lastAfter} ms`;
    // Backing off on their own (to 400 ms), the requests found it up to 400 ms late.
    assert.ok(probe < 200, `found within a probe interval (50 ms): ${timings}`);
    // Then all of them at once: no more connections than the pool holds, none waiting out a backoff.
    assert.ok(pool.length <= 10, timings);
    assert.ok(
      pool.every((at) => at - probe < 150),
      `all went again together: ${timings}`,
    );
    // One probe every 50 ms for all of them (and each request's own first attempt), not a
    // connection attempt per request per backoff.
    assert.ok(refusedWhileDown <= 70, `${refusedWhileDown} connections tried while it was down`);
  });

  test('markers an hour old are pruned by maintenance; newer ones stay', async () => {
    await direct.query(sql`INSERT INTO transaction_markers (id, created_at) VALUES (gen_random_uuid(), now() - interval '2 hours')`);
    const before = await direct.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM transaction_markers`);
    await pruneTransactionMarkers(direct);
    const [{ old } = { old: '' }] = await direct.query<{ old: string }>(
      sql`SELECT COUNT(*) FILTER (WHERE created_at < now() - interval '1 hour') AS old FROM transaction_markers`,
    );
    assert.equal(Number(old), 0);
    const afterPrune = await direct.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM transaction_markers`);
    assert.equal(Number(afterPrune[0]?.n), Number(before[0]?.n) - 1, 'only the old marker went');
  });
});
