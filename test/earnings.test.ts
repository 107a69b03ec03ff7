import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { creditAccount } from '../src/app/funding.ts';
import { deposit } from '../src/app/underwrite.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { type TrancheMove, replayTranche } from '../src/domain/earnings.ts';
import { sharesForDeposit } from '../src/domain/shares.ts';
import { type Harness, USDC, assertLedgerInvariants, createHarness, insuredMarket, newWallet, watchRisk } from './helpers.ts';
import { rng } from './rng.ts';

const DAY = 86_400_000;
const EARNINGS = `query($a: String) { positions(address: $a) { nodes { value pool { id } earnings {
  deposited withdrawn premiumEarned lossesTotal recoveries netEarned realisedYield annualisedYield firstDepositAt
  losses { incidentId amount at } sharePrice { at sharePrice } } } } }`;

describe('what a position earns', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  test('per position: deposits, premium by the shares held at the time, losses per incident, yields; per pool: premium per day and loss history', async () => {
    const m = await insuredMarket(h, USDC(50_000), `earnings ${Math.random()}`);
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    const late: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: late.address, amount: USDC(50_000).toString(), reference: `late-${late.address}` });
    // Ten days of premium for the curator alone, then the late underwriter matches the capital.
    h.clock.advance(10 * DAY);
    await watchRisk(h, m.risk.id);
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(10_000).toString(), reference: `buyer-${buyer.address}` });
    await purchasePolicy(h.deps, buyer, (await requestQuote(h.deps, buyer, m.risk.id, USDC(20_000).toString(), 60)).id);
    await deposit(h.deps, late, m.pool.id, USDC(50_000).toString(), 'SENIOR');
    h.clock.advance(10 * DAY);
    const incidentId = await m.depeg();
    await settleIncident(h.deps, incidentId);

    const adminToken = await h.signIn(h.admin);
    const read = async (who: Viewer) => {
      const { positions } = await h.ok(EARNINGS, { a: who.address }, adminToken);
      const p = positions.nodes.find((x: { pool: { id: string } }) => x.pool.id === m.pool.id);
      assert.ok(p, `a position of ${who.address}`);
      return { value: BigInt(p.value), ...p.earnings };
    };
    const first = await read(m.curator);
    const second = await read(late);
    for (const e of [first, second]) {
      assert.equal(BigInt(e.netEarned), e.value + BigInt(e.withdrawn) - BigInt(e.deposited));
      // What the position made is its premium less its losses, to a few base units of rounding.
      const booked = BigInt(e.premiumEarned) - BigInt(e.lossesTotal) + BigInt(e.recoveries);
      const gap = BigInt(e.netEarned) - booked;
      assert.ok(gap >= -5n && gap <= 5n, `net ${e.netEarned} against booked ${booked}`);
      assert.deepEqual(
        e.losses.map((l: { incidentId: string }) => l.incidentId),
        [incidentId],
      );
      assert.ok(BigInt(e.losses[0].amount) > 0n);
      assert.ok(Math.abs(Number(e.realisedYield) - Number(booked) / Number(e.deposited)) < 1e-8, e.realisedYield);
    }
    assert.equal(first.deposited, USDC(50_000).toString());
    assert.equal(second.deposited, USDC(50_000).toString());
    // The curator held alone for the first ten days: more premium for the same capital.
    assert.ok(BigInt(first.premiumEarned) > BigInt(second.premiumEarned), `${first.premiumEarned} > ${second.premiumEarned}`);
    // The loss is shared by the shares held when it was paid: equal capital, near-equal loss.
    const [l1, l2] = [BigInt(first.lossesTotal), BigInt(second.lossesTotal)];
    assert.ok(l1 - l2 <= l1 / 100n && l2 - l1 <= l1 / 100n, `${l1} vs ${l2}`);
    // The share price rose with premium and fell at the incident.
    const prices = first.sharePrice.map((p: { sharePrice: string }) => Number(p.sharePrice));
    assert.ok(Math.max(...prices) > prices[0], 'premium raised the price');
    assert.ok((prices.at(-1) as number) < Math.max(...prices), 'the loss lowered it');
    assert.ok(first.annualisedYield !== null && Number(first.annualisedYield) < 0, 'a loss this size is a negative yield');

    const { pool } = await h.ok(
      `query($p: ID!) { pool(id: $p) { premiumByDay(days: 30) { day amount } losses { incidentId layer amount } } }`,
      { p: m.pool.id },
    );
    assert.equal(pool.premiumByDay.length, 30);
    assert.ok(pool.premiumByDay.every((d: { day: string }) => d.day.endsWith('T00:00:00.000Z')));
    const earnedByDays = pool.premiumByDay.reduce((s: bigint, d: { amount: string }) => s + BigInt(d.amount), 0n);
    // Every credit is in one of the days (all of them fall within the 30 shown); the positions'
    // parts are rounded down, so together they fall short of it by base units at most.
    const parts = BigInt(first.premiumEarned) + BigInt(second.premiumEarned);
    assert.ok(earnedByDays >= parts && earnedByDays - parts <= 100n, `${earnedByDays} by day, ${parts} in positions`);
    assert.deepEqual(
      pool.losses.map((l: { incidentId: string; layer: string }) => [l.incidentId, l.layer]),
      [[incidentId, 'SENIOR']],
    );
    const layerLoss = BigInt(pool.losses[0].amount);
    assert.ok(layerLoss >= l1 + l2 && layerLoss - (l1 + l2) <= 2n, `the layer lost ${layerLoss}, the positions ${l1 + l2}`);
    await assertLedgerInvariants(h.db);
  });

  test('replaying a tranche: holders share every credit and debit by their shares, rounded down, never more than was posted', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = rng(seed);
      const holders = ['0xa', '0xb', '0xc'];
      const moves: TrancheMove[] = [];
      let assets = 0n;
      let shares = 0n;
      const held = new Map(holders.map((x) => [x, 0n]));
      let premium = 0n;
      let losses = 0n;
      for (let i = 0; i < 40; i++) {
        const r = random();
        const owner = holders[Math.floor(random() * holders.length)] as string;
        if (r < 0.35 || shares === 0n) {
          const amount = BigInt(1 + Math.floor(random() * 1e9));
          const minted = sharesForDeposit({ totalAssets: assets, totalShares: shares }, amount);
          if (minted === 0n) continue;
          moves.push({ kind: 'DEPOSIT', at: i, amount, shares: minted, owner });
          assets += amount;
          shares += minted;
          held.set(owner, (held.get(owner) as bigint) + minted);
        } else if (r < 0.75) {
          const amount = BigInt(1 + Math.floor(random() * 1e7));
          moves.push({ kind: 'PREMIUM', at: i, amount, incidentId: null });
          assets += amount;
          premium += amount;
        } else if (r < 0.85 && assets > 1n) {
          const amount = BigInt(1 + Math.floor(random() * Number(assets / 4n)));
          moves.push({ kind: 'LOSS', at: i, amount: -amount, incidentId: `inc-${i}` });
          assets -= amount;
          losses += amount;
        }
      }
      const results = holders.map((x) => replayTranche(moves, x));
      const sum = (f: (e: (typeof results)[number]) => bigint) => results.reduce((s, e) => s + f(e), 0n);
      assert.ok(sum((e) => e.premiumEarned) <= premium, `seed ${seed}: premium parts within what was posted`);
      assert.ok(premium - sum((e) => e.premiumEarned) <= BigInt(moves.length * holders.length), `seed ${seed}: only rounding is left`);
      const lost = sum((e) => e.losses.reduce((s, l) => s + l.amount, 0n));
      assert.ok(lost <= losses && losses - lost <= BigInt(moves.length * holders.length), `seed ${seed}: loss parts`);
      for (const [i, x] of holders.entries()) assert.equal(results[i]?.shares, held.get(x), `seed ${seed}: shares of ${x}`);
      assert.equal(results[0]?.totalShares, shares);
      assert.equal(results[0]?.sharePrice.length, moves.length);
    }
  });
});
