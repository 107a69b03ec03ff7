import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { runMaintenance } from '../src/app/maintenance.ts';
import { deleteStaleExplanations } from '../src/db/cover-store.ts';
import { buildLossModel, lossTermsOf } from '../src/app/loss-models.ts';
import { DAY_MS, dailyExperience, replayStarts } from '../src/domain/experience.ts';
import { fitPrior, gammaP, gammaQuantile } from '../src/domain/loss-model.ts';
import type { Backing } from '../src/domain/backing.ts';
import { fitted } from '../src/domain/fitted-model.ts';
import { UNPOOLED_CAPITAL_SHARE, capitalShare, defaultPricing, riskRates } from '../src/domain/pricing.ts';
import { simulateLosses } from '../src/domain/monte-carlo.ts';
import { type RiskScoreInputs, computeRiskScore } from '../src/domain/risk-score.ts';
import { type Observation, backtest } from '../src/domain/trigger-engine.ts';
import { type TriggerRuleInput, normaliseTriggerRule } from '../src/domain/trigger-rule.ts';
import { shippedCoins } from '../src/calibration/cross-section.ts';
import { classRuns, parseRuns, runRecord } from '../src/calibration/runs.ts';
import {
  EXAMPLE_PROTOCOLS,
  EXAMPLE_RULES,
  INDEMNITY_RULE,
  exploitRates,
  exploitValidation,
  fitExploitRates,
  priorAnnualRate,
  shippedExploits,
} from '../src/calibration/exploits.ts';
import {
  CONTRACT_SCORE_WEIGHTS,
  PROTOCOL_CATEGORIES,
  contractScore,
  diversifiedCapital,
  exploitPrior,
  exploitTrigger,
} from '../src/domain/exploit-prior.ts';
import {
  CREATE_POOL,
  CREDIT,
  DEPEG_RISK,
  DEPOSIT,
  MODEL_PRICING,
  PURCHASE,
  QUOTE,
  SUBMIT,
  USDC,
  asInput,
  depegRiskInput,
  expectCode,
  newWallet,
  signPush,
  useHarness,
  watchRisk,
  watchedRisk,
} from './helpers.ts';
import { rng } from './rng.ts';
import { distanceTableOf } from '../src/app/market-now.ts';
import { multiplierAt } from '../src/domain/market-distance.ts';
import { offerKey } from '../src/domain/offer-id.ts';

const rule = (r: Partial<TriggerRuleInput> = {}) =>
  normaliseTriggerRule({ threshold: '0.97', direction: 'BELOW', recoveryThreshold: '0.97', window: 86_400, payout: 'BINARY', ...r });
const capped = (r: Partial<TriggerRuleInput> = {}) => rule({ payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2', ...r });

/** What the model reads of a risk: its rule, its score from inputs, and its backing (unnamed: every class pooled). */
function riskOf(r: ReturnType<typeof rule>, inputs = shippedCoins()[0]?.inputs, backing?: Backing) {
  const score = computeRiskScore(inputs as NonNullable<typeof inputs>);
  return {
    kind: 'DEPEG' as const,
    rule: r,
    signals: [],
    scoreInputs: backing ? { backing } : {},
    scoreModel: score.model,
    modelScore: score.score,
    scoreOverride: null,
  };
}

/** The premium rate of a term (before the fee), per unit of cover, at zero utilisation. */
function rateOf(r: ReturnType<typeof rule>, series: Observation[], days: number, inputs?: Parameters<typeof riskOf>[1], backing?: Backing) {
  const model = buildLossModel(riskOf(r, inputs, backing), series, 0, defaultPricing.uncertaintyQuantile);
  const rate = riskRates(
    { durationDays: days, maxPayoutRatio: r.maxRatio, loss: lossTermsOf(model, days), capitalShare: UNPOOLED_CAPITAL_SHARE },
    defaultPricing,
  ).total.toNumber();
  return { rate, expectedLoss: model.curves.expectedLoss[days] as number, burning: model.burningCost[days] as number };
}

describe('the experience replay is the trigger engine, started on every day', () => {
  test('each start confirms what backtest() of the series from that start confirms', () => {
    const r = rng(7);
    for (let trial = 0; trial < 40; trial++) {
      const series: Observation[] = [];
      let v = 1;
      for (let d = 0; d < 60; d++) {
        v = Math.min(1.01, Math.max(0.8, v + (r() - 0.52) * 0.03));
        series.push({ at: d * DAY_MS, value: v.toFixed(4) });
      }
      const rl = rule({
        threshold: '0.97',
        recoveryThreshold: r() < 0.5 ? '0.97' : '0.99',
        window: [0, 86_400, 2 * 86_400][trial % 3] as number,
      });
      const starts = replayStarts(rl, series);
      series.forEach((o, s) => {
        const expected = backtest(rl, series.slice(s));
        const got = starts[s];
        if (expected.settlementValue === null) assert.equal(got, null, `start ${s}`);
        else {
          assert.equal(got?.triggeredAt, expected.triggeredAt, `start ${s}`);
          assert.equal(got?.ratio, Number(expected.payoutRatio));
        }
        assert.ok(o);
      });
    }
  });

  test("the daily series takes each feed's close and aggregates the feeds as the trigger does", () => {
    const day = 19_000 * DAY_MS;
    const series = dailyExperience(
      [
        {
          feedId: 'a',
          points: [
            { at: day + 1, value: '0.5' },
            { at: day + 2, value: '0.99' },
          ],
        },
        { feedId: 'b', points: [{ at: day + 5, value: '0.96' }] },
        { feedId: 'c', points: [{ at: day + DAY_MS, value: '1' }] },
      ],
      'BELOW',
    );
    // Day one: closes 0.99 and 0.96; an even count takes the middle value on the side of no trigger.
    assert.deepEqual(series, [
      { at: day, value: '0.99' },
      { at: day + DAY_MS, value: '1' },
    ]);
  });
});

describe('prices that price the contract (shipped data)', () => {
  const coins = shippedCoins();
  const named = (id: string) => coins.find((c) => c.id === id) as (typeof coins)[number];

  test('a binary cover costs at least 3x the same rule capped at 20%, on every coin and term', () => {
    for (const coin of coins) {
      for (const days of [30, 90, 365]) {
        const b = rateOf(rule(), coin.series, days, coin.inputs);
        const c = rateOf(capped(), coin.series, days, coin.inputs);
        assert.ok(b.rate >= 3 * c.rate, `${coin.id} ${days} d: binary ${b.rate} vs capped ${c.rate}`);
      }
    }
  });

  test('a tighter threshold or a shorter window never costs less', () => {
    for (const coin of coins) {
      const prices = ['0.9', '0.95', '0.97', '0.99', '0.995'].map(
        (t) => rateOf(rule({ threshold: t, recoveryThreshold: t }), coin.series, 90, coin.inputs).rate,
      );
      for (let i = 1; i < prices.length; i++)
        assert.ok((prices[i] as number) >= (prices[i - 1] as number) - 1e-12, `${coin.id}: ${prices}`);
      const windows = [7 * 86_400, 3 * 86_400, 86_400, 0].map((w) => rateOf(rule({ window: w }), coin.series, 90, coin.inputs).rate);
      for (let i = 1; i < windows.length; i++)
        assert.ok((windows[i] as number) >= (windows[i - 1] as number) - 1e-12, `${coin.id}: ${windows}`);
    }
  });

  test('a 30-day cover costs at least its pro-rata share of a year, and no price is below the burning cost', () => {
    for (const coin of coins) {
      for (const r of [rule(), capped(), capped({ threshold: '0.9', recoveryThreshold: '0.9', window: 7 * 86_400 })]) {
        const month = rateOf(r, coin.series, 30, coin.inputs);
        const year = rateOf(r, coin.series, 365, coin.inputs);
        assert.ok(month.rate >= (year.rate * 30) / 365 - 1e-12, `${coin.id}: ${month.rate} vs ${year.rate}`);
        for (const p of [month, year]) assert.ok(p.expectedLoss >= p.burning && p.rate >= p.burning, `${coin.id}: ${JSON.stringify(p)}`);
      }
    }
  });

  test('capped cover at 0.97/24 h on the large fiat-backed coins costs at most 3% a year with the fee; UST and USDN far more', () => {
    const withFee = (rate: number) => rate * (1 + defaultPricing.feeBps / 10_000);
    for (const id of ['usd-coin', 'tether', 'binance-usd', 'paxos-standard', 'true-usd']) {
      const { rate } = rateOf(capped(), named(id).series, 365, named(id).inputs);
      assert.ok(withFee(rate) <= 0.03, `${id}: ${withFee(rate)}`);
    }
    const ust = rateOf(capped(), named('terrausd').series, 365, named('terrausd').inputs).rate;
    assert.ok(ust > 3 * rateOf(capped(), named('usd-coin').series, 365, named('usd-coin').inputs).rate);
  });

  test('an algorithmic coin is priced from how such designs fail: its calm years never price it below its class, a collateralised coin the same calm history does', () => {
    // Two years at the peg, then a week of calm: nothing under the rule ever triggered.
    const calm: Observation[] = Array.from({ length: 730 }, (_, d) => ({ at: d * DAY_MS, value: '1.0000' }));
    const r = capped({ threshold: '0.9', recoveryThreshold: '0.9', window: 7 * 86_400 });
    const inputs = named('neutrino').inputs;
    const priorOnly = (backing: Backing) => rateOf(r, [], 365, inputs, backing).rate;
    const withCalm = (backing: Backing) => rateOf(r, calm, 365, inputs, backing).rate;
    assert.ok(withCalm('ALGORITHMIC') >= priorOnly('ALGORITHMIC') - 1e-12, `${withCalm('ALGORITHMIC')} < ${priorOnly('ALGORITHMIC')}`);
    assert.ok(withCalm('CRYPTO') < 0.9 * priorOnly('CRYPTO'), `${withCalm('CRYPTO')} against ${priorOnly('CRYPTO')}`);
  });

  test("an algorithmic coin is priced at least at its class's public record of runs, each paying what a run pays; the record as known at a date holds no later run and not the coin's own", () => {
    const record = parseRuns(
      'coin,symbol,launched,failed,note\n' +
        'a,A,2020-01-01,2020-07-01,ran\n' +
        'b,B,2020-01-01,,held\n' +
        'c,C,2021-01-01,2021-04-01,ran later\n',
    );
    const at = (d: string) => Date.parse(`${d}T00:00:00Z`);
    const before = runRecord(record, at('2021-01-01'));
    assert.equal(before.failures, 1, 'a run after the date is not known then, and a design launched after it not counted');
    assert.ok(Math.abs(before.coinYears - (182 + 366) / 365) < 1e-9, `${before.coinYears}`);
    assert.deepEqual(runRecord(record, at('2021-01-01'), new Set(['a'])), { failures: 0, coinYears: 366 / 365 });
    // The shipped record: runs of ESD, DSD, BAC and UST; USDN held to the price file's end.
    const shipped = classRuns('ALGORITHMIC');
    assert.ok(shipped && shipped.failures === 4 && shipped.coinYears > 4 && shipped.coinYears < 6, JSON.stringify(shipped));
    assert.equal(classRuns('ALGORITHMIC', Date.UTC(2022, 0, 1))?.failures, 3, "UST's run of May 2022 is not known on 1 January 2022");
    assert.equal(classRuns('FIAT'), null);
    assert.equal(classRuns(null), null);

    const usdn = named('neutrino');
    const binary = rule({ threshold: '0.9', recoveryThreshold: '0.9', window: 7 * 86_400 });
    const proportional = capped({ threshold: '0.9', recoveryThreshold: '0.9', window: 7 * 86_400 });
    const hazard = shipped.failures / shipped.coinYears;
    for (const [r, severity] of [
      [binary, 1],
      [proportional, 0.2],
    ] as const) {
      const model = buildLossModel(riskOf(r, usdn.inputs, 'ALGORITHMIC'), usdn.series, 0, defaultPricing.uncertaintyQuantile);
      assert.ok(model.posterior.priorHazard >= hazard - 1e-12, `${model.posterior.priorHazard} < ${hazard}`);
      // Its mean payout blends the cross-section's with a run's, weighted by their frequencies.
      const { priorSeverity } = model.posterior;
      assert.ok(priorSeverity <= severity + 1e-12 && priorSeverity >= Math.min(severity, model.prior.severity) - 1e-12, `${priorSeverity}`);
      const floor = priorSeverity * -Math.expm1((-hazard * 30) / 365);
      assert.ok((model.curves.expectedLoss[30] as number) >= floor - 1e-9, `${model.curves.expectedLoss[30]} < ${floor}`);
      // Named as nothing, the same coin is priced from the cross-section alone, far lower.
      const pooled = buildLossModel(riskOf(r, usdn.inputs), usdn.series, 0, defaultPricing.uncertaintyQuantile);
      assert.ok((pooled.curves.expectedLoss[30] as number) < floor / 2, `${pooled.curves.expectedLoss[30]}`);
    }
    // A rule no run reaches (a threshold below half the peg) or one confirming only after a month keeps its prior.
    const deep = rule({ threshold: '0.4', recoveryThreshold: '0.4', window: 86_400 });
    const slow = rule({ threshold: '0.9', recoveryThreshold: '0.9', window: 45 * 86_400 });
    for (const r of [deep, slow]) assert.equal(buildLossModel(riskOf(r, usdn.inputs, 'ALGORITHMIC'), [], 0, 0.75).prior.runs, undefined);
  });

  test('the tails by backing: clean fiat-backed binary 0.97/24 h under 10% a year with the fee, capped at most 3%; algorithmic and hybrid coins never below the pooled prior', () => {
    const withFee = (rate: number) => rate * (1 + defaultPricing.feeBps / 10_000);
    for (const id of ['usd-coin', 'tether', 'binance-usd', 'paxos-standard', 'true-usd', 'gemini-dollar']) {
      const coin = named(id);
      const fiat = rateOf(rule(), coin.series, 365, coin.inputs, 'FIAT').rate;
      const pooled = rateOf(rule(), coin.series, 365, coin.inputs).rate;
      assert.ok(withFee(fiat) < 0.1, `${id}: binary ${withFee(fiat)}`);
      assert.ok(fiat < pooled, `${id}: fiat ${fiat} against pooled ${pooled}`);
      assert.ok(withFee(rateOf(capped(), coin.series, 365, coin.inputs, 'FIAT').rate) <= 0.03, id);
    }
    for (const id of ['terrausd', 'neutrino', 'frax', 'celo-dollar']) {
      const coin = named(id);
      for (const r of [rule(), capped({ threshold: '0.9', recoveryThreshold: '0.9', window: 7 * 86_400 })]) {
        const pooled = rateOf(r, coin.series, 365, coin.inputs).rate;
        for (const backing of ['ALGORITHMIC', 'HYBRID'] as const) {
          assert.ok(rateOf(r, coin.series, 365, coin.inputs, backing).rate >= pooled - 1e-12, `${id} ${backing}`);
        }
      }
    }
  });

  test("a class's relativity is its observed over expected incidents with half an event of credibility", () => {
    const k = fitted.priorPseudoCount;
    const asset = (backing: Backing, hazard: number, incidents: number) => ({
      score: 0,
      backing,
      years: 2,
      hazard,
      severitySum: incidents * 0.1,
      incidents,
    });
    const assets = [asset('FIAT', 0, 0), asset('FIAT', 0, 0), asset('CRYPTO', 1, 2), asset('CRYPTO', 0.5, 1)];
    const pooled = fitPrior(assets, fitted, 0.2);
    const mu = Math.exp(pooled.intercept);
    const fiat = fitPrior(assets, fitted, 0.2, 'FIAT');
    assert.ok(Math.abs(fiat.relativity - k / (k + 4 * mu)) < 1e-12, `${fiat.relativity}`);
    assert.ok(Math.abs(fiat.intercept - (pooled.intercept + Math.log(fiat.relativity))) < 1e-12);
    assert.equal(fiat.severity, pooled.severity, 'no incidents of its own: the pooled severity');
    const crypto = fitPrior(assets, fitted, 0.2, 'CRYPTO');
    assert.ok(Math.abs(crypto.relativity - (k + 3) / (k + 4 * mu)) < 1e-12);
    assert.equal(fitPrior(assets, fitted, 0.2, 'COMMODITY').relativity, 1, 'a class with no coins is priced pooled');
    assert.equal(pooled.backing, null);
  });

  test('more clean history earns more credibility, and a lower price', () => {
    const usdc = named('usd-coin');
    const short = rateOf(capped(), usdc.series.slice(-90), 365, usdc.inputs);
    const long = rateOf(capped(), usdc.series, 365, usdc.inputs);
    assert.ok(long.rate < short.rate, `${long.rate} vs ${short.rate}`);
  });

  test('the gamma quantile inverts the incomplete gamma function', () => {
    for (const shape of [0.3, 1, 2.6, 10]) {
      for (const q of [0.5, 0.75, 0.95]) assert.ok(Math.abs(gammaP(shape, gammaQuantile(q, shape)) - q) < 1e-9);
    }
    // Exponential: P(1, x) = 1 - e^-x.
    assert.ok(Math.abs(gammaP(1, 2) - (1 - Math.exp(-2))) < 1e-12);
  });

  test('npm run calibrate --check: the committed fit and docs/pricing.md are what the shipped data gives', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/calibrate.ts', '--check'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Leave one asset out/);
  });
});

const IMPORT = `mutation($f: ID!, $s: String!, $o: [ObservationInput!]!) {
  importFeedHistory(feedId: $f, source: $s, observations: $o) { received added from to feed { id } } }`;
const ESTIMATE = `query($r: ID!, $amt: BigInt!, $d: Int!) { quoteEstimate(riskId: $r, amount: $amt, durationDays: $d) {
  premium total breakdown { expectedLoss model historyDays triggersSeen credibility meanSeverity burningCost uncertaintyLoad capitalLoad skimLoad utilisationMultiplier }
  lines { label value } } }`;

describe('smart-contract failure priced from DeFi exploit history (shipped data)', () => {
  const [blueChip, reference, young] = EXAMPLE_PROTOCOLS.map((p) => p.inputs) as [RiskScoreInputs, RiskScoreInputs, RiskScoreInputs];
  const [indemnity, , halfFall, paused] = EXAMPLE_RULES.map((r) => r.rule) as [
    TriggerRuleInput,
    TriggerRuleInput,
    TriggerRuleInput,
    TriggerRuleInput,
  ];
  const at = (valueUsd: number) => ({ ...exploitRates().amount, valueUsd });

  test('the prior reproduces the loss rate it is fitted on, over every training year: cover paying the share lost costs about the rate', () => {
    const r = exploitRates();
    assert.equal(r.fittedOn, '2020-2022');
    // Lending lost 0.91% of its value locked a year in 2020-22 (bridges out, key thefts in).
    assert.ok(Math.abs(r.byCategory.LENDING - 0.0091) < 0.0005, String(r.byCategory.LENDING));
    const sharesLost = { ...indemnity, threshold: '0.9999', recoveryThreshold: '0.99995' };
    const el = priorAnnualRate(sharesLost, 'LENDING', reference).expectedLoss;
    // A policy is paid once: 1 - exp(-lambda) of a frequency near 0.15 a year, a little under the rate.
    assert.ok(el > 0.85 * r.byCategory.LENDING && el <= r.byCategory.LENDING * 1.01, `${el} against ${r.byCategory.LENDING}`);
    // The years' spread, weighed by value locked, is the parameter uncertainty.
    assert.ok(r.dispersion > 1 && r.dispersion < 50, String(r.dispersion));
  });

  test('a blue-chip lending protocol pays at most 2.5% a year for indemnity-like cover; a young unaudited one far more', () => {
    const blue = priorAnnualRate(indemnity, 'LENDING', blueChip);
    assert.ok(blue.total <= 0.025 && blue.total > blue.expectedLoss, JSON.stringify(blue));
    const risky = priorAnnualRate(indemnity, 'LENDING', young);
    assert.ok(risky.total > 5 * blue.total, JSON.stringify({ risky, blue }));
    // The loads over the expected loss at the reference protocol: what a buyer comparing peers pays for the risk.
    const ref = priorAnnualRate(indemnity, 'LENDING', reference);
    assert.ok(ref.total / ref.expectedLoss < 2.2, JSON.stringify(ref));
  });

  test('severity falls with size: a full payout on a 50% fall, against indemnity-like cover, is far cheaper for a $5B protocol than for a $10M one', () => {
    const ratio = (valueSecuredUsd: bigint) => {
      const inputs = { ...reference, valueSecuredUsd };
      return priorAnnualRate(halfFall, 'LENDING', inputs).expectedLoss / priorAnnualRate(indemnity, 'LENDING', inputs).expectedLoss;
    };
    assert.ok(ratio(5_000_000_000n) <= 0.6 * ratio(10_000_000n), `${ratio(5_000_000_000n)} against ${ratio(10_000_000n)}`);
    // A deeper fall is rarer at every size, and a large protocol is exploited more often for a smaller share.
    const rule = (threshold: string) => normaliseTriggerRule({ ...indemnity, threshold, recoveryThreshold: '0.995', payout: 'BINARY' });
    for (const v of [1e7, 1e9, 1e10]) {
      assert.ok(exploitTrigger([rule('0.5')], at(v)).probability < exploitTrigger([rule('0.9')], at(v)).probability);
    }
    assert.ok(exploitTrigger([], at(1e10)).meanShare < exploitTrigger([], at(1e7)).meanShare);
  });

  test('every factor shown acts in its stated direction: audits, age, size, incidents, oracles, admin keys', () => {
    const price = (inputs: RiskScoreInputs) => priorAnnualRate(indemnity, 'LENDING', inputs).expectedLoss;
    const base = price(reference);
    assert.ok(price({ ...reference, audits: 0 }) > price({ ...reference, audits: 4 }) * 1.5, 'audits');
    assert.ok(price({ ...reference, daysLive: 30 }) > base, 'age');
    assert.ok(price({ ...reference, pastIncidents: 1 }) > base, 'incidents');
    assert.ok(price({ ...reference, oracleQuality: 'LOW' }) > base, 'oracles');
    assert.ok(price({ ...reference, centralisation: 'HIGH' }) > base, 'admin keys');
    for (const w of Object.values(CONTRACT_SCORE_WEIGHTS)) assert.ok(w > 0);
    assert.equal(contractScore(reference).model, 'scf-2026.12');
  });

  test('a paused flag is priced from how often exploits happen: every exploit at its payout', () => {
    const effect = exploitTrigger([normaliseTriggerRule(paused)], at(1e9));
    assert.equal(effect.probability, 1);
    assert.equal(effect.meanPayout, 1);
    const rate = priorAnnualRate(paused, 'LENDING', reference);
    // The reference protocol's frequency: its loss rate over the mean share one exploit takes.
    assert.ok(
      Math.abs(rate.frequency * effect.meanShare - exploitRates().byCategory.LENDING) < 1e-3 * rate.frequency,
      JSON.stringify(rate),
    );
    assert.ok(priorAnnualRate(paused, 'LENDING', blueChip).expectedLoss < rate.expectedLoss);
  });

  test('a risk on several signals triggers when any does, at the larger payout: never cheaper than one of its rules', () => {
    const fall = (threshold: string, payout: 'BINARY' | 'PROPORTIONAL') =>
      normaliseTriggerRule({ threshold, direction: 'BELOW', recoveryThreshold: '0.99', window: 60, payout, peg: '1', maxRatio: '1' });
    const half = exploitTrigger([fall('0.5', 'BINARY')], at(1e8));
    const tenth = exploitTrigger([fall('0.9', 'PROPORTIONAL')], at(1e8));
    const both = exploitTrigger([fall('0.5', 'BINARY'), fall('0.9', 'PROPORTIONAL')], at(1e8));
    // Any exploit taking 10% triggers the second; those taking half pay the whole cover under the first.
    assert.ok(Math.abs(both.probability - tenth.probability) < 1e-12, JSON.stringify({ both, tenth }));
    const cost = (t: { probability: number; meanPayout: number }) => t.probability * t.meanPayout;
    assert.ok(cost(both) > cost(half) && cost(both) > cost(tenth), JSON.stringify({ both, half, tenth }));
    assert.equal(exploitTrigger([fall('0.5', 'BINARY'), normaliseTriggerRule(paused)], at(1e8)).probability, 1);
  });

  test('capital on what the pool needs: a cover in a diversified book holds far less than alone, never more than the unpooled share', () => {
    const rule = normaliseTriggerRule(indemnity);
    const prior = exploitPrior([rule], 'LENDING', reference, exploitRates(), fitted);
    assert.ok(prior.severitySpread !== undefined && prior.severitySpread > 0);
    const p = { hazard: 0.15, severity: prior.severity, shape: 10, rate: 10 / 0.15 };
    // Two of the 112 exploits shared a cause with another protocol's (Agave and Hundred Finance, one day, one bug).
    const common = exploitRates().commonCause;
    assert.ok(Math.abs(common - 2 / 112) < 1e-9, String(common));
    const diversified = diversifiedCapital(p, prior, 1, common);
    // Concentration costs: covers that fail together hold more.
    assert.ok(diversifiedCapital(p, prior, 1, 0.5) > 2 * diversified);
    const alone = simulateAlone(p, prior);
    assert.ok(diversified < 0.5 * alone, JSON.stringify({ diversified, alone }));
    assert.ok(capitalShare({ capital: { risks: {}, book: null } }, 'r', diversified) === Math.min(0.2, diversified));
    assert.equal(capitalShare({ capital: { risks: { r: '0.3' }, book: null } }, 'r', diversified), 0.3);
  });

  test('no category is priced as safer than the market on the strength of a few exploits (credibility, issue 72)', () => {
    const r = exploitRates();
    for (const c of PROTOCOL_CATEGORIES) {
      const z = r.credibility[c];
      assert.ok(z >= 0 && z <= 1, `${c}: ${z}`);
      assert.ok(r.byCategory[c] >= r.observed[c], c);
      assert.ok(r.byCategory[c] >= z * r.observed[c] + (1 - z) * r.pooled - 1e-15, c);
    }
    // Decentralised exchanges: 15 exploits that looked 3.4 times safer than the pooled rate.
    assert.ok(r.observed.DEX < r.pooled / 3);
    assert.ok(r.byCategory.DEX >= 0.9 * r.pooled, `${r.byCategory.DEX} against ${r.pooled}`);
    // A category that lost more than the market keeps its own rate.
    assert.equal(r.byCategory.YIELD, r.observed.YIELD);
  });

  test('validated by time split, as docs/pricing.md shows: fitted on 2020-21, 2022 realised below the prior pooled, with an interval', () => {
    const { exploits, tvl } = shippedExploits();
    const held = fitExploitRates(exploits, tvl, [2022]);
    const early = fitExploitRates(exploits, tvl, [2020, 2021]);
    assert.ok(held.pooled < early.pooled, `${held.pooled} against ${early.pooled}`);
    const pooled = exploitValidation().rows.at(-1);
    assert.ok(pooled && pooled.interval[0] < pooled.actualOverExpected && pooled.actualOverExpected < pooled.interval[1]);
    assert.ok(pooled.lossOverPremium > 0 && pooled.lossOverPremium < pooled.actualOverExpected);
  });
});

/** One cover's own ES 99% per unit of exposure, the way the pool's run simulates it. */
function simulateAlone(p: { hazard: number; severity: number; shape: number; rate: number }, prior: { severitySpread?: number }) {
  return simulateLosses(
    [
      {
        exposure: 1,
        probability: -Math.expm1(-p.hazard),
        severity: p.severity,
        ...(prior.severitySpread === undefined ? {} : { severitySpread: prior.severitySpread }),
        group: 'g',
        frequency: { shape: p.shape, rate: p.rate },
      },
    ],
    { paths: 20_000, seed: 1, withinGroup: 0, acrossGroups: 0, capital: Number.MAX_SAFE_INTEGER, backstopAvailable: 0 },
  ).es99;
}

/** A contract risk's reference profile (docs/pricing.md): two audits, 18 months live, 1bn secured. */
const profile = {
  audits: 2,
  daysLive: 548,
  valueSecuredUsd: '1000000000',
  pastIncidents: 0,
  oracleQuality: 'HIGH',
  centralisation: 'MEDIUM',
};

describe('history as data, and quotes from it (API)', () => {
  const h = useHarness({ pricing: MODEL_PRICING }, { checkInvariants: true });

  /**
   * A watched risk (`rule` over the helpers' default) in a funded pool (1,000,000 USDC, or
   * `pool`'s capital and caps), its one PUSH feed carrying `values`, one a day to yesterday.
   */
  async function marketOn(
    values: readonly string[],
    rule: Record<string, unknown> = {},
    pool: { capital?: bigint; capBps?: number } = {},
    input: Record<string, unknown> = {},
  ) {
    const adminToken = await h.signIn(h.admin);
    const base = depegRiskInput(`risk ${newWallet().address.slice(2, 10)}`, `G${newWallet().address.slice(2, 10)}`);
    const risk = await watchedRisk(h, adminToken, { ...base, ...input, rule: { ...base.rule, ...rule } });
    const uw = newWallet();
    const uwToken = await h.signIn(uw);
    const caps = pool.capBps ? { groupCapBps: pool.capBps, totalCapBps: pool.capBps } : {};
    const created = (
      await h.ok(
        CREATE_POOL,
        { input: { name: 'p', risks: [{ riskId: risk.id, ...(pool.capBps ? { capBps: pool.capBps } : {}) }], ...caps } },
        uwToken,
      )
    ).createPool;
    const capital = pool.capital ?? USDC(1_000_000);
    await h.ok(CREDIT, { a: uw.address, amt: capital.toString(), r: `seed-${created.id}` }, adminToken);
    await h.ok(DEPOSIT, { p: created.id, amt: capital.toString() }, uwToken);
    const feedId = (await h.ok(`query($r: ID!) { risk(id: $r) { feeds { id } } }`, { r: risk.id })).risk.feeds[0].id;
    const today = Math.floor(h.clock.now() / DAY_MS) * DAY_MS;
    const observations = values.map((value, i) => ({ value, observedAt: new Date(today - (values.length - i) * DAY_MS).toISOString() }));
    const imported =
      values.length > 0 ? (await h.ok(IMPORT, { f: feedId, s: 'test', o: observations }, adminToken)).importFeedHistory : null;
    return { adminToken, risk, feedId, imported };
  }

  test('smart-contract cover as the API quotes it: a blue chip pays what peers charge, severity falls with size, audits act', async () => {
    const indemnity = { ...INDEMNITY_RULE };
    const halfFall = {
      threshold: '0.5',
      direction: 'BELOW',
      recoveryThreshold: '0.9',
      window: 3_600,
      payout: 'BINARY',
      peg: '1',
      maxRatio: '1',
    };
    const buyer = await h.signIn(newWallet());
    const amount = USDC(10_000);
    /** A one-year cover's total (with the fee) over its amount, in a fresh pool of 1,000,000. */
    const annual = async (rule: Record<string, unknown>, score: Record<string, unknown>, category = 'LENDING') => {
      const m = await marketOn(
        [],
        rule,
        {},
        { kind: 'SMART_CONTRACT_FAILURE', protocolCategory: category, score: { ...profile, ...score } },
      );
      const q = (await h.ok(ESTIMATE, { r: m.risk.id, amt: amount.toString(), d: 365 }, buyer)).quoteEstimate;
      return { rate: Number(q.total) / Number(amount), expectedLoss: Number(q.breakdown.expectedLoss) };
    };
    const blueChip = await annual(indemnity, { audits: 6, daysLive: 1_825, valueSecuredUsd: '10000000000', centralisation: 'LOW' });
    assert.ok(blueChip.rate <= 0.025, JSON.stringify(blueChip));
    const unaudited = await annual(indemnity, { audits: 0 });
    const fourAudits = await annual(indemnity, { audits: 4 });
    assert.ok(unaudited.rate > fourAudits.rate, JSON.stringify({ unaudited, fourAudits }));
    const relative = async (valueSecuredUsd: string) =>
      (await annual(halfFall, { valueSecuredUsd })).rate / (await annual(indemnity, { valueSecuredUsd })).rate;
    const [large, small] = [await relative('5000000000'), await relative('10000000')];
    assert.ok(large <= 0.6 * small, JSON.stringify({ large, small }));
    // The reference protocol's premium stays within a small multiple of its expected loss (loads a buyer comparing peers accepts).
    const reference = await annual(indemnity, {});
    assert.ok(reference.rate < 2.5 * reference.expectedLoss, JSON.stringify(reference));
  });

  test('a bundle costs less than its items apart over independent risks, about the same over risks that fail together, never less than their expected losses', async () => {
    const contract = (correlationGroup: string, protocolCategory: string) => ({
      kind: 'SMART_CONTRACT_FAILURE',
      protocolCategory,
      correlationGroup,
      score: profile,
    });
    const a = (await marketOn([], { ...INDEMNITY_RULE }, {}, contract('GA', 'LENDING'))).risk.id;
    const b = (await marketOn([], { ...INDEMNITY_RULE }, {}, contract('GB', 'DEX'))).risk.id;
    const c = (await marketOn([], { ...INDEMNITY_RULE }, {}, contract('GA', 'LENDING'))).risk.id;
    const buyer = await h.signIn(newWallet());
    const amount = USDC(100_000);
    const SINGLE = `mutation($r: ID!, $amt: BigInt!) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: 365) { total breakdown { expectedLoss } } }`;
    const apart = async (r: string) => (await h.ok(SINGLE, { r, amt: amount.toString() }, buyer)).quote;
    const BUNDLE = `mutation($i: [CoverItemInput!]!, $d: Int!) { q: requestBundleQuote(items: $i, durationDays: $d) {
      id amount premium fee total summary breakdown { capitalTogether expectedLoss poolSelection }
      allocations { risk { id } amount premium } } }`;
    const together = async (x: string, y: string) =>
      (
        await h.ok(
          BUNDLE,
          {
            i: [
              { riskId: x, amount: amount.toString() },
              { riskId: y, amount: amount.toString() },
            ],
            d: 365,
          },
          buyer,
        )
      ).q;
    const [qa, qb, qc] = [await apart(a), await apart(b), await apart(c)];
    const [independent, correlated] = [await together(a, b), await together(a, c)];
    const sum = (...qs: Array<{ total: string }>) => qs.reduce((t, q) => t + BigInt(q.total), 0n);
    // Items priced as their own quotes would be, their capital scaled by what they hold together.
    assert.deepEqual(
      independent.allocations.map((x: { risk: { id: string }; amount: string }) => [x.risk.id, x.amount]),
      [
        [a, amount.toString()],
        [b, amount.toString()],
      ],
    );
    assert.equal(independent.amount, (2n * amount).toString());
    const [fi, fc] = [Number(independent.breakdown.capitalTogether), Number(correlated.breakdown.capitalTogether)];
    assert.ok(fi > 0 && fi < fc && fc <= 1, JSON.stringify({ fi, fc }));
    assert.ok(fi < 0.8, `independent risks rarely fail in the same year: ${fi}`);
    assert.ok(BigInt(independent.total) < sum(qa, qb), `${independent.total} against ${sum(qa, qb)} apart`);
    assert.ok(BigInt(correlated.total) <= sum(qa, qc), `${correlated.total} against ${sum(qa, qc)} apart`);
    assert.ok(BigInt(correlated.total) > BigInt(independent.total) - (BigInt(qb.total) - BigInt(qc.total)));
    // Never below the items' expected losses: the premium covers each item's expected loss over the term.
    const expected = (q: { breakdown: { expectedLoss: string } }) => (Number(q.breakdown.expectedLoss) * Number(amount)) | 0;
    assert.ok(Number(independent.premium) >= expected(qa) + expected(qb), JSON.stringify({ independent, qa, qb }));
    assert.match(independent.breakdown.poolSelection, /a bundle of 2 risks/);
    // Refused: one risk, a risk twice.
    const one = await h.gql(BUNDLE, { i: [{ riskId: a, amount: amount.toString() }], d: 365 }, buyer);
    expectCode(one, 'BAD_USER_INPUT');
    const twice = await h.gql(
      BUNDLE,
      {
        i: [
          { riskId: a, amount: amount.toString() },
          { riskId: a, amount: '1' },
        ],
        d: 365,
      },
      buyer,
    );
    expectCode(twice, 'BAD_USER_INPUT');
  });

  test('an admin imports history; a re-import adds nothing; bad input is refused whole with nothing written', async () => {
    const m = await marketOn(['1', '0.999', '1.001']);
    assert.equal(m.imported?.received, 3);
    assert.equal(m.imported?.added, 3);
    const day = (n: number) => new Date(Math.floor(h.clock.now() / DAY_MS) * DAY_MS - n * DAY_MS).toISOString();
    const again = (await h.ok(IMPORT, { f: m.feedId, s: 'test', o: [{ value: '1', observedAt: day(3) }] }, m.adminToken)).importFeedHistory;
    assert.equal(again.added, 0);
    const before = (await h.ok(`query($r: ID!) { risk(id: $r) { history { days } } }`, { r: m.risk.id })).risk.history.days;
    const bad = [
      [
        { value: '1', observedAt: day(10) },
        { value: '1', observedAt: day(10) },
      ],
      [
        { value: '1', observedAt: day(10) },
        { value: '0', observedAt: day(9) },
      ],
      [
        { value: '1', observedAt: day(10) },
        { value: '-1', observedAt: day(9) },
      ],
      [
        { value: '1', observedAt: day(10) },
        { value: '1', observedAt: new Date(h.clock.now() + 3_600_000).toISOString() },
      ],
      [
        { value: '1', observedAt: day(10) },
        { value: 'abc', observedAt: day(9) },
      ],
    ];
    for (const o of bad) expectCode(await h.gql(IMPORT, { f: m.feedId, s: 'test', o }, m.adminToken), 'BAD_USER_INPUT');
    const stranger = await h.signIn(newWallet());
    expectCode(await h.gql(IMPORT, { f: m.feedId, s: 'test', o: [{ value: '1', observedAt: day(20) }] }, stranger), 'FORBIDDEN');
    expectCode(await h.gql(IMPORT, { f: 'feed_none', s: 'test', o: [{ value: '1', observedAt: day(20) }] }, m.adminToken), 'NOT_FOUND');
    const after = (await h.ok(`query($r: ID!) { risk(id: $r) { history { days } } }`, { r: m.risk.id })).risk.history.days;
    assert.equal(after, before, 'nothing written by a refused import');
  });

  test("50,000 points in one call, shown as the risk's daily history with its sources, a page at a time", async () => {
    const m = await marketOn([]);
    const feedId = m.feedId;
    const start = Math.floor(h.clock.now() / DAY_MS) * DAY_MS - 500 * DAY_MS;
    const observations = Array.from({ length: 50_000 }, (_, i) => ({
      value: (1 + ((i % 7) - 3) / 10_000).toFixed(6),
      observedAt: new Date(start + i * 864_000).toISOString(),
    }));
    const imported = (await h.ok(IMPORT, { f: feedId, s: 'hourly-ish fixture', o: observations }, m.adminToken)).importFeedHistory;
    assert.equal(imported.added, 50_000);
    const history = (
      await h.ok(
        `query($r: ID!, $a: String) { risk(id: $r) { history(first: 100, after: $a) {
        nodes { at value } pageInfo { hasNextPage endCursor } sources { feedId source points from to } from to days } } }`,
        {
          r: m.risk.id,
        },
      )
    ).risk.history;
    assert.equal(history.days, 500);
    assert.equal(history.nodes.length, 100);
    assert.equal(history.pageInfo.hasNextPage, true);
    assert.ok(history.sources.some((s: { source: string; points: number }) => s.source === 'hourly-ish fixture' && s.points === 50_000));
    assert.ok(
      history.sources.some((s: { source: string }) => s.source === 'live'),
      "the watcher's observations join the history",
    );
    const next = (
      await h.ok(`query($r: ID!, $a: String) { risk(id: $r) { history(first: 100, after: $a) { nodes { at } } } }`, {
        r: m.risk.id,
        a: history.pageInfo.endCursor,
      })
    ).risk.history;
    assert.ok(Date.parse(next.nodes[0].at) > Date.parse(history.nodes.at(-1).at));
  });

  test('a quote explains its expected loss from the history; a history of depegs costs more than a calm one', async () => {
    const calm = Array.from({ length: 400 }, () => '1');
    const stormy = Array.from({ length: 400 }, (_, i) => (i % 60 < 4 ? '0.95' : '1'));
    const rule = { threshold: '0.97', recoveryThreshold: '0.97', payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' };
    const a = await marketOn(calm, rule);
    const b = await marketOn(stormy, rule);
    const buyer = await h.signIn(newWallet());
    const qa = (await h.ok(ESTIMATE, { r: a.risk.id, amt: USDC(1_000).toString(), d: 90 }, buyer)).quoteEstimate;
    const qb = (await h.ok(ESTIMATE, { r: b.risk.id, amt: USDC(1_000).toString(), d: 90 }, buyer)).quoteEstimate;
    assert.equal(qa.breakdown.historyDays, 400);
    assert.equal(qa.breakdown.triggersSeen, 0);
    assert.ok(qb.breakdown.triggersSeen >= 6, JSON.stringify(qb.breakdown));
    assert.ok(Number(qb.breakdown.expectedLoss) > Number(qa.breakdown.expectedLoss));
    assert.ok(Number(qb.breakdown.expectedLoss) >= Number(qb.breakdown.burningCost));
    assert.ok(BigInt(qb.premium) > BigInt(qa.premium));
    assert.match(qa.breakdown.model, /^el-/);
    assert.ok(qa.lines.some((l: { label: string }) => l.label.startsWith('Credibility of the history')));
    const pricing = (
      await h.ok(
        `query($r: ID!) { risk(id: $r) { pricing { model historyDays annualExpectedLoss annualRate credibility lines { label value } } } }`,
        {
          r: b.risk.id,
        },
      )
    ).risk.pricing;
    assert.equal(pricing.historyDays, 400);
    assert.ok(Number(pricing.annualRate) > Number(pricing.annualExpectedLoss));
  });

  test("a firm quote stores the model's terms once, by reference, and reads back as it was priced", async () => {
    const m = await marketOn(
      Array.from({ length: 200 }, (_, i) => (i % 50 === 0 ? '0.96' : '1')),
      { threshold: '0.97', recoveryThreshold: '0.97' },
    );
    const buyer = await h.signIn(newWallet());
    const FIRM = `mutation($r: ID!, $amt: BigInt!, $d: Int!) { requestQuote(riskId: $r, amount: $amt, durationDays: $d) {
      id premium summary breakdown { model historyDays triggersSeen credibility annualFrequency meanSeverity burningCost expectedLoss } } }`;
    const priced = [];
    for (const amount of [1_000, 2_000, 3_000])
      priced.push((await h.ok(FIRM, { r: m.risk.id, amt: USDC(amount).toString(), d: 60 }, buyer)).requestQuote);
    await h.deps.quotePaths.settled(); // written just behind the answers
    const stored = await h.db.query<{ breakdown: Record<string, unknown> }>(
      sql`SELECT breakdown FROM quotes WHERE id IN (${sql.join(
        priced.map((q) => sql`${offerKey(q.id)}`),
        sql`, `,
      )})`,
    );
    const ids = new Set(stored.map((r) => r.breakdown.explanationId));
    assert.equal(ids.size, 1, 'three quotes of one model and term name one explanation');
    for (const r of stored) assert.equal(r.breakdown.credibility, undefined, "the model's terms are not copied into each quote");
    const [row] = await h.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM model_explanations WHERE id = ${[...ids][0]}`);
    assert.equal(row?.n, 1);
    const read = (
      await h.ok(
        `{ quotes(first: 10) { nodes { id premium summary breakdown { model historyDays triggersSeen credibility annualFrequency meanSeverity burningCost expectedLoss } } } }`,
        {},
        buyer,
      )
    ).quotes.nodes;
    for (const q of priced) {
      assert.deepEqual(
        read.find((r: { id: string }) => r.id === q.id),
        { id: q.id, premium: q.premium, summary: q.summary, breakdown: q.breakdown },
      );
    }
    assert.match(priced[0].breakdown.model, /^el-/);
    assert.equal(priced[0].breakdown.historyDays, 200);

    // Kept while a quote names it, however old; gone once no quote does (maintenance).
    const explanationId = [...ids][0] as string;
    const count = async () =>
      (await h.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM model_explanations WHERE id = ${explanationId}`))[0]?.n;
    await deleteStaleExplanations(h.db, h.clock.now() + 10 * DAY_MS);
    assert.equal(await count(), 1, 'named by quotes: kept');
    h.clock.advance(3 * DAY_MS);
    await runMaintenance(h.deps);
    assert.equal(
      (await h.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM quotes WHERE breakdown->>'explanationId' = ${explanationId}`))[0]
        ?.n,
      0,
      'the unbought quotes expired and were dropped',
    );
    assert.equal(await count(), 0, 'no quote names it and it was not used for a day: dropped');
  });

  test("a depeg names its backing: a fiat-backed coin's binary cover costs less than the pooled prior, an algorithmic one's no less, and the quote says why", async () => {
    const calm = Array.from({ length: 400 }, () => '1');
    const binary = { threshold: '0.97', recoveryThreshold: '0.97', payout: 'BINARY' };
    const [pooled, fiat, algorithmic] = await Promise.all([
      marketOn(calm, binary),
      marketOn(calm, binary, {}, { backing: 'FIAT' }),
      marketOn(calm, binary, {}, { backing: 'ALGORITHMIC' }),
    ]);
    const buyer = await h.signIn(newWallet());
    const estimate = async (m: typeof pooled) =>
      (
        await h.ok(
          `query($r: ID!, $amt: BigInt!) { quoteEstimate(riskId: $r, amount: $amt, durationDays: 30) {
            premium breakdown { backing backingRelativity runAnnualFrequency priorAnnualFrequency } lines { label value } } }`,
          { r: m.risk.id, amt: USDC(10_000).toString() },
          buyer,
        )
      ).quoteEstimate;
    const [p, f, a] = [await estimate(pooled), await estimate(fiat), await estimate(algorithmic)];
    assert.equal(p.breakdown.backing, null);
    assert.equal(p.breakdown.backingRelativity, '1');
    assert.equal(f.breakdown.backing, 'FIAT');
    assert.ok(Number(f.breakdown.backingRelativity) < 0.5, f.breakdown.backingRelativity);
    assert.ok(BigInt(f.premium) < BigInt(p.premium) && BigInt(a.premium) >= BigInt(p.premium), `${f.premium} ${p.premium} ${a.premium}`);
    assert.ok(f.lines.some((l: { label: string }) => l.label.startsWith('Backing fiat')));
    // An algorithmic coin's prior is at least its class's record of runs, and the quote says so.
    assert.equal(f.breakdown.runAnnualFrequency, null);
    const runs = classRuns('ALGORITHMIC');
    assert.ok(
      runs && Math.abs(Number(a.breakdown.runAnnualFrequency) - runs.failures / runs.coinYears) < 1e-4,
      a.breakdown.runAnnualFrequency,
    );
    assert.ok(Number(a.breakdown.priorAnnualFrequency) >= Number(a.breakdown.runAnnualFrequency));
    assert.ok(a.lines.some((l: { label: string; value: string }) => /fail by a run/.test(l.label) && l.value.startsWith('4, ')));
    const shown = (await h.ok(`query($r: ID!) { risk(id: $r) { backing pricing { backing backingRelativity } } }`, { r: fiat.risk.id }))
      .risk;
    assert.deepEqual(shown, { backing: 'FIAT', pricing: { backing: 'FIAT', backingRelativity: f.breakdown.backingRelativity } });
    const admin = await h.signIn(h.admin);
    const contract = { ...depegRiskInput('vault', 'V'), kind: 'SMART_CONTRACT_FAILURE', backing: 'FIAT' };
    contract.rule = { ...contract.rule, window: 3_600 };
    expectCode(await h.gql(DEPEG_RISK, { input: contract }, admin), 'BAD_USER_INPUT');
    // A smart-contract failure names its category; a bridge is declined: no data prices it.
    const { backing: _, ...uncategorised } = contract;
    expectCode(await h.gql(DEPEG_RISK, { input: uncategorised }, admin), 'BAD_USER_INPUT');
    const bridge = await h.gql(DEPEG_RISK, { input: { ...uncategorised, protocolCategory: 'BRIDGE' } }, admin);
    expectCode(bridge, 'RISK_DECLINED');
    assert.match(JSON.stringify(bridge.errors), /bridge cover is not sold/);
  });

  test("an algorithmic coin that closed beyond a rule's threshold within the year is not covered under it (RUN_TESTED) until the year has passed; the same history of a fiat-backed coin, or a dip over a year ago, is sold", async () => {
    // 400 daily closes at the peg, one of them at 0.95: 100 days ago, or 380.
    const dipped = (daysAgo: number) => Array.from({ length: 400 }, (_, i) => (i === 400 - daysAgo ? '0.95' : '1'));
    // Trading at the peg now (a recovery at 0.99 puts the harness's calm value above it): far from the threshold.
    const binary = { threshold: '0.97', recoveryThreshold: '0.99', payout: 'BINARY' };
    const [tested, fiat, longAgo, shallow] = await Promise.all([
      marketOn(dipped(100), binary, {}, { backing: 'ALGORITHMIC' }),
      marketOn(dipped(100), binary, {}, { backing: 'FIAT' }),
      marketOn(dipped(380), binary, {}, { backing: 'ALGORITHMIC' }),
      // A rule whose threshold the dip did not reach.
      marketOn(dipped(100), { ...binary, threshold: '0.9' }, {}, { backing: 'ALGORITHMIC' }),
    ]);
    const buyer = await h.signIn(newWallet());
    const estimate = (m: typeof tested) => h.gql(ESTIMATE, { r: m.risk.id, amt: USDC(10_000).toString(), d: 30 }, buyer);
    const refused = await estimate(tested);
    const e = refused.errors?.[0]?.extensions as { code: string; details: Record<string, string> };
    assert.deepEqual([e.code, e.details.reason, e.details.value, e.details.threshold], ['RISK_DECLINED', 'RUN_TESTED', '0.95', '0.97']);
    const testedAt = Date.parse(e.details.testedAt as string);
    const today = Math.floor(h.clock.now() / DAY_MS) * DAY_MS;
    assert.equal(testedAt, today - 100 * DAY_MS);
    assert.equal(Date.parse(e.details.reopensAt as string), testedAt + 366 * DAY_MS);
    assert.match(refused.errors?.[0]?.message ?? '', /closed at 0\.95 on .* not covered under it until a year has passed/);
    // Nothing is bought around it: a firm quote is refused alike, and the capacity view says why.
    expectCode(await h.gql(QUOTE, { r: tested.risk.id, amt: USDC(10_000).toString(), d: 30 }, buyer), 'RISK_DECLINED');
    const capacity = (
      await h.ok(`query($r: ID!) { capacity(riskId: $r, durationDays: 30) { salesOpen reason } }`, { r: tested.risk.id }, buyer)
    ).capacity;
    assert.equal(capacity.salesOpen, false);
    assert.match(capacity.reason, /pushed through its threshold/);
    for (const sold of [fiat, longAgo, shallow]) {
      const body = await estimate(sold);
      assert.ok(body.data?.quoteEstimate, JSON.stringify(body.errors));
    }
  });

  test('history as observed: a gap is no experience, a date before any stablecoin is refused, an import never replaces a day the watcher saw, and the next quote prices the new history', async () => {
    let buyer = await h.signIn(newWallet());
    const estimate = async (riskId: string) =>
      (await h.ok(ESTIMATE, { r: riskId, amt: USDC(10_000).toString(), d: 30 }, buyer)).quoteEstimate;
    // Two points a decade apart are two days observed: credibility of two days, the price as without history.
    const bare = await marketOn([]);
    const none = await estimate(bare.risk.id);
    const today = Math.floor(h.clock.now() / DAY_MS) * DAY_MS;
    const two = [
      { value: '1', observedAt: new Date(Date.UTC(2015, 0, 1)).toISOString() },
      { value: '1', observedAt: new Date(today - DAY_MS).toISOString() },
    ];
    expectCode(
      await h.gql(
        IMPORT,
        { f: bare.feedId, s: 'sparse', o: [{ value: '1', observedAt: '1900-01-01T00:00:00Z' }, ...two] },
        bare.adminToken,
      ),
      'BAD_USER_INPUT',
    );
    assert.equal((await h.ok(IMPORT, { f: bare.feedId, s: 'sparse', o: two }, bare.adminToken)).importFeedHistory.added, 2);
    const sparse = await estimate(bare.risk.id);
    assert.equal(sparse.breakdown.historyDays, 2, 'two days observed, not the span');
    const moved = Math.abs(Number(sparse.premium) / Number(none.premium) - 1);
    assert.ok(moved <= 0.1, `two imported points moved the price by ${(100 * moved).toFixed(1)}%`);
    // The watcher saw a day at 1.0 (watchRisk's reading); an import at 23:59:59 of that day
    // saying 0.5 is not stored, and is not its close.
    const watched = await marketOn(Array.from({ length: 40 }, () => '1'));
    const liveDay = Math.floor((h.clock.now() - 1_000) / DAY_MS) * DAY_MS;
    h.clock.advance(DAY_MS);
    await watchRisk(h, watched.risk.id);
    // A day on: new sessions.
    buyer = await h.signIn(newWallet());
    watched.adminToken = await h.signIn(h.admin);
    const calm = await estimate(watched.risk.id);
    const late = { value: '0.5', observedAt: new Date(liveDay + DAY_MS - 1_000).toISOString() };
    assert.equal((await h.ok(IMPORT, { f: watched.feedId, s: 'late', o: [late] }, watched.adminToken)).importFeedHistory.added, 0);
    const unchanged = await estimate(watched.risk.id);
    assert.equal(unchanged.breakdown.triggersSeen, 0);
    assert.equal(unchanged.premium, calm.premium);

    // A history of depegs imported after a quote: the very next quote prices it.
    const stormy = Array.from({ length: 200 }, (_, i) => ({
      value: i === 100 || i === 101 ? '0.99' : '1',
      observedAt: new Date(liveDay - (300 - i) * DAY_MS).toISOString(),
    }));
    await h.ok(IMPORT, { f: watched.feedId, s: 'storm', o: stormy }, watched.adminToken);
    const after = await estimate(watched.risk.id);
    assert.ok(after.breakdown.triggersSeen > 0, JSON.stringify(after.breakdown));
    assert.ok(BigInt(after.premium) > BigInt(calm.premium), `${after.premium} after the storm, ${calm.premium} before`);
  });

  test("capital as a common shock: a cover's capital load is its risk's share of the pool's simulated ES 99%, shown in the adequacy and the quote", async () => {
    const m = await marketOn(
      Array.from({ length: 60 }, () => '1'),
      {},
      { capital: USDC(100_000) },
      { backing: 'CRYPTO', dependsOn: ['USDC', 'USDC', ' ETH '] },
    );
    assert.deepEqual((await h.ok(`query($r: ID!) { risk(id: $r) { dependsOn } }`, { r: m.risk.id })).risk.dependsOn, ['USDC', 'ETH']);
    const buyer = newWallet();
    const token = await h.signIn(buyer);
    await h.ok(CREDIT, { a: buyer.address, amt: USDC(10_000).toString(), r: `fund-${buyer.address}` }, m.adminToken);
    const SHARE = `query($r: ID!, $amt: BigInt!) { quoteEstimate(riskId: $r, amount: $amt, durationDays: 30) {
      breakdown { capitalShare capitalLoad expectedLoss } lines { label value } } }`;
    // An empty book: what a book diversified across groups holds.
    const first = (await h.ok(SHARE, { r: m.risk.id, amt: USDC(1_000).toString() }, token)).quoteEstimate;
    assert.equal(first.breakdown.capitalShare, '0.2');
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(20_000).toString(), d: 30 }, token)).quote;
    await h.ok(PURCHASE, { q: q.id }, token);
    const poolId = q.pool.id;
    const adequacy = (
      await h.ok(
        `query($p: ID!) { adequacy(poolId: $p) { bookCapitalShare capitalShares { risk { id } exposure es99Contribution share }
          atCaps { totalExposure capitalShares { risk { id } exposure share } }
          simulation { es99 tailDependenceWithinGroup tailDependenceAcrossGroups parameterRisk } } }`,
        { p: poolId },
      )
    ).adequacy;
    assert.equal(adequacy.simulation.tailDependenceWithinGroup, 0.8);
    assert.equal(adequacy.simulation.parameterRisk, true);
    assert.equal(adequacy.capitalShares.length, 1);
    const [own] = adequacy.capitalShares;
    assert.equal(own.risk.id, m.risk.id);
    const gap = BigInt(own.es99Contribution) - BigInt(adequacy.simulation.es99);
    assert.ok(gap >= -1n && gap <= 1n, 'one risk holds the whole of ES 99% (to the base unit each is rounded to)');
    // The price holds the capital of the pool's book at its caps (issue 72): here its one risk at
    // its cap, 50% of the capital, whatever has been sold of it so far.
    const [capped] = adequacy.atCaps.capitalShares;
    assert.deepEqual([capped.risk.id, adequacy.atCaps.totalExposure], [m.risk.id, capped.exposure]);
    assert.ok(BigInt(capped.exposure) >= USDC(50_000), capped.exposure);
    const next = (await h.ok(SHARE, { r: m.risk.id, amt: USDC(1_000).toString() }, token)).quoteEstimate;
    assert.equal(next.breakdown.capitalShare, capped.share);
    const expected = 0.1 * (Number(capped.share) * 1 - Number(next.breakdown.expectedLoss)) * (30 / 365);
    assert.ok(Math.abs(Number(next.breakdown.capitalLoad) - Math.max(0, expected)) < 1e-9, `${next.breakdown.capitalLoad} vs ${expected}`);
    assert.ok(
      next.lines.some((l: { label: string }) =>
        l.label.includes("share of the pool's worst 1% of simulated years, the pool sold up to its caps"),
      ),
    );
    // Another sale and the adequacy run after it change the book, not the capital a cover is priced with.
    await h.ok(PURCHASE, { q: (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(5_000).toString(), d: 30 }, token)).quote.id }, token);
    await runMaintenance(h.deps);
    const later = (await h.ok(SHARE, { r: m.risk.id, amt: USDC(1_000).toString() }, token)).quoteEstimate;
    assert.ok(
      Math.abs(Number(later.breakdown.capitalShare) / Number(capped.share) - 1) < 1e-3,
      `${later.breakdown.capitalShare} vs ${capped.share}`,
    );
    const admin = m.adminToken;
    const own_group = { ...depegRiskInput('self', 'SELF'), dependsOn: ['SELF'] };
    expectCode(await h.gql(DEPEG_RISK, { input: own_group }, admin), 'BAD_USER_INPUT');
  });

  test('an order split into quotes asked in advance costs what one order costs: each purchase is priced at the pool as it is bought', async () => {
    // 100,000 USDC at the default caps: this risk may take 50,000 of exposure, so ten covers
    // of 4,500 take its utilisation from 0 to 0.9, across the curve's kink at 0.8.
    const m = await marketOn(
      Array.from({ length: 60 }, () => '1'),
      {},
      { capital: USDC(100_000) },
    );
    const buyer = newWallet();
    const token = await h.signIn(buyer);
    await h.ok(CREDIT, { a: buyer.address, amt: USDC(100_000).toString(), r: `fund-${buyer.address}` }, m.adminToken);
    const whole = (await h.ok(ESTIMATE, { r: m.risk.id, amt: USDC(45_000).toString(), d: 30 }, token)).quoteEstimate;
    const quote = async () => (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(4_500).toString(), d: 30 }, token)).quote;
    // Ten quotes asked first, at the empty pool's price, then all bought.
    const quotes = [];
    for (let i = 0; i < 10; i++) quotes.push(await quote());
    let paid = 0n;
    let refused = 0;
    assert.ok(Number(whole.breakdown?.utilisationMultiplier ?? 2) > 1, JSON.stringify(whole));
    for (let q of quotes) {
      for (;;) {
        const body = await h.gql(PURCHASE, { q: q.id }, token);
        if (!body.errors) {
          const policy = body.data?.purchasePolicy;
          assert.ok(BigInt(policy.premium) <= BigInt(q.premium), 'never more than quoted');
          paid += BigInt(policy.premium);
          break;
        }
        // The pool has filled since it was quoted: refused with the new price, nothing bought.
        expectCode(body, 'QUOTE_PRICE_CHANGED');
        const details = body.errors[0]?.extensions?.details as { total: string; quotedTotal: string };
        assert.ok(BigInt(details.total) > BigInt(details.quotedTotal), JSON.stringify(details));
        refused++;
        q = await quote();
      }
    }
    assert.ok(refused >= 1, 'the later quotes no longer held once the pool filled');
    const ratio = Number(paid) / Number(BigInt(whole.premium));
    assert.ok(ratio >= 0.98 && ratio <= 1.02, `ten purchases' premiums ${paid}, one order's ${whole.premium}: ${ratio.toFixed(4)}`);
  });

  test('the market as it is now: no cover near the threshold (0.9951 against 0.995), none for the cool-off after a trigger recovered, then sold again', async () => {
    const m = await marketOn(Array.from({ length: 30 }, () => '1'));
    let buyer = await h.signIn(newWallet());
    const estimate = () => h.gql(ESTIMATE, { r: m.risk.id, amt: USDC(10_000).toString(), d: 7 }, buyer);
    const push = async (value: string) => {
      h.clock.advance(1_000);
      const o = [{ value, observedAt: Math.floor(h.clock.now() / 1000) * 1000 }];
      await h.ok(SUBMIT, { f: m.feedId, o: asInput(o), s: await signPush(h.admin, m.feedId, o) }, m.adminToken);
    };
    const refusal = (body: Awaited<ReturnType<typeof estimate>>) =>
      body.errors?.[0]?.extensions as { code: string; details: Record<string, string> };
    await push('0.9951');
    const near = refusal(await estimate());
    assert.deepEqual([near.code, near.details.reason, near.details.saleLimit], ['RISK_DECLINED', 'NEAR_THRESHOLD', '0.999']);
    await push('1.0001');
    assert.ok((await estimate()).data?.quoteEstimate, 'sold again at the peg');
    // A dip through the threshold that recovers before the window: ARMED again, but not on sale for the cool-off.
    await push('0.99');
    await push('1');
    const cooling = refusal(await estimate());
    assert.deepEqual([cooling.code, cooling.details.reason], ['SALES_PAUSED', 'COOL_OFF']);
    const reopensAt = Date.parse(cooling.details.reopensAt as string);
    assert.ok(reopensAt - h.clock.now() > 71 * 3_600_000, cooling.details.reopensAt);
    h.clock.advance(reopensAt - h.clock.now() + 1_000);
    m.adminToken = await h.signIn(h.admin);
    buyer = await h.signIn(newWallet());
    await push('1');
    assert.ok((await estimate()).data?.quoteEstimate, 'sold again once the cool-off is over');
  });

  test('the market as it is now: cover bought near the threshold costs what such sales paid out in the cross-section, and the quote says so', async () => {
    const rule = { threshold: '0.97', recoveryThreshold: '0.97', window: 86_400 };
    const m = await marketOn(
      Array.from({ length: 60 }, () => '1'),
      rule,
    );
    const buyer = await h.signIn(newWallet());
    const push = async (value: string) => {
      h.clock.advance(1_000);
      const o = [{ value, observedAt: Math.floor(h.clock.now() / 1000) * 1000 }];
      await h.ok(SUBMIT, { f: m.feedId, o: asInput(o), s: await signPush(h.admin, m.feedId, o) }, m.adminToken);
    };
    const QUOTED = `query($r: ID!, $amt: BigInt!, $d: Int!) { quoteEstimate(riskId: $r, amount: $amt, durationDays: $d) {
      premium breakdown { expectedLoss marketDistance marketMultiplier } lines { label value } } }`;
    const at = async () => (await h.ok(QUOTED, { r: m.risk.id, amt: USDC(10_000).toString(), d: 30 }, buyer)).quoteEstimate;
    await push('1');
    const calm = await at();
    assert.equal(calm.breakdown.marketDistance, '1.0000');
    assert.equal(calm.breakdown.marketMultiplier, '1.0000');
    // 0.985: half-way from the threshold to the peg, where the shipped coins triggered within a
    // month far more often than on average.
    await push('0.985');
    const near = await at();
    assert.equal(near.breakdown.marketDistance, '0.5000');
    assert.ok(Number(near.breakdown.marketMultiplier) > 2, JSON.stringify(near.breakdown));
    assert.ok(Number(near.breakdown.expectedLoss) > 2 * Number(calm.breakdown.expectedLoss));
    // At least what a month's cover sold there paid across the shipped coins (the floor), however calm the history.
    const table = distanceTableOf(
      normaliseTriggerRule({ ...rule, direction: 'BELOW', payout: 'BINARY' }),
      defaultPricing.nearThresholdBand,
    );
    const { floor } = multiplierAt(table, 0.5, 'ARRIVED');
    assert.ok(floor > 0.1 && Number(near.breakdown.expectedLoss) >= floor - 1e-6, `${near.breakdown.expectedLoss} against ${floor}`);
    assert.ok(BigInt(near.premium) > 2n * BigInt(calm.premium));
    assert.ok(near.lines.some((l: { label: string }) => l.label.startsWith('Where it trades now')));
  });

  test('the market as it is now: at one distance, a slide that stayed near the threshold for a week costs more than a spike that just got there', async () => {
    const rule = { threshold: '0.97', recoveryThreshold: '0.97', window: 86_400 };
    const buyer = await h.signIn(newWallet());
    const QUOTED = `query($r: ID!) { quoteEstimate(riskId: $r, amount: "10000000000", durationDays: 30) {
      premium breakdown { marketDistance marketMotion marketMultiplier } lines { label value } } }`;
    const quoteAt = async (history: string[]) => {
      const m = await marketOn(history, rule);
      h.clock.advance(1_000);
      const o = [{ value: '0.985', observedAt: Math.floor(h.clock.now() / 1000) * 1000 }];
      await h.ok(SUBMIT, { f: m.feedId, o: asInput(o), s: await signPush(h.admin, m.feedId, o) }, m.adminToken);
      return (await h.ok(QUOTED, { r: m.risk.id }, buyer)).quoteEstimate;
    };
    const calm = Array.from({ length: 60 }, () => '1');
    const arrived = await quoteAt(calm);
    const stayed = await quoteAt([...calm, ...Array.from({ length: 10 }, () => '0.985')]);
    assert.deepEqual(
      [arrived.breakdown.marketDistance, arrived.breakdown.marketMotion, stayed.breakdown.marketDistance, stayed.breakdown.marketMotion],
      ['0.5000', 'ARRIVED', '0.5000', 'STAYED'],
    );
    assert.ok(
      Number(stayed.breakdown.marketMultiplier) > 1.3 * Number(arrived.breakdown.marketMultiplier),
      JSON.stringify([arrived, stayed]),
    );
    assert.ok(BigInt(stayed.premium) > BigInt(arrived.premium));
    const said = (q: { lines: Array<{ label: string }> }) => q.lines.find((l) => l.label.startsWith('Where it trades now'))?.label ?? '';
    assert.match(said(stayed), /about as near as a week ago/);
    assert.match(said(arrived), /having fallen there this week/);
  });

  test('an asset beyond its threshold now is declined, never sold; so is cover whose expected loss is above the ceiling', async () => {
    const m = await marketOn(Array.from({ length: 30 }, () => '1'));
    const buyer = await h.signIn(newWallet());
    assert.ok((await h.gql(ESTIMATE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer)).data?.quoteEstimate);
    // A fresh signed observation below the threshold: the trigger fires and no cover is sold.
    const push = [{ value: '0.9', observedAt: Math.floor(h.clock.now() / 1000) * 1000 }];
    await h.ok(SUBMIT, { f: m.feedId, o: asInput(push), s: await signPush(h.admin, m.feedId, push) }, m.adminToken);
    const quote = await h.gql(ESTIMATE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer);
    assert.ok(['RISK_DECLINED', 'SALES_PAUSED'].includes(quote.errors?.[0]?.extensions?.code as string), JSON.stringify(quote));
    // A history that is almost always depegged: the expected loss is above the ceiling.
    const doomed = await marketOn(Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? '1' : '0.5')));
    expectCode(await h.gql(ESTIMATE, { r: doomed.risk.id, amt: USDC(1_000).toString(), d: 365 }, buyer), 'RISK_DECLINED');
  });
});
