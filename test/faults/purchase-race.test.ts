import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Viewer } from '../../src/app/viewer.ts';
import { requestQuote } from '../../src/app/request-quote.ts';
import { creditAccount } from '../../src/app/funding.ts';
import { poolSnapshot } from '../../src/app/pools.ts';
import {
  type Harness,
  SERVER_URL,
  USDC,
  assertLedgerInvariants,
  createHarness,
  serve,
  depegRiskInput,
  newWallet,
  directMarket,
} from '../helpers.ts';

let h: Harness;
let served: Awaited<ReturnType<typeof serve>>;
let url = '';
before(async () => {
  // Prices that do not move with utilisation: the race is for capacity, not for price.
  h = await createHarness({
    pricing: { ...(await import('../../src/domain/pricing.ts')).defaultPricing, quoteTtlSeconds: 3_600, slope1: '0', slope2: '0' },
  });
  served = await serve(h.app);
  url = served.url;
});
after(async () => {
  served.close();
  await h.close();
});

test('1,000 concurrent purchases over HTTP against capacity for 500: never oversold, ledger balanced', async () => {
  // Risk cap: 50% of 100,000 = 50,000 of exposure = 500 policies of 100 USDC.
  const { admin, risk, pool } = await directMarket(h, USDC(100_000), depegRiskInput('race', 'RACE'), 'race');
  const buyers = [];
  for (let i = 0; i < 1_000; i++) {
    const wallet = newWallet();
    const viewer: Viewer = { address: wallet.address, roles: [] };
    await creditAccount(h.deps, admin, { address: wallet.address, amount: USDC(50).toString(), reference: `race-${wallet.address}` });
    const q = await requestQuote(h.deps, viewer, risk.id, USDC(100).toString(), 30);
    buyers.push({ token: await h.signIn(wallet), quoteId: q.id });
  }
  const started = Date.now();
  const results = await Promise.all(
    buyers.map(async (b) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${b.token}` },
        body: JSON.stringify({ query: 'mutation($q: ID!) { purchasePolicy(quoteId: $q) { id } }', variables: { q: b.quoteId } }),
      });
      const body = (await res.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> };
      return { status: res.status, code: body.errors?.[0]?.extensions?.code ?? 'OK' };
    }),
  );
  const ms = Date.now() - started;
  const tally = new Map<string, number>();
  for (const r of results) tally.set(r.code, (tally.get(r.code) ?? 0) + 1);
  const sold = tally.get('OK') ?? 0;
  const exposure = (await poolSnapshot(h.deps, pool.id)).totalExposure;
  console.log(
    `faults: purchases: 1000 concurrent on ${SERVER_URL ? 'the PostgreSQL server' : 'PGlite'}, capacity 500, sold ${sold}, refused ${JSON.stringify(Object.fromEntries([...tally].filter(([k]) => k !== 'OK')))}, exposure ${exposure / USDC(1)} USDC of cap 50000, ${ms} ms`,
  );
  assert.equal(results.filter((r) => r.status >= 500).length, 0);
  assert.equal(sold, 500);
  assert.equal(exposure, USDC(50_000));
  await assertLedgerInvariants(h.db);
});
