import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { creditAccount } from '../../src/app/funding.ts';
import { recordObservations } from '../../src/app/record-observations.ts';
import { settleIncident } from '../../src/app/settle-incident.ts';
import { feedsOfRisk } from '../../src/db/feed-store.ts';
import {
  type Harness,
  PURCHASE,
  SERVER_URL,
  USDC,
  assertLedgerInvariants,
  createHarness,
  depegRiskInput,
  directMarket,
  newWallet,
} from '../helpers.ts';

const SKEW_MS = 10 * 60_000;
const children: ChildProcess[] = [];
let h: Harness | undefined;
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await h?.close();
});

/** The API as a process (`npm start`'s entry) whose machine clock runs `skewMs` ahead. */
async function skewedServer(
  dbUrl: string,
  admin: string,
  jwtSecret: string,
  siweDomain: string,
  skewMs: number,
): Promise<{ base: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/skew-clock.mjs', 'src/bin/server.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: dbUrl,
      PORT: '0',
      LOG_LEVEL: 'info',
      WATCHER: 'off',
      MIGRATE_ON_START: 'false',
      ADMIN_ADDRESSES: admin,
      JWT_SECRET: jwtSecret,
      // The site both replicas serve, as behind one load balancer.
      SIWE_DOMAINS: siweDomain,
      FAULT_CLOCK_SKEW_MS: String(skewMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 60_000);
    const read = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /ready at (http:\/\/[\d.]+:\d+)\/graphql/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
  });
  return { base, output: () => out };
}

test('a replica whose clock runs 10 minutes ahead serves on the database clock: a policy bought there one second before a depeg is paid', {
  skip: SERVER_URL ? false : 'the database clock is the PostgreSQL server',
}, async () => {
  h = await createHarness();
  h.clock.catchUpWithWallClock();
  const m = await directMarket(h, USDC(100_000), depegRiskInput('skew', 'USDC', { window: 0 }));
  const [feed] = await feedsOfRisk(h.db, m.risk.id);
  // One session key for both replicas, as a deployment shares it.
  const { base, output } = await skewedServer(
    h.db.url as string,
    h.admin.address,
    h.deps.config.jwt.secret,
    h.deps.config.siwe.domains.join(','),
    SKEW_MS,
  );
  // Its machine clock really is 10 minutes ahead, and it says so.
  const offset = Number(/"offsetMs":(-?\d+)/.exec(output())?.[1]);
  assert.ok(Math.abs(offset + SKEW_MS) < 5_000, `measured offset ${offset} ms`);
  const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data as Record<string, any>;
  };
  assert.equal((await fetch(`${base}/readyz`)).status, 200, 'it serves');

  // A buyer with a correct clock signs in on the skewed replica and buys there.
  const buyer = newWallet();
  await creditAccount(h.deps, m.admin, { address: buyer.address, amount: USDC(1_000).toString(), reference: `skew-${buyer.address}` });
  // Replicas share the database, so a nonce from one is good on the other.
  const { message, signature } = await h.signMessage(buyer);
  const { signInWithEthereum } = await gql(
    'mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token } }',
    { m: message, s: signature },
  );
  const token = signInWithEthereum.token as string;
  const { quote } = await gql(
    'mutation($r: ID!, $amt: BigInt!, $d: Int!) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: $d) { id } }',
    { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 },
    token,
  );
  const { purchasePolicy } = await gql(PURCHASE, { q: quote.id }, token);
  const [policy] = await h.db.query<{ start_at: Date }>(sql`SELECT start_at FROM policies WHERE id = ${purchasePolicy.id}`);
  const drift = Math.abs(new Date(policy?.start_at as Date).getTime() - Date.now());
  assert.ok(drift < 5_000, `the policy starts now on the database's clock, not ${Math.round(drift / 1000)} s off`);
  // The session works on a replica with a correct clock too.
  assert.equal((await h.gql('{ me { address } }', {}, token)).errors, undefined);

  // One second later the asset depegs: the policy bought on the skewed replica is paid.
  await new Promise((r) => setTimeout(r, 1_000));
  h.clock.catchUpWithWallClock();
  const { incidents } = await recordObservations(
    h.deps,
    feed?.id as string,
    [{ value: '0.9', observedAt: h.clock.now(), source: {} }],
    false,
  );
  await settleIncident(h.deps, incidents[0] as string);
  const [payout] = await h.db.query<{ paid: string }>(sql`SELECT paid::text FROM payouts WHERE policy_id = ${purchasePolicy.id}`);
  assert.equal(payout?.paid, USDC(1_000).toString(), 'the policy is paid in full');
  await assertLedgerInvariants(h.db);
});
