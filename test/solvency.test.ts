import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { cover2 } from '../src/domain/adequacy.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { fundBackstop } from '../src/app/backstop.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { creditAccount, getBalance } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { recordRecovery } from '../src/app/recoveries.ts';
import { createRisk } from '../src/app/risks.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import type { TrancheName } from '../src/domain/pool.ts';
import { largestRemainder } from '../src/domain/allocation.ts';
import { simulateLosses } from '../src/domain/monte-carlo.ts';
import { defaultPricing } from '../src/domain/pricing.ts';
import { defaultBackstopLimits, runWaterfall } from '../src/domain/waterfall.ts';
import { rng } from './rng.ts';
import {
  type Harness,
  CREDIT,
  DEPOSIT,
  PURCHASE,
  QUOTE,
  USDC,
  assertLedgerInvariants,
  createHarness,
  depegRiskInput,
  fundedBuyer,
  marketWithPool,
  newWallet,
  useHarness,
  watchRisk,
} from './helpers.ts';
import { type CpuWorker, inlineCpu } from '../src/app/cpu-worker.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { RESIMULATE_MS } from '../src/app/adequacy.ts';

/**
 * Pricing made simple enough to compute by hand: r0 = 3.65% flat, no utilisation slope, no
 * minimum, so a 10-day policy costs exactly amount / 1000; the backstop skims 10% of it
 * (the fund is at its target of 0) and the pool earns the rest, all of it at settlement
 * when the incident comes right after the sale.
 */
const flatPricing = { ...defaultPricing, flatAnnualRate: '0.0365', slope1: '0', slope2: '0' };
const DAYS = 10;
/** Premiums round up to the base unit. */
const premiumOf = (amount: bigint) => (amount + 999n) / 1000n;
const netOf = (amount: bigint) => premiumOf(amount) - premiumOf(amount) / 10n;

function golden(h: Harness, admin: Viewer) {
  const balanceOf = async (account: string) => {
    const rows = await h.db.query<{ balance: string }>(sql`SELECT balance FROM accounts WHERE id = ${account}`);
    return BigInt(rows[0]?.balance ?? '0');
  };

  async function riskWithFeed(name: string, group: string) {
    const risk = await createRisk(h.deps, admin, depegRiskInput(`${name} ${Math.random()}`, group, { window: 0 }) as never);
    const feed = await registerFeed(h.deps, admin, { name, kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    return { risk, feed };
  }

  async function poolWith(riskIds: string[], stakes: Partial<Record<TrancheName, bigint>>) {
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const tranches = (Object.keys(stakes) as TrancheName[]).filter((t) => t !== 'SENIOR');
    const pool = await createPool(h.deps, curator, {
      name: 'golden',
      risks: riskIds.map((riskId) => ({ riskId })),
      tranches,
      groupCapBps: 30_000,
    });
    for (const [tranche, amount] of Object.entries(stakes) as Array<[TrancheName, bigint]>) {
      const owner: Viewer = tranche === 'FIRST_LOSS' ? curator : { address: newWallet().address, roles: [] };
      await creditAccount(h.deps, admin, { address: owner.address, amount: amount.toString(), reference: `${pool.id}-${tranche}` });
      await deposit(h.deps, owner, pool.id, amount.toString(), tranche);
    }
    return pool;
  }

  async function buy(riskId: string, amount: bigint) {
    const v: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: v.address, amount: USDC(1_000).toString(), reference: `b-${v.address}` });
    const q = await requestQuote(h.deps, v, riskId, amount.toString(), DAYS);
    assert.equal(q.premium, premiumOf(amount), 'the flat pricing gives amount / 1000');
    const policy = await purchasePolicy(h.deps, v, q.id);
    const before = (await getBalance(h.deps, v, null, 'USDC')).amount;
    return { viewer: v, policy, amount, before };
  }

  async function confirm(feedId: string) {
    const { incidents } = await recordObservations(h.deps, feedId, [{ value: '0.5', observedAt: h.clock.now(), source: {} }], false);
    assert.equal(incidents.length, 1);
    await settleIncident(h.deps, incidents[0] as string);
    return incidents[0] as string;
  }

  async function layers(incidentId: string, poolId: string) {
    const rows = await h.db.query<{ layer: string; amount: string }>(
      sql`SELECT layer, amount FROM incident_layers WHERE incident_id = ${incidentId} AND pool_id = ${poolId}`,
    );
    return Object.fromEntries(rows.map((r) => [r.layer, BigInt(r.amount)]));
  }

  async function payouts(incidentId: string) {
    return h.db.query<{ policy_id: string; due: string; paid: string; iou_repaid: string }>(
      sql`SELECT policy_id, due, paid, iou_repaid FROM payouts WHERE incident_id = ${incidentId} ORDER BY policy_id`,
    );
  }

  async function exhaustedPool(backstopFunding: bigint, reference: string) {
    await fundBackstop(h.deps, admin, 'USDC', backstopFunding.toString(), reference);
    const rs = [await riskWithFeed('C1', 'G3'), await riskWithFeed('C2', 'G3'), await riskWithFeed('C3', 'G3')];
    const pool = await poolWith(
      rs.map((r) => r.risk.id),
      { SENIOR: USDC(10_000) },
    );
    // 4,000 on each of three correlated risks: Cover-2 = 8,000 keeps the pool GREEN (1.25).
    await buy(rs[0]!.risk.id, USDC(4_000));
    await buy(rs[1]!.risk.id, USDC(4_000));
    const third = [
      await buy(rs[2]!.risk.id, USDC(1_333) + 1n),
      await buy(rs[2]!.risk.id, USDC(1_333)),
      await buy(rs[2]!.risk.id, USDC(1_334) - 1n),
    ];
    const i1 = await confirm(rs[0]!.feed.id);
    const i2 = await confirm(rs[1]!.feed.id);
    // A paid policy's cover is used up, so the rest of its net premium is earned at its settlement.
    assert.deepEqual(await layers(i1, pool.id), { SENIOR: USDC(4_000), BACKSTOP: 0n, HAIRCUT: 0n, FIRST_LOSS: 0n, JUNIOR: 0n });
    const afterTwo = USDC(10_000) + 2n * netOf(USDC(4_000)) - USDC(8_000);
    assert.equal(await balanceOf(`tranche:${pool.id}:SENIOR`), afterTwo);
    const capitalLeft = afterTwo + netOf(USDC(1_333) + 1n) + netOf(USDC(1_333)) + netOf(USDC(1_334) - 1n);
    const backstopBefore = await balanceOf('backstop:USDC');
    const i3 = await confirm(rs[2]!.feed.id);
    return { pool, third, i2, i3, capitalLeft, backstopBefore, shortfall: USDC(4_000) - capitalLeft };
  }

  return { balanceOf, riskWithFeed, poolWith, buy, confirm, layers, payouts, exhaustedPool };
}

describe('the loss waterfall, golden scenarios (docs/design.md §6)', () => {
  let h: Harness;
  let g: ReturnType<typeof golden>;
  before(async () => {
    h = await createHarness({ pricing: flatPricing, minPremium: '0', minCover: '0' });
    g = golden(h, { address: h.admin.address, roles: ['admin'] });
  });
  after(async () => {
    await h.close();
  });

  test('1. a loss within the first-loss stake touches nothing else', async () => {
    const r = await g.riskWithFeed('A', 'G1');
    const pool = await g.poolWith([r.risk.id], { FIRST_LOSS: USDC(1_000), JUNIOR: USDC(4_000), SENIOR: USDC(5_000) });
    const claim = await g.buy(r.risk.id, USDC(500));
    const inc = await g.confirm(r.feed.id);
    // Net premium 450,000 is earned at settlement by capital x weight: 1000x3 : 4000x2 : 5000x1.
    const income = largestRemainder(netOf(USDC(500)), [USDC(1_000) * 3n, USDC(4_000) * 2n, USDC(5_000)]);
    assert.deepEqual(income, [84_375n, 225_000n, 140_625n]);
    assert.deepEqual(await g.layers(inc, pool.id), { FIRST_LOSS: USDC(500), JUNIOR: 0n, SENIOR: 0n, BACKSTOP: 0n, HAIRCUT: 0n });
    assert.equal(await g.balanceOf(`tranche:${pool.id}:FIRST_LOSS`), USDC(500) + 84_375n);
    assert.equal(await g.balanceOf(`tranche:${pool.id}:JUNIOR`), USDC(4_000) + 225_000n);
    assert.equal(await g.balanceOf(`tranche:${pool.id}:SENIOR`), USDC(5_000) + 140_625n);
    assert.equal((await getBalance(h.deps, claim.viewer, null, 'USDC')).amount - claim.before, USDC(500));
    await assertLedgerInvariants(h.db);
  });

  test('2. a larger loss goes through first-loss and junior into senior, and share prices fall in order', async () => {
    const r = await g.riskWithFeed('B', 'G2');
    const pool = await g.poolWith([r.risk.id], { FIRST_LOSS: USDC(500), JUNIOR: USDC(2_000), SENIOR: USDC(7_500) });
    const claims = [await g.buy(r.risk.id, USDC(3_000)), await g.buy(r.risk.id, USDC(2_000))];
    const inc = await g.confirm(r.feed.id);
    const [fl, jr, sr] = largestRemainder(netOf(USDC(3_000)) + netOf(USDC(2_000)), [USDC(500) * 3n, USDC(2_000) * 2n, USDC(7_500)]) as [
      bigint,
      bigint,
      bigint,
    ];
    // 4,500,000 x 1.5 : 4 : 7.5 (of 13) = 519,230.77 : 1,384,615.38 : 2,596,153.85; the two units
    // left go to the largest remainders, senior (.85) then first-loss (.77).
    assert.deepEqual([fl, jr, sr], [519_231n, 1_384_615n, 2_596_154n]);
    const loss = USDC(5_000);
    assert.deepEqual(await g.layers(inc, pool.id), {
      FIRST_LOSS: USDC(500) + fl,
      JUNIOR: USDC(2_000) + jr,
      SENIOR: loss - USDC(2_500) - fl - jr,
      BACKSTOP: 0n,
      HAIRCUT: 0n,
    });
    assert.equal(await g.balanceOf(`tranche:${pool.id}:SENIOR`), USDC(7_500) + sr - (loss - USDC(2_500) - fl - jr));
    for (const c of claims) assert.equal((await getBalance(h.deps, c.viewer, null, 'USDC')).amount - c.before, c.amount);
    const prices = await h.db.query<{ layer: string; before: string; after: string }>(sql`
      SELECT layer, share_price_before AS before, share_price_after AS after FROM incident_layers WHERE incident_id = ${inc} AND layer = 'FIRST_LOSS'`);
    // 500 USDC of shares (1:1 at deposit) now backed by the virtual asset alone: 1 / 500,000,001.
    assert.equal(prices[0]?.after, '0.000000001999999996');
    await assertLedgerInvariants(h.db);
  });

  test('3. correlated incidents exhaust the pool and the backstop pays the shortfall', async () => {
    const s = await g.exhaustedPool(USDC(100_000), 'seed-3');
    // 25% of the fund (>= 25,000) and 50% a year cover a ~2,000 shortfall.
    assert.deepEqual(await g.layers(s.i3, s.pool.id), {
      FIRST_LOSS: 0n,
      JUNIOR: 0n,
      SENIOR: s.capitalLeft,
      BACKSTOP: s.shortfall,
      HAIRCUT: 0n,
    });
    assert.equal(await g.balanceOf('backstop:USDC'), s.backstopBefore - s.shortfall);
    for (const c of s.third) assert.equal((await getBalance(h.deps, c.viewer, null, 'USDC')).amount - c.before, c.amount);
    const owed = await h.db.query<{ amount: string; repaid: string }>(
      sql`SELECT amount, repaid FROM backstop_draws WHERE pool_id = ${s.pool.id}`,
    );
    assert.deepEqual(
      owed.map((d) => [BigInt(d.amount), BigInt(d.repaid)]),
      [[s.shortfall, 0n]],
    );
    await assertLedgerInvariants(h.db);
  });
});

describe('the backstop cap, haircuts, IOUs and recoveries (docs/design.md §6)', () => {
  let h: Harness;
  let g: ReturnType<typeof golden>;
  let admin: Viewer;
  before(async () => {
    h = await createHarness({ pricing: flatPricing, minPremium: '0', minCover: '0' });
    admin = { address: h.admin.address, roles: ['admin'] };
    g = golden(h, admin);
  });
  after(async () => {
    await h.close();
  });

  test('4 and 5. the backstop cap leaves a pro-rata haircut as IOUs, and a recovery repays the IOUs first', async () => {
    // A bystander pool on another risk: nothing it holds may move.
    const other = await g.riskWithFeed('D', 'G4');
    const bystanderPool = await g.poolWith([other.risk.id], { SENIOR: USDC(5_000) });
    const bystander = await g.buy(other.risk.id, USDC(1_000));
    const bystanderCapital = await g.balanceOf(`tranche:${bystanderPool.id}:SENIOR`);

    // A fund of 4,000 (plus the skims): 25% of it is about 1,000, below the ~2,000 shortfall.
    const s = await g.exhaustedPool(USDC(4_000), 'seed-4');
    const balance = s.backstopBefore;
    const draw = [balance / 4n, s.shortfall].reduce((m, v) => (v < m ? v : m));
    assert.ok(draw < s.shortfall, 'the per-incident cap binds');
    const haircut = s.shortfall - draw;
    assert.deepEqual(await g.layers(s.i3, s.pool.id), {
      FIRST_LOSS: 0n,
      JUNIOR: 0n,
      SENIOR: s.capitalLeft,
      BACKSTOP: draw,
      HAIRCUT: haircut,
    });
    const rows = await g.payouts(s.i3);
    const due = rows.map((r) => BigInt(r.due));
    const paid = rows.map((r) => BigInt(r.paid));
    assert.deepEqual(paid, largestRemainder(s.capitalLeft + draw, due), 'largest remainder by policy id');
    assert.equal(paid.reduce((a, b) => a + b, 0n) + haircut, USDC(4_000));
    // Claimants of the bystander pool and of the earlier incident are untouched.
    assert.equal(await g.balanceOf(`tranche:${bystanderPool.id}:SENIOR`), bystanderCapital);
    assert.equal((await getBalance(h.deps, bystander.viewer, null, 'USDC')).amount, bystander.before);
    for (const r of await g.payouts(s.i2)) assert.equal(r.paid, r.due);

    // 5. A recovery of haircut + 100 USDC: the IOUs first, in full, then the backstop draw.
    const rec = await recordRecovery(h.deps, admin, s.i3, (haircut + USDC(100)).toString(), 'recovery-1');
    assert.deepEqual(
      rec.parts.map((p) => [p.layer, p.amount]),
      [
        ['IOU', haircut],
        ['BACKSTOP', USDC(100)],
      ],
    );
    for (const [i, c] of s.third.entries()) {
      assert.equal((await getBalance(h.deps, c.viewer, null, 'USDC')).amount - c.before, c.amount, `claimant ${i} made whole`);
    }
    const after = await g.payouts(s.i3);
    for (const r of after) assert.equal(BigInt(r.paid) + BigInt(r.iou_repaid), BigInt(r.due));
    const draws = await h.db.query<{ repaid: string }>(sql`SELECT repaid FROM backstop_draws WHERE incident_id = ${s.i3}`);
    assert.equal(BigInt(draws[0]?.repaid ?? '0'), USDC(100));
    const state = await h.db.query<{ iou_outstanding: string }>(sql`SELECT iou_outstanding FROM backstop_state WHERE asset = 'USDC'`);
    assert.equal(state[0]?.iou_outstanding, '0');
    // Everything above, as a user reads it through the API.
    const view = await h.ok(
      `query($id: ID!, $p: ID!) {
        incident(id: $id) { waterfall { layer amount sharePriceBefore sharePriceAfter pool { id } } payouts { due paid haircut iouRepaid iou }
          recoveries { amount parts { layer amount } } }
        backstop { balance skimRateBps iouOutstanding target { target exposureFloor stressShortfall } draws { amount repaid pool { id } }
          pools { pool { id } drawnThisYear available owed } }
        adequacy(poolId: $p) { status cover2 requiredCapital coverageRatio simulation { paths seed expectedLoss var995 es99 elapsedMs } }
        platform: adequacy { status capital cover2 } }`,
      { id: s.i3, p: s.pool.id },
    );
    assert.deepEqual(
      view.incident.waterfall.map((r: { layer: string; amount: string }) => [r.layer, r.amount]),
      [
        ['FIRST_LOSS', '0'],
        ['JUNIOR', '0'],
        ['SENIOR', s.capitalLeft.toString()],
        ['BACKSTOP', draw.toString()],
        ['HAIRCUT', haircut.toString()],
      ],
    );
    // 10,000 USDC of shares backed by the virtual asset alone: 1 / 10,000,000,001, to 18 places.
    assert.equal(view.incident.waterfall[2].sharePriceAfter, '0.0000000001');
    assert.ok(
      view.incident.payouts.every((p: { iou: string; haircut: string; iouRepaid: string }) => p.iou === '0' && p.haircut === p.iouRepaid),
    );
    assert.equal(view.backstop.iouOutstanding, '0');
    assert.equal(view.backstop.draws[0].repaid, USDC(100).toString());
    assert.equal(view.adequacy.simulation.paths, 20_000);
    // The pool is empty and still carries nothing: nothing is required of it.
    assert.equal(view.adequacy.status, 'GREEN');
    // The same reference again changes nothing; more than was lost is refused.
    assert.equal((await recordRecovery(h.deps, admin, s.i3, (haircut + USDC(100)).toString(), 'recovery-1')).id, rec.id);
    await assert.rejects(recordRecovery(h.deps, admin, s.i3, USDC(1_000_000).toString(), 'recovery-2'), /at most/);
    await assertLedgerInvariants(h.db);
  });
});

describe('waterfall and adequacy properties', () => {
  const big = (r: () => number, max: number) => BigInt(Math.floor(r() * max));

  test('random scenarios: the parts sum exactly to the loss, no layer goes negative or beyond its cap', () => {
    const r = rng(11);
    for (let i = 0; i < 10_000; i++) {
      const input = {
        due: big(r, 1e12),
        tranches: [
          { tranche: 'FIRST_LOSS' as const, assets: big(r, 1e11) },
          { tranche: 'JUNIOR' as const, assets: big(r, 3e11) },
          { tranche: 'SENIOR' as const, assets: big(r, 5e11) },
        ],
        backstopBalance: big(r, 1e12),
        poolDrawnThisYear: big(r, 5e11),
        limits: defaultBackstopLimits,
      };
      const w = runWaterfall(input);
      assert.equal(
        w.rows.reduce((s, x) => s + x.amount, 0n),
        input.due,
      );
      for (const row of w.rows) assert.ok(row.amount >= 0n);
      for (const t of input.tranches) assert.ok((w.rows.find((x) => x.layer === t.tranche)?.amount ?? 0n) <= t.assets);
      assert.ok(w.backstopDraw <= input.backstopBalance / 4n);
      assert.ok(
        w.backstopDraw + input.poolDrawnThisYear <= ((input.backstopBalance + input.poolDrawnThisYear) * 5_000n) / 10_000n ||
          w.backstopDraw === 0n,
      );
      // Order: a layer is touched only when every layer before it is empty.
      const [fl, jr, sr] = w.rows;
      if ((jr?.amount ?? 0n) > 0n) assert.equal(fl?.amount, input.tranches[0]?.assets);
      if ((sr?.amount ?? 0n) > 0n) assert.equal(jr?.amount, input.tranches[1]?.assets);
      const shares = largestRemainder(w.paid, [big(r, 1e9) + 1n, big(r, 1e9) + 1n, big(r, 1e9) + 1n]);
      assert.equal(
        shares.reduce((s, x) => s + x, 0n),
        w.paid,
      );
    }
  });

  test('Monte Carlo: independent risks match the analytic expected loss; results repeat for a seed', () => {
    const risks = Array.from({ length: 50 }, (_, i) => ({
      exposure: 1e9 * (1 + (i % 7)),
      probability: 0.005 + (i % 9) * 0.01,
      group: `g${i % 5}`,
    }));
    const analytic = risks.reduce((s, x) => s + x.exposure * x.probability, 0);
    const sd = Math.sqrt(risks.reduce((s, x) => s + x.exposure ** 2 * x.probability * (1 - x.probability), 0));
    const paths = 100_000;
    const independent = simulateLosses(risks, { paths, seed: 99, withinGroup: 0, acrossGroups: 0, capital: 1e12, backstopAvailable: 0 });
    assert.ok(Math.abs(independent.expectedLoss - analytic) < (4 * sd) / Math.sqrt(paths), `${independent.expectedLoss} vs ${analytic}`);
    const a = simulateLosses(risks, { paths, seed: 7, withinGroup: 0.3, acrossGroups: 0.1, capital: 2e10, backstopAvailable: 5e9 });
    const b = simulateLosses(risks, { paths, seed: 7, withinGroup: 0.3, acrossGroups: 0.1, capital: 2e10, backstopAvailable: 5e9 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      simulateLosses(risks, { paths, seed: 8, withinGroup: 0.3, acrossGroups: 0.1, capital: 2e10, backstopAvailable: 5e9 }),
      a,
    );
    // Correlation fattens the tail, not the mean.
    assert.ok(a.var995 > independent.var995);
    assert.ok(Math.abs(a.expectedLoss - analytic) / analytic < 0.05);
    assert.ok(a.es99 >= a.var99 && a.var995 >= a.var99);
  });

  test('a common shock: coins of one group, and a coin whose backing depends on another, fail together; each keeps its own chance', () => {
    const options = { paths: 200_000, seed: 3, withinGroup: 0.8, acrossGroups: 0.1, capital: 1e12, backstopAvailable: 0 };
    const three = ['USDC', 'USDC', 'USDC'].map((group) => ({ exposure: 1e9, probability: 0.02, group }));
    const together = simulateLosses(three, options);
    // Each keeps its 2% (the mean), and the group's shock takes all three at once about 1.6% of years.
    assert.ok(Math.abs(together.expectedLoss - 3 * 0.02 * 1e9) / (0.06 * 1e9) < 0.05, `${together.expectedLoss}`);
    assert.equal(together.var99, 3e9, 'capital for all three paying together');
    const gaussian = simulateLosses(three, { ...options, withinGroup: 0, acrossGroups: 0 });
    assert.ok(gaussian.var995 <= 2e9 && together.es99 > 1.4 * gaussian.es99, `${gaussian.var995} ${gaussian.es99} ${together.es99}`);
    const dai = { exposure: 2e9, probability: 0.02, group: 'DAI' };
    const usdc = { exposure: 1e9, probability: 0.02, group: 'USDC' };
    assert.equal(simulateLosses([usdc, { ...dai, dependsOn: ['USDC'] }], options).var99, 3e9, 'DAI fails with USDC');
    assert.equal(simulateLosses([usdc, dai], options).var99, 2e9, 'apart, one at a time at the 99th percentile');
    // The shares of ES 99% add up to it, and the risk that is in every bad year holds the most per unit.
    const book = simulateLosses([usdc, { ...dai, dependsOn: ['USDC'] }, { exposure: 1e9, probability: 0.002, group: 'X' }], options);
    const total = book.es99Contributions.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - book.es99) < 1e-6 * book.es99, `${total} vs ${book.es99}`);
    assert.ok((book.es99Contributions[2] as number) / 1e9 < (book.es99Contributions[0] as number) / 1e9);
  });

  test('parameter risk: a frequency drawn from a wide posterior fattens the tail of a book priced at its mean', () => {
    const options = { paths: 100_000, seed: 5, withinGroup: 0, acrossGroups: 0, capital: 1e12, backstopAvailable: 0 };
    const book = Array.from({ length: 30 }, (_, i) => ({ exposure: 1e9, probability: -Math.expm1(-0.01), group: `g${i}` }));
    const known = simulateLosses(book, options);
    const uncertain = simulateLosses(
      book.map((r) => ({ ...r, frequency: { shape: 0.5, rate: 50 } })),
      options,
    );
    assert.ok(uncertain.es99 > known.es99, `${uncertain.es99} vs ${known.es99}`);
    assert.deepEqual(simulateLosses(book, options), known, 'the same seed, the same figures');
  });

  test('Cover-2 is exactly the two largest exposures', () => {
    assert.equal(cover2([5n, 9n, 1n, 9n]), 18n);
    assert.equal(cover2([7n]), 7n);
    assert.equal(cover2([]), 0n);
  });
});

describe('a book is simulated again only when its figures could have moved (issue 70)', () => {
  const h = useHarness();
  const ADEQUACY = 'query($p: ID!) { adequacy(poolId: $p) { computedAt simulation { simulatedAt expectedLoss var995 es99 } } }';

  test('unchanged, it is served its last run; an exposure grown within 1%, that run scaled up, which a new run stays within; more, or ten minutes on, it is simulated again', async () => {
    const m = await marketWithPool(h, USDC(1_000_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(100_000));
    const buy = async (amount: bigint) => {
      const q = (await h.ok(QUOTE, { r: m.risk.id, amt: amount.toString(), d: 30 }, buyer.token)).quote;
      await h.ok(PURCHASE, { q: q.id }, buyer.token);
    };
    await buy(USDC(100_000));
    let simulations = 0;
    const cpu: CpuWorker = {
      ...inlineCpu,
      simulate: (risks, options) => {
        simulations++;
        return inlineCpu.simulate(risks, options);
      },
    };
    const run = async () => {
      simulations = 0;
      await runMaintenance({ ...h.deps, cpu });
      return simulations;
    };
    const report = async () => (await h.ok(ADEQUACY, { p: m.pool.id })).adequacy;
    const at = () => new Date(h.clock.now()).toISOString();
    const figures = (r: { simulation: Record<string, string> }) =>
      ['expectedLoss', 'var995', 'es99'].map((k) => BigInt(r.simulation[k] as string));

    assert.equal(await run(), 3, 'the pool now, the pool at its caps, the platform');
    const first = await report();
    assert.equal(first.simulation.simulatedAt, at());
    assert.ok(
      figures(first).every((f) => f > 0n),
      JSON.stringify(first),
    );

    // A minute on: premium earned moved the capital by far less than 1%; nothing is simulated,
    // and the report is computed again around the same figures.
    h.clock.advance(60_000);
    assert.equal(await run(), 0);
    const minuteOn = await report();
    assert.equal(minuteOn.computedAt, at());
    assert.deepEqual(minuteOn.simulation, first.simulation);

    // The exposure grown by 0.5%: still no simulation, the figures scaled up by that growth.
    await buy(USDC(500));
    assert.equal(await run(), 0);
    const grown = await report();
    assert.equal(grown.simulation.simulatedAt, first.simulation.simulatedAt);
    figures(grown).forEach((f, i) => {
      const was = figures(first)[i] as bigint;
      assert.ok(f > was && f <= (was * 1_006n) / 1_000n, `${f} is ${was} grown by 0.5%`);
    });

    // Ten minutes after the run: simulated again, and the new run is within what was served.
    h.clock.advance(RESIMULATE_MS);
    assert.equal(await run(), 3);
    const fresh = await report();
    assert.equal(fresh.simulation.simulatedAt, at());
    figures(fresh).forEach((f, i) => assert.ok(f <= (figures(grown)[i] as bigint), `${f} within the ${figures(grown)[i]} served`));

    // Grown by 5%: the pool's book and the platform's are simulated at the next run (its caps
    // are the capital's, which barely moved).
    await buy(USDC(5_000));
    h.clock.advance(1_000);
    assert.equal(await run(), 2);
    assert.equal((await report()).simulation.simulatedAt, at());

    // Capital grown by 2%: every book on it is simulated again.
    await h.ok(CREDIT, { a: m.underwriter.address, amt: USDC(20_000).toString(), r: 'more capital' }, m.adminToken);
    await h.ok(DEPOSIT, { p: m.pool.id, amt: USDC(20_000).toString() }, m.uwToken);
    h.clock.advance(1_000);
    assert.equal(await run(), 3);
  });
});
