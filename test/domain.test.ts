import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  capUtilisation,
  checkCapacity,
  coverFitting,
  defaultLimits,
  policyExposure,
  requiredCapital,
  roomLeft,
  roomUnder,
} from '../src/domain/capacity.ts';
import { splitInflow } from '../src/domain/backstop.ts';
import { Decimal, decimalString, scaledOf, scaledString } from '../src/domain/decimal.ts';
import { WAD } from '../src/domain/money.ts';
import { accruePremium, policyEarning } from '../src/domain/premium-accrual.ts';
import { defaultPricing, meanMultiplier, pricePremium, utilisationMultiplier } from '../src/domain/pricing.ts';
import { computeRiskScore } from '../src/domain/risk-score.ts';
import { fitted } from '../src/domain/fitted-model.ts';
import { assetsForShares, sharesForAssets, sharesForDeposit, sharesKeptOnCancel, withdrawalPayout } from '../src/domain/shares.ts';
import { normaliseTriggerRule } from '../src/domain/trigger-rule.ts';
import { ruleInWords } from '../src/domain/rule-words.ts';
import { quoteSummary } from '../src/domain/quote-summary.ts';

/** A small seeded PRNG so property tests are reproducible. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const big = (max: bigint) => (BigInt(Math.floor(next() * 2 ** 32)) * BigInt(Math.floor(next() * 2 ** 32))) % max;
  return { next, big };
}

describe('share maths', () => {
  test('deposit then immediate withdrawal never returns more than deposited', () => {
    const r = rng(1);
    for (let i = 0; i < 5_000; i++) {
      const book = { totalAssets: r.big(10n ** 15n), totalShares: r.big(10n ** 15n) };
      const assets = r.big(10n ** 12n) + 1n;
      const shares = sharesForDeposit(book, assets);
      const after = { totalAssets: book.totalAssets + assets, totalShares: book.totalShares + shares };
      const back = assetsForShares(after, shares);
      assert.ok(back <= assets, `deposit ${assets} returned ${back} (book ${book.totalAssets}/${book.totalShares})`);
      // Nobody else lost value either: the price per share did not fall.
      assert.ok((after.totalAssets + 1n) * (book.totalShares + 1n) >= (book.totalAssets + 1n) * (after.totalShares + 1n));
    }
  });

  test('rounding never favours the actor', () => {
    const r = rng(2);
    for (let i = 0; i < 5_000; i++) {
      const book = { totalAssets: r.big(10n ** 15n) + 1n, totalShares: r.big(10n ** 15n) + 1n };
      const assets = r.big(10n ** 10n) + 1n;
      const exact = new Decimal(assets.toString()).mul((book.totalShares + 1n).toString()).div((book.totalAssets + 1n).toString());
      assert.ok(new Decimal(sharesForDeposit(book, assets).toString()).lte(exact), 'minted shares round down');
      assert.ok(new Decimal(sharesForAssets(book, assets).toString()).gte(exact), 'burnt shares round up');
      const shares = r.big(book.totalShares) + 1n;
      const value = new Decimal(shares.toString()).mul((book.totalAssets + 1n).toString()).div((book.totalShares + 1n).toString());
      assert.ok(new Decimal(assetsForShares(book, shares).toString()).lte(value), 'redemptions round down');
    }
  });

  test('a withdrawal in cooldown takes the lower of its two values', () => {
    assert.equal(withdrawalPayout(100n, 90n), 90n);
    assert.equal(withdrawalPayout(100n, 110n), 100n);
  });

  test('a cancelled request keeps the most shares worth no more than at the request, once the rest are burnt', () => {
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const totalShares = r.big(10n ** 12n) + 10n;
      const locked = 1n + r.big(totalShares - 1n);
      const book = { totalAssets: r.big(10n ** 13n), totalShares };
      const now = assetsForShares(book, locked);
      const valueAtRequest = r.big(now * 2n + 2n);
      const kept = sharesKeptOnCancel(book, locked, valueAtRequest);
      const worth = (k: bigint) => assetsForShares({ totalAssets: book.totalAssets, totalShares: totalShares - (locked - k) }, k);
      if (now <= valueAtRequest) {
        assert.equal(kept, locked, 'worth no more than at the request (a loss stays with them): all kept');
        continue;
      }
      assert.ok(kept < locked && worth(kept) <= valueAtRequest, 'what is kept is worth at most the value at the request');
      // One share more would be worth more than that before rounding (rounding is against the holder).
      const exactNext = (kept + 1n) * (book.totalAssets + 1n) > valueAtRequest * (totalShares - locked + kept + 2n);
      assert.ok(exactNext, 'and no share more could be');
    }
  });
});

describe('pricing (docs/design.md §3)', () => {
  test("a premium's exact arithmetic in bigints writes what decimal.js writes", () => {
    const { next } = rng(42);
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(next() * 10)).join('');
    for (let i = 0; i < 2_000; i++) {
      const n = BigInt(digits(1 + Math.floor(next() * 30)));
      const places = Math.floor(next() * 25);
      const dp = Math.floor(next() * 13);
      const expected = decimalString(new Decimal(n.toString()).div(new Decimal(10).pow(places)), dp);
      assert.equal(scaledString(n, places, dp), expected, `${n} / 10^${places} to ${dp} places`);
      const rate = new Decimal(`0.${digits(1 + Math.floor(next() * 15))}`);
      assert.equal((scaledOf(rate).n * 10n ** 40n) / scaledOf(rate).den, BigInt(rate.mul(new Decimal(10).pow(40)).toFixed(0)));
    }
    // Halves round to the even neighbour, as decimalString does.
    assert.equal(scaledString(25n, 1, 0), '2');
    assert.equal(scaledString(35n, 1, 0), '4');
    assert.equal(scaledString(1000n, 3, 6), '1');
  });

  test('the utilisation multiplier has its kink at k', () => {
    assert.equal(utilisationMultiplier(new Decimal(0), defaultPricing).toString(), '1');
    assert.equal(utilisationMultiplier(new Decimal('0.8'), defaultPricing).toString(), '1.5');
    assert.equal(utilisationMultiplier(new Decimal(1), defaultPricing).toString(), '5.5');
    assert.equal(meanMultiplier(new Decimal(0), new Decimal('0.8'), defaultPricing).toString(), '1.25');
    // Mean over [0.8, 1]: 1.5 + 4 * 0.5 = 3.5.
    assert.equal(meanMultiplier(new Decimal('0.8'), new Decimal(1), defaultPricing).toString(), '3.5');
  });

  test('splitting an order never makes it cheaper', () => {
    const r = rng(3);
    for (let i = 0; i < 500; i++) {
      const a = new Decimal(r.next()).mul('0.5');
      const c = a.add(new Decimal(r.next()).mul(new Decimal(1).sub(a)));
      const b = a.add(c.sub(a).mul(r.next()));
      const whole = meanMultiplier(a, c, defaultPricing).mul(c.sub(a));
      const parts = meanMultiplier(a, b, defaultPricing)
        .mul(b.sub(a))
        .add(meanMultiplier(b, c, defaultPricing).mul(c.sub(b)));
      assert.ok(whole.sub(parts).abs().lt('1e-30'), `${whole} vs ${parts}`);
    }
  });

  test('premium = A x (EL + uncertainty + capital) / (1 - skim) x mean(m), rounded up, with the fee and minimum', () => {
    const zero = new Decimal(0);
    const p = pricePremium(
      {
        amount: 10_000_000_000n,
        durationDays: 365,
        maxPayoutRatio: '0.2',
        loss: { expectedLoss: 0.004, uncertainty: 0.00108 },
        capitalShare: 0.216,
        utilisationBefore: zero,
        utilisationAfter: zero,
        minPremium: 1_000_000n,
      },
      defaultPricing,
    );
    // capital: 0.1 x (0.216 x 0.2 - 0.004) = 0.00392; skim: 0.009 / 0.9 - 0.009 = 0.001; risk premium 0.01.
    assert.equal(p.capitalLoad, '0.00392');
    assert.equal(p.skimLoad, '0.001');
    assert.equal(p.riskPremiumRate, '0.01');
    assert.equal(p.premium, 100_000_000n, '1% of 10,000 USDC for a year');
    assert.equal(p.fee, 5_000_000n);
    assert.equal(p.total, 105_000_000n);
    const tiny = pricePremium(
      {
        amount: 1_000_000n,
        durationDays: 7,
        maxPayoutRatio: '1',
        loss: { expectedLoss: 0.0001, uncertainty: 0 },
        capitalShare: 1,
        utilisationBefore: zero,
        utilisationAfter: zero,
        minPremium: 1_000_000n,
      },
      defaultPricing,
    );
    assert.equal(tiny.premium, 1_000_000n);
    assert.equal(tiny.minimumApplied, true);
    const odd = pricePremium(
      {
        amount: 333_333n,
        durationDays: 30,
        maxPayoutRatio: '1',
        loss: { expectedLoss: 0.0123, uncertainty: 0.0045 },
        capitalShare: 0.4,
        utilisationBefore: new Decimal('0.1'),
        utilisationAfter: new Decimal('0.9'),
        minPremium: 0n,
      },
      defaultPricing,
    );
    const risk = new Decimal('0.0123')
      .add('0.0045')
      .add(new Decimal('0.1').mul(new Decimal('0.4').sub('0.0123')).mul(30).div(365))
      .div('0.9');
    const exact = new Decimal(333_333).mul(risk).mul(meanMultiplier(new Decimal('0.1'), new Decimal('0.9'), defaultPricing));
    assert.equal(odd.premium, BigInt(exact.ceil().toFixed(0)));
  });
});

describe('premium accrual', () => {
  test('every policy earns exactly its premium over its life, never ahead of time', () => {
    const r = rng(4);
    const policies = Array.from({ length: 50 }, () => {
      const premium = r.big(10n ** 9n) + 1n;
      const start = Math.floor(r.next() * 1e9);
      const duration = 7 * 86_400_000 + Math.floor(r.next() * 300 * 86_400_000);
      return { premium, start, end: start + duration, endAt: start + duration, ...policyEarning(premium, duration) };
    });
    let state = { rateWad: 0n, carryWad: 0n, accruedAt: 0 };
    let earned = 0n;
    const events = [...policies.map((p) => p.start), ...Array.from({ length: 200 }, () => Math.floor(r.next() * 2e10))].sort(
      (a, b) => a - b,
    );
    const started = new Set<number>();
    for (const t of events) {
      const expiring = policies.filter((p) => started.has(p.start) && p.end > state.accruedAt && p.end <= t).sort((a, b) => a.end - b.end);
      const step = accruePremium(state, expiring, t);
      state = step.state;
      earned += step.earned;
      for (const p of policies) {
        if (p.start === t && !started.has(t)) {
          started.add(t);
          state = { ...state, rateWad: state.rateWad + p.rateWad };
        }
      }
      const owedByNow = policies
        .filter((p) => started.has(p.start))
        .reduce((s, p) => s.add(new Decimal(p.premium.toString()).mul(Math.min(t, p.end) - p.start).div(p.end - p.start)), new Decimal(0));
      assert.ok(new Decimal(earned.toString()).lte(owedByNow), 'never earned ahead of time');
    }
    const total = policies.reduce((s, p) => s + p.premium, 0n);
    const final = accruePremium(
      state,
      policies.filter((p) => p.end > state.accruedAt).sort((a, b) => a.end - b.end),
      3e10,
    );
    assert.equal(earned + final.earned, total);
    assert.equal(final.state.rateWad, 0n);
    assert.equal(final.state.carryWad, 0n);
    assert.ok(WAD > 0n);
  });
});

describe('capacity (docs/design.md §4)', () => {
  test('exposure is amount x max payout ratio, and each cap binds', () => {
    assert.equal(policyExposure(10_000_000_000n, '0.2'), 2_000_000_000n);
    assert.equal(policyExposure(3n, '0.5'), 2n, 'rounded up');
    const snap = { capital: 1_000n, riskExposure: 400n, groupExposure: 900n, totalExposure: 2_900n };
    assert.equal(checkCapacity(snap, defaultLimits, 100n).fits, true);
    assert.equal(checkCapacity(snap, defaultLimits, 101n).fits, false);
    assert.equal(checkCapacity(snap, defaultLimits, 50n).binding.name, 'total');
    assert.equal(checkCapacity({ ...snap, totalExposure: 0n }, defaultLimits, 50n).binding.name, 'group');
    assert.equal(checkCapacity(snap, defaultLimits, 0n).headroom, 100n);
    assert.equal(checkCapacity({ ...snap, capital: 0n }, defaultLimits, 1n).fits, false);
  });

  test('the binding cap is the one fullest after the purchase, ties to the first (exact fractions against decimals)', () => {
    const r = rng(13);
    const limits = [
      defaultLimits,
      { riskCapBps: 0, groupCapBps: 10_000, totalCapBps: 30_000 },
      { riskCapBps: 3_000, groupCapBps: 3_000, totalCapBps: 3_000 },
    ];
    for (let i = 0; i < 2_000; i++) {
      const capital = i % 50 === 1 ? 0n : r.big(10n ** 15n);
      const limit = limits[i % limits.length] as typeof defaultLimits;
      const snap = { capital, riskExposure: r.big(10n ** 14n), groupExposure: r.big(10n ** 14n), totalExposure: r.big(10n ** 15n) };
      // Equal utilisations now and then, so ties are exercised.
      const tie = i % 7 === 0;
      if (tie) {
        snap.capital -= snap.capital % 2n;
        snap.groupExposure = snap.riskExposure * 2n;
      }
      const extra = tie ? 0n : r.big(10n ** 13n);
      const check = checkCapacity(snap, limit, extra);
      // The reference: each cap's utilisation after as a decimal, the first of the largest.
      const caps = [
        { name: 'risk', cap: (snap.capital * BigInt(limit.riskCapBps)) / 10_000n, after: snap.riskExposure + extra },
        { name: 'group', cap: (snap.capital * BigInt(limit.groupCapBps)) / 10_000n, after: snap.groupExposure + extra },
        { name: 'total', cap: (snap.capital * BigInt(limit.totalCapBps)) / 10_000n, after: snap.totalExposure + extra },
      ];
      const u = (c: (typeof caps)[number]) =>
        c.cap === 0n ? new Decimal(c.after > 0n ? 2 : 1) : new Decimal(c.after.toString()).div(c.cap.toString());
      const expected = caps.reduce((best, c) => (u(c).gt(u(best)) ? c : best));
      assert.equal(check.binding.name, expected.name, `case ${i}`);
      assert.ok(check.utilisationAfter.eq(Decimal.min(1, u(expected))), `case ${i}: utilisation after`);
    }
  });

  test('room under the caps, the cover that fits it, and an empty cap counted full everywhere', () => {
    const snap = { capital: 1_000n, riskExposure: 400n, groupExposure: 900n, totalExposure: 2_900n };
    assert.deepEqual(roomLeft(snap, defaultLimits), { risk: 100n, group: 100n, total: 100n, binding: 'risk' });
    assert.deepEqual(roomLeft({ ...snap, riskExposure: 600n }, defaultLimits), { risk: 0n, group: 100n, total: 100n, binding: 'risk' });
    // The largest cover whose exposure, rounded up, fits: 100 / 0.3 = 333 (exposure 99.9 -> 100), not 334.
    assert.equal(coverFitting(100n, '0.3'), 333n);
    assert.ok(policyExposure(coverFitting(100n, '0.3'), '0.3') <= 100n && policyExposure(334n, '0.3') > 100n);
    assert.equal(coverFitting(100n, '0'), 0n);
    // A cap of zero has no room: full (1) with or without cover in force, for pricing and the API alike.
    assert.equal(capUtilisation(0n, 0n).toString(), '1');
    assert.equal(capUtilisation(5n, 0n).toString(), '1');
    assert.equal(capUtilisation(50n, 200n).toString(), '0.25');
    assert.equal(capUtilisation(300n, 200n).toString(), '1.5', 'above 1 when capital fell below the cover in force');
    const empty = checkCapacity({ capital: 0n, riskExposure: 0n, groupExposure: 0n, totalExposure: 0n }, defaultLimits, 0n);
    assert.equal(empty.utilisationBefore.toString(), '1');
    assert.equal(roomUnder(0n, 0n), 0n);
  });

  test("money into the backstop pays claimants' IOUs first, then the fund", () => {
    assert.deepEqual(splitInflow(100n, { iouOutstanding: 0n, iouReserve: 0n }), { toIous: 0n, toFund: 100n });
    assert.deepEqual(splitInflow(100n, { iouOutstanding: 70n, iouReserve: 30n }), { toIous: 40n, toFund: 60n });
    assert.deepEqual(splitInflow(10n, { iouOutstanding: 70n, iouReserve: 30n }), { toIous: 10n, toFund: 0n });
    assert.deepEqual(splitInflow(10n, { iouOutstanding: 30n, iouReserve: 50n }), { toIous: 0n, toFund: 10n });
  });

  test('required capital is the least capital at which every cap holds', () => {
    assert.equal(
      requiredCapital({
        totalExposure: 3_000n,
        totalCapBps: 30_000,
        risks: [{ exposure: 400n, capBps: 5_000 }],
        groups: [{ exposure: 900n, capBps: 10_000 }],
      }),
      1_000n,
    );
    assert.equal(requiredCapital({ totalExposure: 0n, totalCapBps: 30_000, risks: [], groups: [] }), 0n);
  });
});

describe('risk score and rules', () => {
  test('the score is the sum of weighted factor contributions, 0 to 100', () => {
    const safest = computeRiskScore({
      audits: 1000,
      daysLive: 5000,
      valueSecuredUsd: 10n ** 12n,
      pastIncidents: 0,
      oracleQuality: 'HIGH',
      centralisation: 'LOW',
    });
    const riskiest = computeRiskScore({
      audits: 0,
      daysLive: 0,
      valueSecuredUsd: 0n,
      pastIncidents: 9,
      oracleQuality: 'LOW',
      centralisation: 'HIGH',
    });
    assert.ok(Number(safest.score) < 1);
    assert.equal(riskiest.score, '100');
    const sum = riskiest.factors.reduce((s, f) => s + Number(f.contribution), 0);
    assert.equal(sum, 100);
    assert.equal(riskiest.model, fitted.version);
  });

  test('payout rules set the maximum ratio that exposure uses', () => {
    const base = { threshold: '0.995', direction: 'BELOW' as const, recoveryThreshold: '0.999', window: 86_400 };
    assert.equal(normaliseTriggerRule(base).maxRatio, '1');
    assert.equal(normaliseTriggerRule({ ...base, payout: 'PROPORTIONAL', peg: '1' }).maxRatio, '0.2');
    assert.equal(
      normaliseTriggerRule({
        ...base,
        payout: 'TIERED',
        tiers: [
          { bound: '0.98', ratio: '0.1' },
          { bound: '0.9', ratio: '0.5' },
        ],
      }).maxRatio,
      '0.5',
    );
    assert.throws(() => normaliseTriggerRule({ ...base, direction: 'ABOVE' }), /recoveryThreshold/);
  });
});

describe('a cover in plain words (Risk.terms)', () => {
  const rule = (r: Record<string, unknown>) =>
    normaliseTriggerRule({
      threshold: '0.5',
      direction: 'BELOW',
      recoveryThreshold: '0.9',
      window: 3_600,
      payout: 'BINARY',
      ...r,
    } as never);

  test('says what is watched, how long it must last and what it pays, from the rule and the template', () => {
    assert.equal(
      ruleInWords('SMART_CONTRACT_FAILURE', rule({}), 'erc4626-share-price'),
      "Pays the whole cover if the vault's share price falls by 50% or more (to 50% of its highest value held for an hour over the last 30 days) and stays there for 1 h. A pump, a dip for a block or an emptied vault pays nothing.",
    );
    assert.equal(
      ruleInWords(
        'SMART_CONTRACT_FAILURE',
        rule({ threshold: '1', direction: 'ABOVE', recoveryThreshold: '0', window: 21_600 }),
        'contract-paused',
      ),
      'Pays the whole cover if the protocol stays paused for 6 h. A shorter pause pays nothing.',
    );
    assert.equal(
      ruleInWords(
        'DEPEG',
        rule({ threshold: '0.995', recoveryThreshold: '0.999', window: 86_400, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }),
        null,
      ),
      'Pays how far it is below 1, as a share of the cover, up to 20% if the price is at or below 0.995 and stays there for 24 h; a trigger that is back at or above 0.999 first pays nothing. The share is measured at the price at confirmation (when the trigger is confirmed), not at the lowest seen.',
    );
  });
});

describe('a quote in one line', () => {
  const b = {
    expectedLoss: '0.000501',
    uncertaintyLoad: '0.000163',
    capitalLoad: '0.000166',
    skimLoad: '0.000093',
    utilisationMultiplier: '1.05',
    termFraction: String(30 / 365),
    minimumApplied: false,
  };

  test('annualised parts with the utilisation multiplier that add up to the total at the precision shown', () => {
    const amount = 10_000_000_000n;
    const premium = 9_692_000n; // 0.000923 x 1.05 of 10,000 USDC, rounded up
    const fee = 96_920n;
    const line = quoteSummary(b, amount, premium, fee);
    const [, total, rest] = /^([\d.]+)% a year of the cover: (.*)$/.exec(line) ?? [];
    const parts = [...(rest ?? '').matchAll(/([\d.]+)%/g)].map((m) => Number(m[1]));
    assert.equal(parts.length, 5, line);
    assert.equal(Number(parts.reduce((s, v) => s + v, 0).toFixed(2)), Number(total), line);
    assert.match(
      line,
      /^1\.19% a year of the cover: expected loss 0\.64%, uncertainty 0\.21%, capital 0\.21%, backstop skim 0\.12%, platform fee 0\.01%$/,
    );
  });

  test('a minimum premium is named, and a small rate keeps two significant digits', () => {
    const tiny = { ...b, expectedLoss: '0.0000001', uncertaintyLoad: '0', capitalLoad: '0', skimLoad: '0' };
    assert.match(quoteSummary({ ...tiny, minimumApplied: true }, 10_000_000_000n, 1_000_000n, 10_000n), /minimum premium/);
    assert.equal(quoteSummary(tiny, 10_000_000_000n, 1_050n, 0n), '0.00013% a year of the cover: expected loss 0.00013%');
    assert.equal(
      quoteSummary(tiny, 10_000_000_000n, 1_279n, 0n),
      '0.00016% a year of the cover: expected loss 0.00013%, rounding 0.00003%',
    );
  });
});
