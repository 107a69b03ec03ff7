import { DAY_MS, replayStarts } from '../domain/experience.ts';
import { type FittedModel, type Prior, lossCurves, runTested } from '../domain/loss-model.ts';
import { defaultPricing, riskRates, UNPOOLED_CAPITAL_SHARE } from '../domain/pricing.ts';
import { computeRiskScore } from '../domain/risk-score.ts';
import type { Observation } from '../domain/trigger-engine.ts';
import { type TriggerRule, normaliseTriggerRule } from '../domain/trigger-rule.ts';
import { type Coin, between, crossSection } from './cross-section.ts';
import { fitModel } from './fit.ts';
import { RECORD_END, classPrior } from './runs.ts';
import {
  ARRIVAL_DAYS,
  DISTANCE_BUCKETS,
  type DistanceTable,
  MOTIONS,
  type Motion,
  atDistance,
  bucketOf,
  fitDistanceTable,
  motionOf,
  multiplierAt,
  valueAt,
} from '../domain/market-distance.ts';
import { distanceToThreshold } from '../domain/sale-window.ts';
import { BACKINGS, type Backing } from '../domain/backing.ts';

/**
 * Out-of-sample validation of the pricing model (`npm run calibrate`, docs/pricing.md): covers
 * sold every day are priced by a model that has not seen what happened to them, and their
 * premiums compared with what the rule would have paid.
 */
export const VALIDATION_RULES: Array<{ name: string; kind: 'binary' | 'capped'; rule: TriggerRule }> = [
  {
    name: 'capped 20% at 0.97, 24 h',
    kind: 'capped',
    rule: normaliseTriggerRule({
      threshold: '0.97',
      direction: 'BELOW',
      recoveryThreshold: '0.97',
      window: 86_400,
      payout: 'PROPORTIONAL',
      peg: '1',
      maxRatio: '0.2',
    }),
  },
  {
    name: 'capped 20% at 0.90, 7 d',
    kind: 'capped',
    rule: normaliseTriggerRule({
      threshold: '0.9',
      direction: 'BELOW',
      recoveryThreshold: '0.9',
      window: 7 * 86_400,
      payout: 'PROPORTIONAL',
      peg: '1',
      maxRatio: '0.2',
    }),
  },
  {
    name: 'binary at 0.97, 24 h',
    kind: 'binary',
    rule: normaliseTriggerRule({ threshold: '0.97', direction: 'BELOW', recoveryThreshold: '0.97', window: 86_400, payout: 'BINARY' }),
  },
  {
    name: 'binary at 0.995, 24 h',
    kind: 'binary',
    rule: normaliseTriggerRule({ threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.995', window: 86_400, payout: 'BINARY' }),
  },
];

export const TERM_DAYS = 90;
/** Where the asset trades at a sale, as a quote prices it (domain/market-distance.ts multiplierAt). */
type Market = ReturnType<typeof multiplierAt>;
const BANDS = [0, 25, 40, 55, 101];

/** One priced cover and what it would really have paid. */
export interface Sale {
  coin: string;
  backing: Backing;
  rule: string;
  kind: 'binary' | 'capped';
  /** The distance to the threshold at the sale, as a bucket of the distance table. */
  distance: string;
  /** How the price came there over the week before the sale (null: no close a week back). */
  motion: Motion | null;
  /** How far above the threshold the price traded at the sale, as a share of the threshold. */
  above: number;
  score: number;
  expectedLoss: number;
  /** Premium before the platform fee, per unit of cover. */
  premium: number;
  paid: number;
}

/** The premium rate (before fee) and expected loss of a cover, per unit, as the API prices it at zero utilisation. */
export function priceUnit(
  rule: TriggerRule,
  score: number,
  prior: Prior,
  model: FittedModel,
  experience: readonly Observation[],
  term: number,
  { multiplier, floor }: Market = { multiplier: 1, floor: 0 },
): { expectedLoss: number; premium: number } {
  const { curves } = lossCurves(rule, experience, score, prior, model, defaultPricing.uncertaintyQuantile);
  // Where the asset trades at the sale, as the API prices it (app/loss-models.ts lossTermsAt).
  const loss = {
    expectedLoss: atDistance(curves.expectedLoss, term, multiplier, floor),
    uncertainty: (curves.uncertainty[term] as number) * multiplier,
  };
  const rates = riskRates(
    { durationDays: term, maxPayoutRatio: rule.maxRatio, loss, capitalShare: UNPOOLED_CAPITAL_SHARE },
    defaultPricing,
  );
  return { expectedLoss: loss.expectedLoss, premium: rates.total.toNumber() };
}

/**
 * Sells a cover at every start in [from, to) whose term the data covers, unless declined as
 * the API declines it (beyond or near the threshold: the near band; a run-class design whose
 * closes before the sale tested the threshold within a year; an expected loss above the
 * ceiling), at the price of the distance it trades at; returns the sales.
 */
function sell(
  coin: Coin,
  score: number,
  rule: { name: string; kind: 'binary' | 'capped'; rule: TriggerRule },
  prior: Prior,
  priceAt: (market: Market) => { expectedLoss: number; premium: number },
  table: DistanceTable,
  from: number,
  to: number,
  term: number,
): Sale[] {
  const starts = replayStarts(rule.rule, coin.series);
  const last = coin.series.at(-1)?.at ?? 0;
  const sales: Sale[] = [];
  const band = Number(defaultPricing.nearThresholdBand);
  const prices = new Map<string, { expectedLoss: number; premium: number }>();
  coin.series.forEach((o, s) => {
    if (o.at < from || o.at >= to || o.at + term * DAY_MS > last) return;
    const z = distanceToThreshold(rule.rule, o.value);
    if (z === null || z < band) return;
    if (runTested(rule.rule, prior, coin.series, o.at)) return;
    const bucket = bucketOf(z);
    // As the API prices it (app/loss-models.ts marketNow): the distance and the week's motion.
    const motion = motionOf(rule.rule, o.value, valueAt(coin.series, o.at - ARRIVAL_DAYS * DAY_MS, s));
    const market = multiplierAt(table, z, motion);
    const key = `${market.multiplier} ${market.floor}`;
    let price = prices.get(key);
    if (!price) prices.set(key, (price = priceAt(market)));
    if (price.expectedLoss > Number(defaultPricing.maxExpectedLoss)) return;
    const out = starts[s];
    const paid = out && out.triggeredAt < o.at + term * DAY_MS ? out.ratio : 0;
    sales.push({
      coin: coin.id,
      backing: coin.backing,
      rule: rule.name,
      kind: rule.kind,
      distance: DISTANCE_LABELS[bucket] as string,
      motion,
      above: Number(o.value) / Number(rule.rule.threshold) - 1,
      score,
      expectedLoss: price.expectedLoss,
      premium: price.premium,
      paid,
    });
  });
  return sales;
}

const scored = (coins: readonly Coin[], weights: Parameters<typeof computeRiskScore>[1]) =>
  coins.map((c) => ({ score: Number(computeRiskScore(c.inputs, weights).score), backing: c.backing, series: c.series }));

/**
 * A rule's prior from a scored cross-section under a fit, for a coin's backing class, with the
 * class's record of runs as known before `known` and without the coin's own.
 */
const priorFrom = (rule: TriggerRule, assets: ReturnType<typeof scored>, fit: FittedModel, coin: Coin, known: number) =>
  classPrior(crossSection(rule, assets), fit, rule, coin.backing, known, new Set([coin.id]));

/** The rule's distance table (domain/market-distance.ts) fitted on the coins the validation may see. */
const distanceTable = (rule: TriggerRule, coins: readonly Coin[]) =>
  fitDistanceTable(
    rule,
    coins.map((c) => c.series),
    Number(defaultPricing.nearThresholdBand),
  );

/** The distance buckets' labels, in units of the way from the threshold to the calm value. */
const DISTANCE_LABELS = [0.25, ...DISTANCE_BUCKETS].map((lo, i, all) => (i + 1 < all.length ? `${lo}-${all[i + 1]}` : `${lo} and above`));

/** Fit on the data before `split`, price with the history before it, sell from `split` on. */
export function timeSplit(coins: readonly Coin[], split: number, term = TERM_DAYS): Sale[] {
  const train = coins.map((c) => ({ ...c, series: between(c.series, 0, split) }));
  const fit = fitModel(train, { version: 'validation', fittedOn: 'train' }).params;
  const sales: Sale[] = [];
  const trainScored = scored(train, fit.scoreWeights);
  for (const rule of VALIDATION_RULES) {
    const table = distanceTable(rule.rule, train);
    coins.forEach((coin, i) => {
      const prior = priorFrom(rule.rule, trainScored, fit, coin, split);
      const { score } = trainScored[i] as { score: number };
      const priceAt = (m: Market) => priceUnit(rule.rule, score, prior, fit, (train[i] as Coin).series, term, m);
      sales.push(...sell(coin, score, rule, prior, priceAt, table, split, Number.POSITIVE_INFINITY, term));
    });
  }
  return sales;
}

/** For each asset: fit on the others, price it from the prior alone, sell over its whole history. */
export function leaveOneOut(coins: readonly Coin[], term = TERM_DAYS): Sale[] {
  const sales: Sale[] = [];
  coins.forEach((coin, j) => {
    const others = coins.filter((_, i) => i !== j);
    const fit = fitModel(others, { version: 'validation', fittedOn: 'others' }).params;
    const othersScored = scored(others, fit.scoreWeights);
    const score = Number(computeRiskScore(coin.inputs, fit.scoreWeights).score);
    for (const rule of VALIDATION_RULES) {
      const prior = priorFrom(rule.rule, othersScored, fit, coin, RECORD_END);
      const priceAt = (m: Market) => priceUnit(rule.rule, score, prior, fit, [], term, m);
      sales.push(...sell(coin, score, rule, prior, priceAt, distanceTable(rule.rule, others), 0, Number.POSITIVE_INFINITY, term));
    }
  });
  return sales;
}

export interface Row {
  label: string;
  covers: number;
  premium: number;
  expected: number;
  actual: number;
}

const sum = (sales: readonly Sale[], f: (s: Sale) => number) => sales.reduce((t, s) => t + f(s), 0);
const row = (label: string, sales: readonly Sale[]): Row => ({
  label,
  covers: sales.length,
  premium: sum(sales, (s) => s.premium),
  expected: sum(sales, (s) => s.expectedLoss),
  actual: sum(sales, (s) => s.paid),
});

/** The tables: by score band, by kind (binary, capped), by backing class and kind, and by rule, with Spearman per rule. */
export function summarise(sales: readonly Sale[]): {
  bands: Row[];
  kinds: Row[];
  backings: Row[];
  distances: Row[];
  motions: Row[];
  rules: Array<Row & { spearman: number }>;
} {
  const bands = BANDS.slice(0, -1).map((lo, i) => {
    const hi = BANDS[i + 1] as number;
    return row(
      `score ${lo}-${Math.min(hi, 100)}`,
      sales.filter((s) => s.score >= lo && s.score < hi),
    );
  });
  const kinds = (['capped', 'binary'] as const).map((k) =>
    row(
      k,
      sales.filter((s) => s.kind === k),
    ),
  );
  const backings = BACKINGS.flatMap((b) =>
    (['capped', 'binary'] as const).map((k) =>
      row(
        `${b.toLowerCase()}, ${k}`,
        sales.filter((s) => s.backing === b && s.kind === k),
      ),
    ),
  ).filter((r) => r.covers > 0);
  const distances = DISTANCE_LABELS.flatMap((d) =>
    (['capped', 'binary'] as const).map((k) =>
      row(
        `${d}, ${k}`,
        sales.filter((s) => s.distance === d && s.kind === k),
      ),
    ),
  ).filter((r) => r.covers > 0);
  // Near the threshold (below the peg's bucket), by how the price got there.
  const near = sales.filter((s) => s.distance !== DISTANCE_LABELS.at(-1));
  const motions = ([...MOTIONS, null] as const)
    .flatMap((m) =>
      (['capped', 'binary'] as const).map((k) =>
        row(
          `${m === null ? 'no close a week back' : m.toLowerCase()}, ${k}`,
          near.filter((s) => s.motion === m && s.kind === k),
        ),
      ),
    )
    .filter((r) => r.covers > 0);
  const rules = VALIDATION_RULES.map((r) => {
    const mine = sales.filter((s) => s.rule === r.name);
    const byCoin = new Map<string, Sale[]>();
    for (const s of mine) byCoin.set(s.coin, [...(byCoin.get(s.coin) ?? []), s]);
    const predicted = [...byCoin.values()].map((l) => sum(l, (s) => s.expectedLoss) / l.length);
    const realised = [...byCoin.values()].map((l) => sum(l, (s) => s.paid) / l.length);
    return { ...row(r.name, mine), spearman: spearman(predicted, realised) };
  });
  return { bands, kinds, backings, distances, motions, rules };
}

export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length < 3) return Number.NaN;
  const rank = (v: readonly number[]) => {
    const order = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const ranks = new Array<number>(v.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && (order[j + 1] as readonly [number, number])[0] === (order[i] as readonly [number, number])[0]) j++;
      for (let k = i; k <= j; k++) ranks[(order[k] as readonly [number, number])[1]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return ranks;
  };
  const ra = rank(a);
  const rb = rank(b);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(ra);
  const mb = mean(rb);
  let num = 0;
  let da = 0;
  let db = 0;
  ra.forEach((x, i) => {
    const y = rb[i] as number;
    num += (x - ma) * (y - mb);
    da += (x - ma) ** 2;
    db += (y - mb) ** 2;
  });
  return da === 0 || db === 0 ? Number.NaN : num / Math.sqrt(da * db);
}
