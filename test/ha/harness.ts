import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createCoverClient } from '../../src/client/index.ts';
import { type Database, createDatabase } from '../../src/db/create-database.ts';
import { assertLedgerInvariants } from '../helpers.ts';
import { npmStart } from '../npm-start.ts';

/**
 * What the cluster tests share (test/ha/*.test.ts): a cluster of their own on their own ports
 * (ops/ha/local-cluster.sh), the product started against it as an operator starts it, and the
 * workload whose every acknowledged write is then looked for exactly once.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'ops/ha/local-cluster.sh');

/** A query on `url` over a connection of its own, closed after it. */
export async function query<T>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end();
  }
}

/** What a test file pushes to be undone after its tests, undone last pushed first. */
export function useCleanup() {
  const cleanup: Array<() => unknown> = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
  });
  return cleanup;
}

export type Ports = { HA_PORT: string; HA_REPLICA_PORT: string; HA_PG_PORT: string; HA_REST_PORT: string; HA_ETCD_PORT: string };

/** ops/ha/local-cluster.sh on `ports`, its data in a new folder; `url(db)` routes to the primary. */
export function localCluster(ports: Ports) {
  const dir = mkdtempSync(join(tmpdir(), 'cover-ha-'));
  const env = { ...process.env, ...ports };
  const run = (...args: string[]) =>
    spawnSync('bash', [SCRIPT, ...args, dir], { env, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    dir,
    run,
    url: (db: string) => `postgres://postgres@127.0.0.1:${ports.HA_PORT}/${db}`,
    /** Runs a command of the script and fails the test if it fails. */
    must(...args: string[]) {
      const r = run(...args);
      assert.equal(r.status, 0, `local-cluster.sh ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      return r.stdout.trim();
    },
    async createDatabase(name: string) {
      await query(`postgres://postgres@127.0.0.1:${ports.HA_PORT}/postgres`, `CREATE DATABASE ${name}`);
    },
  };
}

/** A cluster of the test file's own, started before its tests and stopped after them, after the rest of `cleanup`. */
export function useCluster(ports: Ports) {
  const cluster = localCluster(ports);
  const cleanup = useCleanup();
  before(() => {
    cluster.must('start');
    cleanup.push(() => cluster.run('stop'));
  });
  return { cluster, cleanup };
}

/**
 * `npm start` with `env`, stopped as a process manager stops it (npm passes SIGTERM on) before
 * the cluster goes; its GraphQL URL, and a person signed in to it (a new key unless given).
 */
export async function startProduct(cleanup: Array<() => unknown>, env: Record<string, string>) {
  const server = await npmStart(cleanup, env);
  cleanup.push(async () => {
    server.child.kill('SIGTERM');
    await Promise.race([server.exited, new Promise((r) => setTimeout(r, 15_000))]);
  });
  const api = `${server.base}/graphql`;
  const person = async (key: Hex = generatePrivateKey()) => {
    const client = createCoverClient({ url: api });
    await client.signIn(privateKeyToAccount(key));
    return { client, address: privateKeyToAccount(key).address, token: client.token as string };
  };
  return { api, person };
}

/**
 * The ledger workload (no chain: the writes are the subject) on its own database of the cluster:
 * three depositors send deposits without idempotency keys, each of an amount of its own so that
 * the ledger shows how often it was applied, and three buyers quote and buy; a reporter keeps
 * the feed fresh so that cover stays on sale. Every request is sent once: an answer other than
 * OK is not acknowledged and not sent again. `verify` then finds every acknowledged write
 * exactly once and every other at most once.
 */
export async function ledgerWorkload(
  cleanup: Array<() => unknown>,
  cluster: Pick<ReturnType<typeof localCluster>, 'createDatabase' | 'url'>,
  name: string,
) {
  await cluster.createDatabase(name);
  const url = cluster.url(name);
  const adminKey = generatePrivateKey();
  const { api, person } = await startProduct(cleanup, {
    DATABASE_URL: url,
    ADMIN_ADDRESSES: privateKeyToAccount(adminKey).address,
    JWT_SECRET: 'y'.repeat(40),
    RATE_LIMIT_PER_MINUTE: '0',
    WATCHER_INTERVAL_MS: '250',
  });
  const adminClient = (await person(adminKey)).client;
  const reporterKey = generatePrivateKey();
  const reporter = await person(reporterKey);
  const feed = await reporter.client.registerPushFeed(`DAI/USD (${name})`);
  const risk = await adminClient.createRisk({
    name: `DAI depeg (${name})`,
    kind: 'DEPEG',
    correlationGroup: 'DAI',
    rule: { threshold: '0.97', direction: 'BELOW', recoveryThreshold: '0.99', window: 3600, payout: 'BINARY' },
    score: { audits: 3, daysLive: 1500, valueSecuredUsd: '5000000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'HIGH' },
  });
  await adminClient.setRiskFeeds(risk.id, [feed.id]);
  const uw = await person();
  const pool = await uw.client.createPool({ name: `${name} pool`, risks: [{ riskId: risk.id }] });
  const buyers = await Promise.all(Array.from({ length: 3 }, () => person()));
  const depositors = await Promise.all(Array.from({ length: 3 }, () => person()));
  await adminClient.credit(uw.address, 10_000_000_000_000n, 'seed-uw');
  for (const [i, p] of [...buyers, ...depositors].entries()) await adminClient.credit(p.address, 10_000_000_000n, `seed-${i}`);
  await uw.client.deposit(pool.id, 10_000_000_000_000n);

  const codes = new Map<string, number>();
  const writes: Array<{ sent: number; at: number }> = [];
  const deposits = new Map<string, { code: string; sent: number; at: number }>();
  const bought: string[] = [];
  let stop = false;
  let serial = 0;
  const send = async (token: string, query: string, variables: Record<string, unknown>) => {
    const sent = Date.now();
    const res = await fetch(api, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(90_000),
    });
    const body = (await res.json()) as { data?: Record<string, any>; errors?: Array<{ extensions?: { code?: string } }> };
    const code = body.errors?.[0]?.extensions?.code ?? 'OK';
    codes.set(code, (codes.get(code) ?? 0) + 1);
    return { code, data: body.data, sent, at: Date.now() };
  };
  const keepCalm = async () => {
    // A push lost to a failover is sent on the next beat.
    while (!stop) {
      await reporter.client
        .pushObservations(feed.id, privateKeyToAccount(reporterKey), [{ value: '1', observedAt: Math.floor(Date.now() / 1000) * 1000 }])
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  };
  const depositorLoop = async (d: (typeof depositors)[number]) => {
    while (!stop) {
      const amount = (1_000_000n + BigInt(++serial)).toString();
      const r = await send(d.token, 'mutation($p: ID!, $a: BigInt!) { deposit(poolId: $p, amount: $a) { shares } }', {
        p: pool.id,
        a: amount,
      });
      deposits.set(amount, { code: r.code, sent: r.sent, at: r.at });
      if (r.code === 'OK') writes.push(r);
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const buyerLoop = async (b: (typeof buyers)[number]) => {
    while (!stop) {
      const q = await send(b.token, 'mutation($r: ID!) { requestQuote(riskId: $r, amount: "10000000", durationDays: 30) { id } }', {
        r: risk.id,
      });
      if (q.code !== 'OK') {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const p = await send(b.token, 'mutation($q: ID!) { purchasePolicy(quoteId: $q) { id } }', { q: q.data?.requestQuote.id });
      if (p.code === 'OK') {
        bought.push(p.data?.purchasePolicy.id);
        writes.push(p);
      }
    }
  };
  const running = Promise.all([keepCalm(), ...depositors.map(depositorLoop), ...buyers.map(buyerLoop)]);
  return {
    codes,
    writes,
    bought,
    /** The first write sent after `t` and acknowledged: when writes were back. */
    backAfter: (t: number) => Math.min(...writes.filter((w) => w.sent >= t).map((w) => w.at)) - t,
    /** The longest time between two acknowledgements from `from` to `to`: the seconds without writes. */
    longestGap(from: number, to: number) {
      const ats = [from, ...writes.map((w) => w.at).filter((at) => at > from && at < to), to].sort((a, b) => a - b);
      return Math.max(...ats.slice(1).map((at, i) => at - (ats[i] as number)));
    },
    async stop() {
      stop = true;
      await running;
    },
    /**
     * Every acknowledged write on the primary now exactly once, every other at most once; the
     * ledger balanced. With `point` (a restore to a named point, created by a call sent at
     * `before` and answered at `after`): every deposit acknowledged before `before` applied once
     * and every deposit sent after `after` not at all (purchases unchecked). Deposits between
     * the two may be on either side of the point.
     */
    async verify(point?: { before: number; after: number }) {
      assert.ok(![...codes.keys()].some((c) => c === 'INTERNAL_SERVER_ERROR'), JSON.stringify([...codes]));
      const db: Database = await createDatabase({ url });
      try {
        const applied = await db.query<{ amount: string; n: string }>(
          sql`SELECT -p.amount AS amount, COUNT(*) AS n FROM journal_entries j JOIN postings p ON p.entry_id = j.id
              WHERE j.kind = 'DEPOSIT' AND j.reference = ${pool.id} AND p.amount < 0 GROUP BY p.amount`,
        );
        const times = new Map(applied.map((r) => [String(r.amount), Number(r.n)]));
        const acknowledged = [...deposits]
          .filter(([, d]) => d.code === 'OK' && (point === undefined || d.at < point.before))
          .map(([amount]) => amount);
        const lost = acknowledged.filter((amount) => times.get(amount) !== 1);
        assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged deposits not applied exactly once`);
        for (const [amount, d] of deposits) {
          const n = times.get(amount) ?? 0;
          assert.ok(n <= 1, `deposit of ${amount} (answered ${d.code}) applied at most once`);
          if (point !== undefined && d.sent > point.after)
            assert.equal(n, 0, `deposit of ${amount} sent after the restore point is not there`);
        }
        if (point === undefined) {
          const policies = await db.query<{ id: string }>(sql`SELECT id FROM policies WHERE risk_id = ${risk.id}`);
          const stored = new Set(policies.map((p) => p.id));
          const missing = bought.filter((id) => !stored.has(id));
          assert.deepEqual(missing, [], `${missing.length} of ${bought.length} acknowledged purchases not stored`);
        }
        await assertLedgerInvariants(db);
        return { deposits: acknowledged.length, purchases: bought.length };
      } finally {
        await db.close();
      }
    },
  };
}
