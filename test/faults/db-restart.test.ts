import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Viewer } from '../../src/app/viewer.ts';
import { requestQuote } from '../../src/app/request-quote.ts';
import { creditAccount } from '../../src/app/funding.ts';
import { type Harness, SERVER_URL, USDC, assertLedgerInvariants, createHarness, serve, marketWithPool, newWallet } from '../helpers.ts';
import { defaultPricing } from '../../src/domain/pricing.ts';

let h: Harness;
let served: Awaited<ReturnType<typeof serve>>;
let url = '';
before(async () => {
  // Prices that do not move with utilisation: 300 quotes asked first and bought through the
  // restart would otherwise be refused QUOTE_PRICE_CHANGED as the pool fills; this is about the restart.
  h = await createHarness({ pricing: { ...defaultPricing, quoteTtlSeconds: 3_600, slope1: '0', slope2: '0' } });
  served = await serve(h.app);
  url = served.url;
});
after(async () => {
  served.close();
  await h.close();
});

async function restartPostgres(): Promise<number> {
  const version = readdirSync('/etc/postgresql')[0] as string;
  const started = Date.now();
  // Stop, stay down a moment under load, start again.
  await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop', '-m', 'fast']);
  await new Promise((r) => setTimeout(r, 1_500));
  await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
  return Date.now() - started;
}

// The embedded database lives inside the test process: there is no server to restart.
test('the PostgreSQL server restarted under load: requests wait for it or answer UNAVAILABLE, then recover, nothing lost', {
  skip: SERVER_URL ? false : 'needs the PostgreSQL server (DATABASE_URL)',
}, async () => {
  const m = await marketWithPool(h, USDC(1_000_000));
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const buyers: Array<{ token: string; quoteId: string }> = [];
  for (let i = 0; i < 300; i++) {
    const w = newWallet();
    await creditAccount(h.deps, admin, { address: w.address, amount: USDC(100).toString(), reference: `restart-${w.address}` });
    const q = await requestQuote(h.deps, { address: w.address, roles: [] }, m.risk.id, USDC(100).toString(), 30);
    buyers.push({ token: await h.signIn(w), quoteId: q.id });
  }
  const outcomes: Array<{ phase: string; status: number; code: string; policyId?: string | undefined }> = [];
  let phase = 'before';
  // A client retries what failed (buying a quote again returns the same policy). A fifth of
  // the buyers arrive only once the server is back, so recovery is observed however fast the
  // rest drain (a slow restart once let the whole queue through before it ended).
  const late = buyers.slice(0, 60);
  const queue = buyers.slice(60);
  const deadline = Date.now() + 60_000;
  const worker = async () => {
    while (Date.now() < deadline) {
      const b = queue.shift();
      if (!b) {
        if (phase === 'after') break;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const sentIn = phase;
      const res = await fetch(url, {
        signal: AbortSignal.timeout(40_000),
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${b.token}` },
        body: JSON.stringify({ query: 'mutation($q: ID!) { purchasePolicy(quoteId: $q) { id } }', variables: { q: b.quoteId } }),
      });
      const text = await res.text();
      assert.doesNotMatch(text, /at .*\.ts:\d+|ECONNREFUSED|password/i, 'no internals leak');
      const body = JSON.parse(text) as { data?: { purchasePolicy?: { id: string } }; errors?: Array<{ extensions?: { code?: string } }> };
      const code = body.errors?.[0]?.extensions?.code ?? 'OK';
      outcomes.push({ phase: sentIn, status: res.status, code, policyId: body.data?.purchasePolicy?.id });
      // An outage is said as one: UNAVAILABLE, HTTP 503 with Retry-After, and the client retries.
      if (code === 'UNAVAILABLE') {
        assert.equal(res.status, 503);
        assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
        queue.push(b);
      }
      await new Promise((r) => setTimeout(r, code === 'OK' ? 20 : 100));
    }
  };
  const load = Promise.all(Array.from({ length: 4 }, worker));
  await new Promise((r) => setTimeout(r, 1_000));
  phase = 'restarting';
  const downMs = await restartPostgres();
  phase = 'after';
  queue.push(...late);
  await load;
  const by = (p: string) => outcomes.filter((o) => o.phase === p);
  const summary = ['before', 'restarting', 'after']
    .map(
      (p) =>
        `${p}: ${by(p).length} (${by(p).filter((o) => o.code === 'OK').length} ok, ${by(p).filter((o) => o.code !== 'OK').length} failed)`,
    )
    .join('; ');
  const acknowledged = [...new Set(outcomes.filter((o) => o.policyId).map((o) => o.policyId as string))];
  const stored = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM policies WHERE pool_id = ${m.pool.id}`);
  console.log(
    `faults: restart: server down ${downMs} ms under load; ${summary}; ${acknowledged.length} purchases acknowledged, ${stored[0]?.n} stored; 5xx: ${outcomes.filter((o) => o.status >= 500).length}`,
  );
  assert.ok(by('before').filter((o) => o.code === 'OK').length > 0);
  assert.ok(by('after').filter((o) => o.code === 'OK').length > 0, 'purchases succeed again after the restart');
  assert.equal(queue.length, 0, 'every buyer got through in the end');
  assert.equal(acknowledged.length, buyers.length);
  assert.equal(Number(stored[0]?.n), buyers.length, 'retries bought nothing twice');
  // Requests in flight wait for the server (DB_FAILOVER_WAIT_MS) rather than fail; what fails is retryable, never a bug's code.
  for (const o of outcomes) if (o.code !== 'OK') assert.ok(['UNAVAILABLE', 'CAPACITY_EXCEEDED'].includes(o.code), o.code);
  assert.ok(by('restarting').filter((o) => o.code === 'OK').length > 0, 'requests during the restart waited for it and succeeded');
  // Nothing acknowledged is lost, and nothing unacknowledged half-happened.
  const ids = await h.db.query<{ id: string }>(sql`SELECT id FROM policies WHERE pool_id = ${m.pool.id}`);
  const inDb = new Set(ids.map((r) => r.id));
  for (const id of acknowledged) assert.ok(inDb.has(id), `acknowledged purchase ${id} is stored`);
  await assertLedgerInvariants(h.db);
});
