import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Viewer } from '../../src/app/viewer.ts';
import { requestQuote } from '../../src/app/request-quote.ts';
import { purchasePolicy } from '../../src/app/purchase-policy.ts';
import { recordObservations } from '../../src/app/record-observations.ts';
import { setRiskFeeds } from '../../src/app/risk-feeds.ts';
import { registerFeed } from '../../src/app/register-feed.ts';
import { creditAccount } from '../../src/app/funding.ts';
import { createPool } from '../../src/app/create-pool.ts';
import { deposit } from '../../src/app/underwrite.ts';
import { createRisk } from '../../src/app/risks.ts';
import { settleIncident } from '../../src/app/settle-incident.ts';
import { USDC, assertLedgerInvariants, useHarness, depegRiskInput, newWallet, watchRisk } from '../helpers.ts';
import { rng } from '../rng.ts';

const h = useHarness();

/**
 * 100 settlement runs, each killed at random points (an exception thrown from inside the
 * settlement, where a crash would stop it) and re-run until it completes.
 */
test('100 settlement runs killed at random points: no double and no missing payout', async () => {
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const random = rng(2026);
  const curators = [];
  for (let i = 0; i < 3; i++) {
    const c: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: c.address, amount: USDC(10_000_000).toString(), reference: `crash-c-${i}` });
    curators.push(c);
  }
  let crashes = 0;
  let expected = 0;
  for (let run = 0; run < 100; run++) {
    // A curator opens at most 10 pools a day: the runs spread over ten days.
    if (run > 0 && run % 10 === 0) h.clock.advance(86_400_000);
    const risk = await createRisk(h.deps, admin, depegRiskInput(`crash ${run}`, `CRASH${run}`, { window: 0 }) as never);
    const feed = await registerFeed(h.deps, admin, { name: `crash ${run}`, kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    for (const c of curators) {
      const pool = await createPool(h.deps, c, { name: `crash ${run}`, risks: [{ riskId: risk.id }] });
      await deposit(h.deps, c, pool.id, USDC(20_000).toString(), 'SENIOR');
    }
    for (let i = 0; i < 6; i++) {
      const v: Viewer = { address: newWallet().address, roles: [] };
      await creditAccount(h.deps, admin, { address: v.address, amount: USDC(100).toString(), reference: `crash-b-${run}-${i}` });
      await purchasePolicy(h.deps, v, (await requestQuote(h.deps, v, risk.id, USDC(1_000).toString(), 30)).id);
      expected++;
    }
    h.clock.advance(1000);
    const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }], false);
    for (let attempt = 0; ; attempt++) {
      try {
        await settleIncident(h.deps, incidents[0] as string, () => {
          if (random() < 0.25) {
            crashes++;
            throw new Error('killed');
          }
        });
        break;
      } catch (error) {
        assert.match(String(error), /killed/);
        assert.ok(attempt < 100);
      }
    }
  }
  const rows = await h.db.query<{ n: string; distinct_policies: string; wrong: string }>(sql`
    SELECT COUNT(*) AS n, COUNT(DISTINCT policy_id) AS distinct_policies, COUNT(*) FILTER (WHERE paid <> due) AS wrong FROM payouts`);
  const missing = await h.db.query<{ n: string }>(sql`
    SELECT COUNT(*) AS n FROM policies p JOIN incidents i ON i.risk_id = p.risk_id
    WHERE p.start_at <= i.triggered_at AND p.end_at > i.triggered_at AND NOT EXISTS (SELECT 1 FROM payouts x WHERE x.policy_id = p.id)`);
  const paid = Number(rows[0]?.n);
  const doubles = paid - Number(rows[0]?.distinct_policies);
  const unsettled = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM incidents WHERE status <> 'SETTLED'`);
  console.log(
    `faults: settlement: 100 runs, ${crashes} crashes injected, ${paid} of ${expected} policies paid, ${doubles} double, ${Number(missing[0]?.n)} missing, ${Number(unsettled[0]?.n)} incidents unsettled`,
  );
  assert.ok(crashes >= 100);
  assert.equal(paid, expected);
  assert.equal(doubles, 0);
  assert.equal(Number(missing[0]?.n), 0);
  assert.equal(Number(rows[0]?.wrong), 0);
  await assertLedgerInvariants(h.db);
});
