import { type HistorySource, dailyCloses, historySources } from '../db/history-store.ts';
import { type RiskRecord, effectiveScore } from '../domain/risk.ts';
import { DAY_MS, type ExperienceSummary, dailyExperience } from '../domain/experience.ts';
import { type Posterior, type Prior, type RunTest, type TermCurves, lossCurves, runTested } from '../domain/loss-model.ts';
import { classPrior } from '../calibration/runs.ts';
import type { LossTerms } from '../domain/pricing.ts';
import { computeRiskScore } from '../domain/risk-score.ts';
import type { Observation } from '../domain/trigger-engine.ts';
import type { TriggerRule } from '../domain/trigger-rule.ts';
import { crossSection, shippedCoins } from '../calibration/cross-section.ts';
import { exploitRates } from '../calibration/exploits.ts';
import { type ProtocolCategory, diversifiedCapital, exploitPrior, isProtocolCategory } from '../domain/exploit-prior.ts';
import { fitted } from '../domain/fitted-model.ts';
import { signalsOf } from '../domain/risk-signals.ts';
import type { Ports } from './deps.ts';
import { type Backing, isBacking } from '../domain/backing.ts';

/**
 * A risk's loss model (docs/pricing.md): its experience (the history of its feeds up to the
 * end of yesterday, UTC, replayed under its rule), the prior the shipped cross-section gives
 * the same rule, the credibility-weighted posterior, and the expected loss and uncertainty
 * load for every term. Worked out once per risk, rule version, history revision, score and
 * day, and kept per process.
 */
export interface RiskLossModel {
  model: string;
  /** The day (UTC, ms) the experience ends before. */
  asOf: number;
  series: Observation[];
  experience: Omit<ExperienceSummary, 'burningCost'>;
  burningCost: Float64Array;
  prior: Prior;
  posterior: Posterior;
  curves: TermCurves;
  /** A design that fails by a run, closed beyond the rule's threshold within a year: its cover is declined (domain/loss-model.ts). */
  runTested: RunTest | null;
  /**
   * Smart-contract failure: the capital a unit of this cover's exposure holds in a diversified
   * book of like covers, the most a pool that has not simulated it yet charges for.
   */
  capitalDiversified?: number;
}

const priors = new Map<string, Prior>();

/** The protocol category a smart-contract-failure risk names (its score inputs), or null: all categories pooled. */
export function protocolCategoryOf(risk: Pick<RiskRecord, 'scoreInputs'>): ProtocolCategory | null {
  const category = risk.scoreInputs.category;
  return isProtocolCategory(category) ? category : null;
}

/**
 * A risk's prior: for a depeg, its rule on the shipped cross-section of stablecoins; for a
 * smart-contract failure, DeFi's exploit history in its category (domain/exploit-prior.ts).
 */
export function priorOf(risk: Pick<RiskRecord, 'kind' | 'rule' | 'signals' | 'scoreInputs'>): Prior {
  if (risk.kind === 'SMART_CONTRACT_FAILURE') {
    return exploitPrior(
      signalsOf(risk).map((s) => s.rule),
      protocolCategoryOf(risk),
      { valueSecuredUsd: valueSecuredOf(risk) },
      exploitRates(),
      fitted,
    );
  }
  return stablecoinPrior(risk.rule, backingOf(risk));
}

/** The value a risk secures, from its score inputs (stored as a decimal string). */
function valueSecuredOf(risk: Pick<RiskRecord, 'scoreInputs'>): bigint {
  const v = risk.scoreInputs.valueSecuredUsd;
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.max(0, Math.floor(v)));
  return typeof v === 'string' && /^\d+$/.test(v) ? BigInt(v) : 0n;
}

/**
 * The loss model's fitted parameters for a risk: smart-contract failure carries the spread of
 * DeFi's yearly loss rates as its parameter uncertainty, a depeg the stablecoin fit's.
 */
export const modelFor = (risk: Pick<RiskRecord, 'kind'>) =>
  risk.kind === 'SMART_CONTRACT_FAILURE' ? { ...fitted, dispersion: exploitRates().dispersion } : fitted;

/** The correlation groups a risk's backing depends on (DAI and FRAX on USDC): it shares their shocks in the adequacy simulation. */
export function dependsOnOf(risk: Pick<RiskRecord, 'scoreInputs'>): string[] {
  const named = risk.scoreInputs.dependsOn;
  return Array.isArray(named) ? named.filter((g): g is string => typeof g === 'string') : [];
}

/** The backing a depeg risk names (its score inputs), or null: every class pooled. */
export function backingOf(risk: Pick<RiskRecord, 'scoreInputs'>): Backing | null {
  const backing = risk.scoreInputs.backing;
  return isBacking(backing) ? backing : null;
}

/** The prior of a rule from the shipped cross-section, scored with the fitted weights, for a backing class (with its record of runs). */
function stablecoinPrior(rule: TriggerRule, backing: Backing | null): Prior {
  const key = `${JSON.stringify(rule)}|${backing}`;
  let prior = priors.get(key);
  if (!prior) {
    const coins = shippedCoins().map((c) => ({ score: Number(computeRiskScore(c.inputs).score), backing: c.backing, series: c.series }));
    prior = classPrior(crossSection(rule, coins), fitted, rule, backing);
    if (priors.size >= 1_000) priors.clear();
    priors.set(key, prior);
  }
  return prior;
}

/** Builds a risk's model from its daily series (pure: the service below feeds it from the database). */
export function buildLossModel(
  risk: Pick<RiskRecord, 'kind' | 'rule' | 'signals' | 'scoreInputs' | 'scoreModel' | 'modelScore' | 'scoreOverride'> &
    Partial<Pick<RiskRecord, 'maxPayoutRatio'>>,
  series: Observation[],
  asOf: number,
  quantile: number,
): RiskLossModel {
  const prior = priorOf(risk);
  const { experience, posterior, curves } = lossCurves(risk.rule, series, Number(effectiveScore(risk)), prior, modelFor(risk), quantile);
  const { burningCost, ...summary } = experience;
  const built = {
    model: `${fitted.version}/${risk.scoreModel}`,
    asOf,
    series,
    experience: summary,
    burningCost,
    prior,
    posterior,
    curves,
    runTested: runTested(risk.rule, prior, series, asOf),
  };
  if (risk.kind !== 'SMART_CONTRACT_FAILURE') return built;
  return {
    ...built,
    capitalDiversified: diversifiedCapital(posterior, prior, Number(risk.maxPayoutRatio ?? '1'), exploitRates().commonCause),
  };
}

/** What building a risk's model reads: the database, the clock and the pricing configuration. */
export type Source = Pick<Ports, 'db' | 'clock' | 'config'>;

/**
 * A per-process cache of one promise per risk and database, kept while the risk's `key` (the
 * inputs the value depends on) is unchanged: callers at once share one read, and a failed
 * read is not remembered.
 */
function perRisk<T>(): (db: object, riskId: string, key: string, compute: () => Promise<T>) => Promise<T> {
  const caches = new WeakMap<object, Map<string, { key: string; value: Promise<T> }>>();
  return (db, riskId, key, compute) => {
    let cache = caches.get(db);
    if (!cache) caches.set(db, (cache = new Map()));
    const hit = cache.get(riskId);
    if (hit && hit.key === key) return hit.value;
    const value = compute();
    value.catch(() => {
      if (cache.get(riskId)?.value === value) cache.delete(riskId);
    });
    if (cache.size >= 10_000) cache.clear();
    cache.set(riskId, { key, value });
    return value;
  };
}
const models = perRisk<RiskLossModel>();
const sources = perRisk<HistorySource[]>();

/** The start of the current UTC day: the experience holds whole days only. */
export const dayStart = (at: number) => Math.floor(at / DAY_MS) * DAY_MS;

/** What of a risk its loss model depends on: its rule's version, its history's revision and its score. */
export const pricingInputs = (risk: Pick<RiskRecord, 'ruleVersion' | 'pricingRevision' | 'modelScore' | 'scoreOverride'>) =>
  `${risk.ruleVersion}|${risk.pricingRevision}|${effectiveScore(risk)}`;

/** A risk's loss model, from the per-process cache when its inputs have not changed. */
export function lossModelOf(ports: Source, risk: RiskRecord): Promise<RiskLossModel> {
  const asOf = dayStart(ports.clock.now());
  const key = `${pricingInputs(risk)}|${asOf}|${ports.config.pricing.uncertaintyQuantile}`;
  return models(ports.db, risk.id, key, () =>
    dailyCloses(ports.db, risk.id, asOf).then((closes) => {
      const feeds = new Map<string, Array<{ at: number; value: string }>>();
      for (const c of closes) {
        let points = feeds.get(c.feedId);
        if (!points) feeds.set(c.feedId, (points = []));
        points.push(c);
      }
      const series = dailyExperience(
        [...feeds].map(([feedId, points]) => ({ feedId, points })),
        risk.rule.direction,
      );
      return buildLossModel(risk, series, asOf, ports.config.pricing.uncertaintyQuantile);
    }),
  );
}

/**
 * Where a risk's history comes from: aggregated once per history revision and minute (the
 * watcher's own points, which revise nothing, show within a minute) and kept per process,
 * so a page of risks or an operation asking for one risk's sources under many aliases reads
 * them once, however many points an import added (issue 42: a 100,000-point history was
 * re-aggregated on every read).
 */
export function sourcesOf(ports: Source, risk: Pick<RiskRecord, 'id' | 'pricingRevision'>): Promise<HistorySource[]> {
  const now = ports.clock.now();
  return sources(ports.db, risk.id, `${risk.pricingRevision}|${Math.floor(now / 60_000)}`, () => historySources(ports.db, risk.id, now));
}

/** The expected loss and uncertainty load of a term (whole days, at most a year), and the capital the cover holds in a diversified book. */
export function lossTermsOf(model: RiskLossModel, days: number): LossTerms {
  return {
    expectedLoss: model.curves.expectedLoss[days] ?? 0,
    uncertainty: model.curves.uncertainty[days] ?? 0,
    ...(model.capitalDiversified === undefined ? {} : { capitalDiversified: model.capitalDiversified }),
  };
}

/** A risk's share of the market's common shock in the adequacy simulation: exploits rarely share a cause (docs/pricing.md), a depeg the configured share. */
export const commonShockOf = (risk: Pick<RiskRecord, 'kind'>, configured: number) =>
  risk.kind === 'SMART_CONTRACT_FAILURE' ? exploitRates().commonCause : configured;
