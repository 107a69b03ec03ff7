import { DAY_MS, type ExperienceSummary, MAX_TERM_DAYS, summariseExperience } from './experience.ts';
import { type Observation, isBeyond } from './trigger-engine.ts';
import type { TriggerRule } from './trigger-rule.ts';
import { payoutRatio } from './payout.ts';
import type { FittedParams } from './fitted-params.ts';
import { type Backing, CALM_SAYS_LITTLE, SURVIVOR_CLASSES } from './backing.ts';

/**
 * The frequency-severity model behind a price (docs/pricing.md):
 *
 *   prior:      hazard mu(score) = r_class x exp(a_rule + b x score), a_rule fitted for the exact rule on the
 *               shipped cross-section of stablecoins, b (and the score's weights) by `npm run calibrate`,
 *               r_class the credibility-weighted ratio of what coins of the risk's backing did under
 *               the rule to what the score expected of them (1 when the backing is not named);
 *               severity: the mean payout of the rule over the class's incidents, credibility-weighted
 *               towards the cross-section's; for a class that fails by a run, a hazard at least
 *               its public record's rate of runs, at a run's payout (`withRuns`);
 *   experience: the risk's own hazard and severity, from replaying the rule over its history;
 *   posterior:  Poisson-gamma credibility, Z = E / (E + alpha/mu) for E years of experience
 *               (days observed, not the span: gaps add nothing);
 *               severity with weight n / (n + k) on the risk's own incidents;
 *   term:       EL(T) = S x (1 - exp(-lambda T/365)), the chance of a trigger within the term,
 *               never below the risk's own burning cost for that term, and shaped so that a
 *               longer term never costs less in total, nor more per day, than a shorter one
 *               (EL(T) non-decreasing, EL(T)/T non-increasing).
 */
/** What the loss model reads of the fitted parameters. */
export type FittedModel = Pick<FittedParams, 'version' | 'slopePerPoint' | 'dispersion' | 'priorPseudoCount' | 'severityCredibility'>;

/** One asset of the cross-section, replayed under a rule. */
export interface CrossSectionAsset {
  score: number;
  /** What the coin is backed by (domain/backing.ts). */
  backing: Backing;
  years: number;
  hazard: number;
  /** Sum of the payout ratios of its incidents, and their number. */
  severitySum: number;
  incidents: number;
}

export interface Prior {
  /** a_rule + ln r_class: log-hazard at score 0 for the risk's class. */
  intercept: number;
  severity: number;
  /** Assets and asset-years it was fitted on. */
  assets: number;
  years: number;
  /** The backing class the prior is for (null: every class pooled) and its hazard relativity r_class. */
  backing: Backing | null;
  relativity: number;
  /**
   * How what a trigger pays spreads around its mean, as the concentration a + b of a Beta on
   * the payout's share of the largest ratio (smart-contract failure: exploits take every share
   * of value); absent, a trigger pays the largest ratio or nothing (the heaviest tail).
   */
  severitySpread?: number;
  /**
   * For a class that fails by a run (domain/backing.ts, CALM_SAYS_LITTLE): how often its
   * designs ran, from the public record (calibration/runs.ts), and what such a run pays under
   * the rule. The prior hazard is at least that often, at that payout.
   */
  runs?: RunPrior;
}

/** A class's record of runs: failures in coin-years, the hazard they give, and a run's payout under the rule. */
export interface RunPrior {
  failures: number;
  coinYears: number;
  hazard: number;
  severity: number;
}

/**
 * What a run looks like in the record (calibration/data/algorithmic-runs.csv): the coin at
 * half its peg or lower, for a month or more (ESD, DSD, BAC and UST went lower and never came
 * back). A run triggers a rule that falls below a threshold above RUN_LOW of the calm value
 * and confirms within RUN_DAYS; it pays what the rule pays at RUN_LOW.
 */
export const RUN_LOW = 0.5;
export const RUN_DAYS = 30;

/** The rule's prior with the class's run record on top, where a run triggers the rule (else the prior unchanged). */
export function withRuns(prior: Prior, rule: TriggerRule, record: Pick<RunPrior, 'failures' | 'coinYears'> | null): Prior {
  if (!record || record.coinYears <= 0 || rule.direction !== 'BELOW' || rule.window > RUN_DAYS * 86_400) return prior;
  const calm = Number(rule.peg ?? '1');
  const low = calm * RUN_LOW;
  if (!(Number(rule.threshold) > low)) return prior;
  return { ...prior, runs: { ...record, hazard: record.failures / record.coinYears, severity: Number(payoutRatio(rule, String(low))) } };
}

/**
 * How long a design that fails by a run stays unsold under a rule after its value closed beyond
 * that rule's threshold (docs/pricing.md, "The tails"): a run pushed through the threshold and
 * stopped is the design failing its test, not a calm month. In the record, designs that broke
 * their peg and came back ran soon after: ESD, DSD and BAC within weeks of their December 2020
 * swings, UST 351 days after it closed at 0.962 on 23 May 2021.
 */
export const RUN_TESTED_DAYS = 365;

/** A close beyond the rule's threshold: when, and at what value. */
export interface RunTest {
  at: number;
  value: string;
}

/**
 * The last daily close beyond the rule's threshold in the RUN_TESTED_DAYS before `asOf`, for a
 * prior that carries a record of runs (a class that fails by a run, under a rule a run
 * triggers); null otherwise. Cover under the rule is declined until a year after it.
 */
export function runTested(rule: TriggerRule, prior: Pick<Prior, 'runs'>, series: readonly Observation[], asOf: number): RunTest | null {
  if (!prior.runs) return null;
  const since = asOf - RUN_TESTED_DAYS * DAY_MS;
  for (let i = series.length - 1; i >= 0; i--) {
    const o = series[i] as Observation;
    if (o.at < since) break;
    if (o.at < asOf && isBeyond(rule, o.value)) return { at: o.at, value: o.value };
  }
  return null;
}

/**
 * The rule's prior: the Poisson MLE of the intercept given the fitted slope, and the pooled
 * severity; for a named backing, the class's relativity and severity on top.
 *
 * The relativity is Poisson-gamma credibility on the class's observed over expected incidents,
 * `r = (k + O) / (k + E)` with `k` the prior pseudo-count: a class whose coins never triggered
 * the rule in E expected incidents' worth of exposure is priced at `k / (k + E)` of the score's
 * hazard, one whose coins triggered it more than the score expects above 1 (a class of
 * survivors, domain/backing.ts, never below 1). The class's
 * severity weighs its own incidents' mean payout by `n / (n + c)` against the pooled one.
 */
export function fitPrior(
  assets: readonly CrossSectionAsset[],
  model: FittedModel,
  maxRatio: number,
  backing: Backing | null = null,
): Prior {
  let events = model.priorPseudoCount;
  let exposure = 0;
  let sevSum = 0;
  let sevCount = 0;
  let years = 0;
  for (const a of assets) {
    events += a.hazard * a.years;
    exposure += a.years * Math.exp(model.slopePerPoint * a.score);
    sevSum += a.severitySum;
    sevCount += a.incidents;
    years += a.years;
  }
  const intercept = Math.log(events / Math.max(exposure, 1e-9));
  // A few pseudo-incidents at the rule's largest payout: the tail is heavier than a short sample shows.
  const pseudo = 3;
  const severity = (sevSum + pseudo * maxRatio) / (sevCount + pseudo);
  const pooled = { intercept, severity, assets: assets.length, years, backing, relativity: 1 };
  const members = assets.filter((a) => a.backing === backing);
  if (backing === null || members.length === 0) return pooled;
  let observed = 0;
  let expected = 0;
  let classSevSum = 0;
  let classIncidents = 0;
  for (const a of members) {
    observed += a.hazard * a.years;
    expected += a.years * Math.exp(intercept + model.slopePerPoint * a.score);
    classSevSum += a.severitySum;
    classIncidents += a.incidents;
  }
  const k = model.priorPseudoCount;
  const credible = (k + observed) / (k + expected);
  const relativity = SURVIVOR_CLASSES.has(backing) ? Math.max(1, credible) : credible;
  const c = model.severityCredibility;
  return {
    ...pooled,
    intercept: intercept + Math.log(relativity),
    severity: classIncidents === 0 ? severity : (classSevSum + c * severity) / (classIncidents + c),
    relativity,
  };
}

export interface Posterior {
  priorHazard: number;
  experienceHazard: number;
  exposureYears: number;
  credibility: number;
  hazard: number;
  /** The hazard at the uncertainty quantile of the gamma posterior. */
  hazardUpper: number;
  /** The gamma posterior of the hazard (its mean is `hazard`): the adequacy simulation draws from it. */
  shape: number;
  rate: number;
  priorSeverity: number;
  experienceSeverity: number;
  severityCredibility: number;
  severity: number;
}

export function posterior(prior: Prior, score: number, experience: ExperienceSummary, model: FittedModel, quantile: number): Posterior {
  const fitted = Math.exp(prior.intercept + model.slopePerPoint * score);
  // A class that fails by a run is priced at least at its record's rate of runs, each paying
  // what a run pays under the rule: the prior's mean payout is the blend of the two.
  const runs = prior.runs && prior.runs.hazard > fitted ? prior.runs : null;
  const mu = runs ? runs.hazard : fitted;
  const priorSeverity = runs ? (fitted * prior.severity + (runs.hazard - fitted) * runs.severity) / runs.hazard : prior.severity;
  // Years of history actually observed (one point a day observed): a gap adds nothing, so two
  // points a century apart are two days of experience, not a century of calm.
  // A design that fails by a run (domain/backing.ts, CALM_SAYS_LITTLE): its calm years do not
  // price it below its class; its own incidents still raise it.
  const calmIgnored = prior.backing !== null && CALM_SAYS_LITTLE.has(prior.backing) && experience.hazard < mu;
  const years = calmIgnored ? 0 : experience.points / 365;
  const shape = model.dispersion + experience.hazard * years;
  const rate = model.dispersion / mu + years;
  const credibility = years / (years + model.dispersion / mu);
  const hazard = shape / rate;
  const zs = experience.incidents / (experience.incidents + model.severityCredibility);
  return {
    priorHazard: mu,
    experienceHazard: experience.hazard,
    exposureYears: years,
    credibility,
    hazard,
    hazardUpper: Math.max(hazard, gammaQuantile(quantile, shape) / rate),
    shape,
    rate,
    priorSeverity,
    experienceSeverity: experience.severity,
    severityCredibility: zs,
    severity: experience.incidents === 0 ? priorSeverity : zs * experience.severity + (1 - zs) * priorSeverity,
  };
}

/** Expected loss and the parameter-uncertainty load per unit of cover, for terms of 0..365 days. */
export interface TermCurves {
  expectedLoss: Float64Array;
  uncertainty: Float64Array;
}

export function termCurves(p: Posterior, burningCost: Float64Array): TermCurves {
  const expectedLoss = new Float64Array(MAX_TERM_DAYS + 1);
  const upper = new Float64Array(MAX_TERM_DAYS + 1);
  for (let d = 1; d <= MAX_TERM_DAYS; d++) {
    const years = d / 365;
    expectedLoss[d] = Math.max(p.severity * -Math.expm1(-p.hazard * years), burningCost[d] ?? 0);
    upper[d] = Math.max(p.severity * -Math.expm1(-p.hazardUpper * years), expectedLoss[d] as number);
  }
  shape(expectedLoss);
  shape(upper);
  const uncertainty = new Float64Array(MAX_TERM_DAYS + 1);
  for (let d = 1; d <= MAX_TERM_DAYS; d++) uncertainty[d] = Math.max(0, (upper[d] as number) - (expectedLoss[d] as number));
  return { expectedLoss, uncertainty };
}

/** A rule replayed over a series, blended with its prior at a score: the experience, the posterior and the term curves. */
export function lossCurves(
  rule: TriggerRule,
  series: readonly Observation[],
  score: number,
  prior: Prior,
  model: FittedModel,
  quantile: number,
): { experience: ExperienceSummary; posterior: Posterior; curves: TermCurves } {
  const experience = summariseExperience(rule, series);
  const post = posterior(prior, score, experience, model, quantile);
  return { experience, posterior: post, curves: termCurves(post, experience.burningCost) };
}

/**
 * Raises a curve to the least one above it that is non-decreasing in the term with a
 * non-increasing cost per day: a shorter cover never costs less per day than a longer one,
 * and a longer one never less in total.
 */
function shape(curve: Float64Array): void {
  let perDay = 0;
  for (let d = MAX_TERM_DAYS; d >= 1; d--) {
    perDay = Math.max(perDay, (curve[d] as number) / d);
    curve[d] = Math.max(curve[d] as number, perDay * d);
  }
  for (let d = 2; d <= MAX_TERM_DAYS; d++) curve[d] = Math.max(curve[d] as number, curve[d - 1] as number);
}

/** Regularised lower incomplete gamma P(a, x) (series below a+1, continued fraction above). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const lnPre = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 500; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.min(1, sum * Math.exp(lnPre));
  }
  // Lentz's continued fraction for Q(a, x).
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.max(0, 1 - Math.exp(lnPre) * h);
}

/** ln Γ(x), Lanczos (g = 7, n = 9). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let s = c[0] as number;
  for (let i = 1; i < 9; i++) s += (c[i] as number) / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** The q-quantile of Gamma(shape, rate 1), by bisection on P. */
export function gammaQuantile(q: number, shape: number): number {
  let lo = 0;
  let hi = Math.max(1, shape);
  while (gammaP(shape, hi) < q) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (gammaP(shape, mid) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** What a quote says of the model behind it: the terms of its expected loss, as decimal strings. */
export interface ModelExplanation {
  model: string;
  historyDays: number;
  historyFrom: number | null;
  historyTo: number | null;
  triggersSeen: number;
  experienceAnnualFrequency: string;
  priorAnnualFrequency: string;
  /** The backing class the prior starts from (null: every class pooled) and its hazard relativity. */
  backing: Backing | null;
  backingRelativity: string;
  /**
   * For a class that fails by a run: the record's runs, coin-years and runs a year (the prior
   * frequency's floor); null for other classes and rules a run does not trigger.
   */
  runsRecorded: number | null;
  runCoinYears: string | null;
  runAnnualFrequency: string | null;
  credibility: string;
  annualFrequency: string;
  annualFrequencyUpper: string;
  experienceSeverity: string;
  priorSeverity: string;
  severityCredibility: string;
  meanSeverity: string;
  /** The risk's own burning cost for the term: the floor of the expected loss. */
  burningCost: string;
}

/** A model explanation as quotes store it: once, under the hash of its content, named by its id. */
export interface StoredExplanation {
  id: string;
  terms: ModelExplanation;
}

const dec = (v: number, digits = 8) => (Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : '0');

export function explain(
  model: string,
  experience: Pick<ExperienceSummary, 'days' | 'points' | 'firstAt' | 'lastAt' | 'incidents'>,
  prior: Pick<Prior, 'backing' | 'relativity' | 'runs'>,
  p: Posterior,
  burningCost: number,
): ModelExplanation {
  return {
    model,
    historyDays: experience.points,
    historyFrom: experience.firstAt,
    historyTo: experience.lastAt,
    triggersSeen: experience.incidents,
    experienceAnnualFrequency: dec(p.experienceHazard),
    priorAnnualFrequency: dec(p.priorHazard),
    backing: prior.backing,
    backingRelativity: dec(prior.relativity, 6),
    runsRecorded: prior.runs?.failures ?? null,
    runCoinYears: prior.runs ? dec(prior.runs.coinYears, 4) : null,
    runAnnualFrequency: prior.runs ? dec(prior.runs.hazard, 6) : null,
    credibility: dec(p.credibility, 6),
    annualFrequency: dec(p.hazard),
    annualFrequencyUpper: dec(p.hazardUpper),
    experienceSeverity: dec(p.experienceSeverity, 6),
    priorSeverity: dec(p.priorSeverity, 6),
    severityCredibility: dec(p.severityCredibility, 6),
    meanSeverity: dec(p.severity, 6),
    burningCost: dec(burningCost),
  };
}
