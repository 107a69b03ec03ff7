import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Viewer } from '../src/app/viewer.ts';
import { fundBackstop, refreshBackstop } from '../src/app/backstop.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { creditAccount } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { positionValue, positions } from '../src/app/pools.ts';
import { createRisk } from '../src/app/risks.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { loadPoolSnapshot } from '../src/db/pool-snapshots.ts';
import { ledgerAccounts, postJournal } from '../src/db/ledger.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { isBaseError } from '../src/domain/errors.ts';
import { defaultPricing } from '../src/domain/pricing.ts';
import { USDC, assertLedgerInvariants, useHarness, depegRiskInput, newWallet, watchRisk, directMarket } from './helpers.ts';

const flatPricing = { ...defaultPricing, flatAnnualRate: '0.0365', slope1: '0', slope2: '0' };

describe('backstop inflows, repayments, excess and the adequacy gate', () => {
  const h = useHarness({ pricing: flatPricing, minPremium: '0', minCover: '0' });
  let admin: Viewer;
  before(() => {
    admin = { address: h.admin.address, roles: ['admin'] };
  });

  const balanceOf = async (account: string) =>
    BigInt((await h.db.query<{ balance: string }>(sql`SELECT balance FROM accounts WHERE id = ${account}`))[0]?.balance ?? '0');
  const state = async () =>
    (
      await h.db.query<{ iou_outstanding: string; target: string }>(
        sql`SELECT iou_outstanding, target FROM backstop_state WHERE asset = 'USDC'`,
      )
    )[0];

  async function market(capital: bigint, riskCount: number, group = 'G') {
    const risks = [];
    for (let i = 0; i < riskCount; i++) {
      const risk = await createRisk(h.deps, admin, depegRiskInput(`r${Math.random()}`, group, { window: 0 }) as never);
      const feed = await registerFeed(h.deps, admin, { name: 'f', kind: 'PUSH' });
      await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
      await watchRisk(h, risk.id);
      risks.push({ risk, feed });
    }
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, { name: 'p', risks: risks.map((r) => ({ riskId: r.risk.id })), groupCapBps: 30_000 });
    await creditAccount(h.deps, admin, { address: curator.address, amount: capital.toString(), reference: `c-${pool.id}` });
    await deposit(h.deps, curator, pool.id, capital.toString(), 'SENIOR');
    return { risks, pool };
  }
  async function buy(riskId: string, amount: bigint) {
    const v: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: v.address, amount: USDC(10_000).toString(), reference: `b-${v.address}` });
    return purchasePolicy(h.deps, v, (await requestQuote(h.deps, v, riskId, amount.toString(), 10)).id);
  }
  async function confirm(feedId: string) {
    const { incidents } = await recordObservations(h.deps, feedId, [{ value: '0.5', observedAt: h.clock.now(), source: {} }], false);
    return settleIncident(h.deps, incidents[0] as string);
  }

  test('while claimants hold IOUs, every skim repays them first; a pool that drew repays from half its skim', async () => {
    await fundBackstop(h.deps, admin, 'USDC', USDC(2_000).toString(), 'seed');
    const m = await market(USDC(10_000), 3);
    await buy(m.risks[0]!.risk.id, USDC(4_000));
    await buy(m.risks[1]!.risk.id, USDC(4_000));
    await buy(m.risks[2]!.risk.id, USDC(4_000));
    for (const r of m.risks) await confirm(r.feed.id);
    const owed = BigInt((await state())?.iou_outstanding ?? '0');
    assert.ok(owed > 0n, 'the third incident left IOUs');
    const debt = BigInt(
      (await h.db.query<{ d: string }>(sql`SELECT SUM(amount - repaid) AS d FROM backstop_draws WHERE pool_id = ${m.pool.id}`))[0]?.d ??
        '0',
    );
    assert.ok(debt > 0n);

    // A new sale elsewhere: its 10% skim goes to the IOU reserve, not the fund.
    const other = await market(USDC(50_000), 1, 'OTHER');
    const fundBefore = await balanceOf('backstop:USDC');
    const p = await buy(other.risks[0]!.risk.id, USDC(10_000));
    assert.equal(p.skim, USDC(1));
    assert.equal(await balanceOf('ious:USDC'), USDC(1));
    assert.equal(await balanceOf('backstop:USDC'), fundBefore);
    // Maintenance pays the reserve out to the IOU holders.
    await runMaintenance(h.deps);
    assert.equal(await balanceOf('ious:USDC'), 0n);
    assert.equal(BigInt((await state())?.iou_outstanding ?? '0'), owed - USDC(1));

    // The pool that drew sells again (after recapitalising): half its skim repays the fund.
    await creditAccount(h.deps, admin, { address: admin.address, amount: USDC(20_000).toString(), reference: 'recap' });
    await deposit(h.deps, admin, m.pool.id, USDC(20_000).toString(), 'SENIOR');
    const risk4 = await createRisk(h.deps, admin, depegRiskInput(`late ${Math.random()}`, 'G', { window: 0 }) as never);
    await watchRisk(h, risk4.id);
    await h.db.query(sql`INSERT INTO pool_risks (pool_id, risk_id, cap_bps) VALUES (${m.pool.id}, ${risk4.id}, 5000)`);
    const again = await buy(risk4.id, USDC(2_000));
    assert.equal(again.repayment, again.skim / 2n);
    const debtAfter = BigInt(
      (await h.db.query<{ d: string }>(sql`SELECT SUM(amount - repaid) AS d FROM backstop_draws WHERE pool_id = ${m.pool.id}`))[0]?.d ??
        '0',
    );
    assert.equal(debtAfter, debt - again.repayment);
    await assertLedgerInvariants(h.db);
  });

  test('admin funding repays the IOUs first, at once; the rest is platform capital and never reaches the pools', async () => {
    const owed = BigInt((await state())?.iou_outstanding ?? '0');
    assert.ok(owed > 0n, 'the scenario above left IOUs outstanding');
    const tranches = () =>
      h.db.query(
        sql`SELECT t.pool_id, t.tranche, a.balance::text, t.total_shares::text FROM tranches t JOIN accounts a ON a.id = t.account_id ORDER BY 1, 2`,
      );
    const before = await tranches();
    const backstopBefore = await balanceOf('backstop:USDC');
    const setAside = await balanceOf('ious:USDC');
    await fundBackstop(h.deps, admin, 'USDC', USDC(20_000).toString(), 'platform-seed');
    await refreshBackstop(h.deps, 'USDC');
    assert.equal(BigInt((await state())?.iou_outstanding ?? -1), 0n, 'claimants were repaid first');
    // Every unit not owed to claimants stayed in the fund; no tranche moved.
    assert.equal(await balanceOf('backstop:USDC'), backstopBefore + USDC(20_000) - (owed - setAside));
    assert.deepEqual(await tranches(), before);
    const [{ n }] = (await h.db.query<{ n: string }>(sql`SELECT COUNT(*)::text AS n FROM backstop_streams`)) as [{ n: string }];
    assert.equal(n, '0');
    await assertLedgerInvariants(h.db);
  });

  test('RED refuses all new cover and AMBER refuses cover that raises the two largest exposures', async () => {
    const m = await market(USDC(10_000), 3, 'GATE');
    // Cover-2 of 8,000 on 10,000 of capital: exactly 1.25, GREEN.
    await buy(m.risks[0]!.risk.id, USDC(4_000));
    await buy(m.risks[1]!.risk.id, USDC(4_000));
    const refusal = async (riskId: string, amount: bigint) => {
      try {
        await buy(riskId, amount);
        return undefined;
      } catch (error) {
        return isBaseError(error) ? `${error.code} ${error.details?.status}` : String(error);
      }
    };
    // 4,001 on the third risk would make Cover-2 8,001: AMBER, and it raises the top two.
    assert.equal(await refusal(m.risks[2]!.risk.id, USDC(4_001)), 'CAPACITY_EXCEEDED AMBER');
    // A smaller one that leaves the top two alone is sold.
    assert.equal(await refusal(m.risks[2]!.risk.id, USDC(3_000)), undefined);
    // After an incident takes 4,000, 6,000 of capital carries Cover-2 of 7,000: RED.
    await confirm(m.risks[0]!.feed.id);
    assert.equal(await refusal(m.risks[2]!.risk.id, USDC(1)), 'CAPACITY_EXCEEDED RED');
    const report = await h.ok(`query($p: ID!) { adequacy(poolId: $p) { status coverageRatio cover2 availableCapital } }`, { p: m.pool.id });
    assert.equal(report.adequacy.status, 'RED');
    assert.equal(report.adequacy.cover2, USDC(7_000).toString());
  });
});

describe('skim-sourced excess streams into pools like earned premium', () => {
  const h = useHarness({ pricing: flatPricing, minPremium: '0', minCover: '0' }, { checkInvariants: true });

  test('above twice the target, with no IOUs: streamed over 30 days; a just-in-time depositor captures nothing', async () => {
    const { admin, risk, pool } = await directMarket(h, USDC(10_000), depegRiskInput(`jit ${Math.random()}`, 'JIT', { window: 0 }), 'jit');
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(100).toString(), reference: 'jit-buyer' });
    await purchasePolicy(h.deps, buyer, (await requestQuote(h.deps, buyer, risk.id, USDC(1_000).toString(), 7)).id);
    // The platform's seed is never distributed, however large.
    await fundBackstop(h.deps, admin, 'USDC', USDC(20_000).toString(), 'jit-seed');
    await refreshBackstop(h.deps, 'USDC');
    const streams = async () =>
      h.db.query<{ amount: string; status: string }>(sql`SELECT amount::text, status FROM backstop_streams WHERE pool_id = ${pool.id}`);
    assert.deepEqual(await streams(), []);

    // Skims accumulated above twice the target (as premiums' skims would bring them).
    const target = BigInt((await h.db.query<{ t: string }>(sql`SELECT target AS t FROM backstop_state WHERE asset = 'USDC'`))[0]?.t ?? '0');
    const skims = 2n * target + USDC(1_000);
    await h.db.transaction((tx) =>
      postJournal(tx, {
        kind: 'BACKSTOP_SKIM',
        at: h.clock.now(),
        postings: [
          { account: ledgerAccounts.external('USDC'), amount: -skims },
          { account: ledgerAccounts.backstop('USDC'), amount: skims },
        ],
      }),
    );
    // A just-in-time depositor arrives a second before maintenance, as large as the pool.
    h.clock.advance(1_000);
    const jit: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: jit.address, amount: USDC(10_000).toString(), reference: 'jit-depositor' });
    await deposit(h.deps, jit, pool.id, USDC(10_000).toString(), 'SENIOR');
    await runMaintenance(h.deps);
    const [stream] = await streams();
    assert.ok(stream && BigInt(stream.amount) > USDC(999) && BigInt(stream.amount) <= USDC(1_000) + 2n * target, JSON.stringify(stream));
    const worth = async (v: Viewer) =>
      (await positions(h.deps, v, null)).nodes.reduce(
        async (sum, p) => (await sum) + positionValue(await loadPoolSnapshot(h.db, pool.id, h.clock.now()), p),
        Promise.resolve(0n),
      );
    // Right after the run: the newcomer's value is what it deposited (to a base unit).
    const right = await worth(jit);
    assert.ok(right >= USDC(10_000) - 1n && right <= USDC(10_000) + 1n, `just-in-time value ${right}`);
    // Half-way, each holder has earned about half of its share; after 30 days all of it.
    h.clock.advance(15 * 86_400_000);
    await runMaintenance(h.deps);
    const half = (await worth(jit)) - USDC(10_000);
    assert.ok(half > USDC(200) && half < USDC(300), `half-way the newcomer earned ${half}`);
    h.clock.advance(16 * 86_400_000);
    await watchRisk(h, risk.id);
    await runMaintenance(h.deps);
    assert.equal((await streams())[0]?.status, 'DONE');
    const upr = (await h.db.query<{ b: string }>(sql`SELECT balance::text AS b FROM accounts WHERE id = ${`upr:${pool.id}`}`))[0]?.b;
    assert.equal(upr, '0', 'every unit of the stream (and the premium) was earned');
  });
});
