import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'drizzle-orm';
import jwt from 'jsonwebtoken';
import { type Harness, USDC, assertLedgerInvariants, createHarness, serve, marketWithPool } from '../helpers.ts';
import { rng } from '../rng.ts';

let h: Harness;
let served: Awaited<ReturnType<typeof serve>>;
let url = '';
before(async () => {
  h = await createHarness();
  served = await serve(h.app);
  url = served.url;
});
after(async () => {
  served.close();
  await h.close();
});

const TOTAL = Number(process.env.FAULT_REQUESTS ?? 10_000);

const TABLES = [
  'journal_entries',
  'postings',
  'accounts',
  'policies',
  'pools',
  'risks',
  'feeds',
  'observations',
  'incidents',
  'payouts',
  'positions',
  'withdrawal_requests',
  'recoveries',
];

async function counts() {
  const out: Record<string, string> = {};
  for (const t of TABLES) out[t] = (await h.db.query<{ n: string }>(sql.raw(`SELECT COUNT(*) AS n FROM ${t}`)))[0]?.n ?? '0';
  out.balances = (await h.db.query<{ s: string }>(sql`SELECT COALESCE(SUM(ABS(balance)), 0) AS s FROM accounts`))[0]?.s ?? '0';
  return out;
}

test('10,000 malformed or hostile GraphQL requests: no 5xx, no write', async () => {
  const m = await marketWithPool(h, USDC(10_000));
  const random = rng(404);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const junk = () =>
    pick([
      '',
      ' ',
      '0',
      '-1',
      '1e9',
      'NaN',
      '0x',
      "'; DROP TABLE policies; --",
      '"\\u0000"',
      'x'.repeat(5000),
      '💥',
      '{}',
      '[]',
      'null',
      '99999999999999999999999999999999999999999999999999999999999999999999999999999999',
    ]);
  // (Subscriptions are left out: a valid one is a stream that stays open by design.)
  const ops = [
    () => ({ query: `mutation { purchasePolicy(quoteId: "${pick(['quo_x', "'; DROP", `quo_${'a'.repeat(300)}`])}") { id } }` }),
    () => ({
      query: 'mutation($a: String!, $m: BigInt!, $r: String!) { creditAccount(address: $a, amount: $m, reference: $r) { amount } }',
      variables: { a: junk(), m: junk(), r: junk() },
    }),
    () => ({
      query: 'mutation($p: ID!, $m: BigInt!) { deposit(poolId: $p, amount: $m) { shares } }',
      variables: { p: pick([m.pool.id, junk()]), m: junk() },
    }),
    () => ({
      query: 'mutation($r: ID!, $m: BigInt!, $d: Int!) { requestQuote(riskId: $r, amount: $m, durationDays: $d) { id } }',
      variables: { r: junk(), m: junk(), d: pick([0, -1, 1e9, 3.5, '7']) },
    }),
    () => ({ query: `{ ${Array.from({ length: 1 + Math.floor(random() * 60) }, (_, i) => `a${i}: pools { nodes { id } }`).join(' ')} }` }),
    () => ({ query: '{'.repeat(1 + Math.floor(random() * 500)) }),
    () => ({ query: `query { risks { nodes { ${'id '.repeat(Math.floor(random() * 3000))} } } }` }),
    () => ({
      query: 'mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }',
      variables: {
        i: {
          name: junk(),
          kind: 'DEPEG',
          correlationGroup: junk(),
          rule: { threshold: junk(), direction: 'BELOW', recoveryThreshold: junk(), window: -5 },
          score: {},
        },
      },
    }),
    () => ({
      query:
        'mutation($f: ID!, $o: [ObservationInput!]!, $s: String!) { submitObservations(feedId: $f, observations: $o, signature: $s) { accepted } }',
      variables: { f: junk(), o: [{ value: junk(), observedAt: junk() }], s: junk() },
    }),
    () => ({ query: 'mutation { recordRecovery(incidentId: "inc_x", amount: "1", reference: "r") { id } }' }),
    () => ({ query: pick(['', 'null', '__proto__', '{ __schema { types { name } } }']) }),
    () => ({ query: 'query($x: BigInt) { accountBalance(address: $x) { amount } }', variables: { x: junk() } }),
    () => ({ query: 'mutation { siweNonce { nonce } }', variables: junk() }),
    () => ({
      query: `{ ${Array.from({ length: 1 + Math.floor(random() * 15) }, (_, i) => `a${i}: adequacy { status simulation { var995 } }`).join(' ')} }`,
    }),
    () => ({
      query: 'query($id: ID!) { pool(id: $id) { id } policy(id: $id) { id } }',
      variables: { id: pick(['pool_\u0000', `${m.pool.id}\u0000`, 'x'.repeat(300)]) },
    }),
    () => ({
      query: 'query($a: String, $f: Int) { risks(first: $f, after: $a) { nodes { id } } }',
      variables: { a: junk(), f: pick([0, 101, -1, 1e9]) },
    }),
  ];
  const tokens = [
    undefined,
    'garbage',
    jwt.sign({ sub: m.underwriter.address, roles: ['admin'] }, 'not-our-key-not-our-key-not-our-key!'),
    `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"sub":"${h.admin.address}"}`).toString('base64url')}.`,
    m.uwToken,
  ];
  const before = await counts();
  const statuses = new Map<number, number>();
  let sent = 0;
  const worker = async () => {
    while (sent < TOTAL) {
      sent++;
      const op = pick(ops)();
      const raw = random() < 0.1;
      const token = pick(tokens);
      const body = raw ? pick(['{', 'not json', '[]', '{"query": 1}', JSON.stringify([op, op]), 'x'.repeat(10_000)]) : JSON.stringify(op);
      const method = random() < 0.05 ? 'PUT' : 'POST';
      const contentType = pick(['application/json', 'application/json', 'text/plain', 'application/graphql']);
      const res = await fetch(url, {
        signal: AbortSignal.timeout(10_000),
        method,
        headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  // /healthz must answer quickly throughout.
  let running = true;
  const healthz: number[] = [];
  const probe = (async () => {
    while (running) {
      const t = performance.now();
      await (await fetch(url.replace('/graphql', '/healthz'))).arrayBuffer();
      healthz.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await Promise.all(Array.from({ length: 32 }, worker));
  running = false;
  await probe;
  const after = await counts();
  // The one write such requests may make: none (siweNonce writes a nonce, not counted here).
  const changed = TABLES.concat('balances').filter((t) => before[t] !== after[t]);
  const fiveHundreds = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
  const slowest = Math.round(Math.max(...healthz));
  console.log(`faults: hostile: /healthz answered ${healthz.length} times, slowest ${slowest} ms`);
  console.log(
    `faults: hostile: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ${fiveHundreds} 5xx, ${changed.length} tables written (${changed.join(', ') || 'none'})`,
  );
  assert.ok(sent >= TOTAL);
  assert.equal(fiveHundreds, 0);
  assert.ok(slowest < 1_000, `healthz took up to ${slowest} ms under load`);
  assert.deepEqual(changed, []);
  await assertLedgerInvariants(h.db);
});
