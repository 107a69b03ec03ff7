import { summariseExperience } from '../domain/experience.ts';
import { FACTOR_NAMES, type FactorName } from '../domain/fitted-params.ts';
import { type RiskScoreInputs, computeRiskScore } from '../domain/risk-score.ts';
import type { Observation } from '../domain/trigger-engine.ts';
import { type TriggerRule, normaliseTriggerRule } from '../domain/trigger-rule.ts';
import type { FittedParams } from '../domain/fitted-params.ts';

/**
 * The fit behind `npm run calibrate` (docs/pricing.md): a Poisson regression of each asset's
 * hazard under a grid of reference rules on its risk-score factors, with one intercept per
 * rule and non-negative, ridge-penalised factor coefficients. The coefficients become the
 * score's weights (scaled to 100 points) and the log-hazard slope per point; the
 * dispersion of hazards around the fit is the gamma shape of the credibility prior.
 */
export interface FitAsset {
  inputs: RiskScoreInputs;
  series: readonly Observation[];
}

/** BINARY rules from 0.5% to 10% below the peg, confirmed at once or after 1, 3 or 7 days. */
export const REFERENCE_RULES: TriggerRule[] = ['0.995', '0.99', '0.98', '0.97', '0.95', '0.9'].flatMap((threshold) =>
  [0, 86_400, 3 * 86_400, 7 * 86_400].map((window) =>
    normaliseTriggerRule({ threshold, direction: 'BELOW', recoveryThreshold: threshold, window, payout: 'BINARY' }),
  ),
);

const UNIT_WEIGHTS = Object.fromEntries(FACTOR_NAMES.map((n) => [n, 1])) as Record<FactorName, number>;

/** The factor values (each in [0, 1]) of an asset, in FACTOR_NAMES order. */
export function factorValues(inputs: RiskScoreInputs): number[] {
  const byName = new Map(computeRiskScore(inputs, UNIT_WEIGHTS).factors.map((f) => [f.name, Number(f.value)]));
  return FACTOR_NAMES.map((n) => byName.get(n) ?? 0);
}

export interface FitOptions {
  version: string;
  fittedOn: string;
  ridge?: number;
  priorPseudoCount?: number;
  severityCredibility?: number;
}

export interface FitResult {
  params: FittedParams;
  /** Per asset and reference rule: observed and fitted hazard-years. */
  cells: number;
  coefficients: number[];
  intercepts: number[];
}

export function fitModel(assets: readonly FitAsset[], options: FitOptions): FitResult {
  const ridge = options.ridge ?? 0.5;
  const pseudo = options.priorPseudoCount ?? 0.5;
  const x = assets.map((a) => factorValues(a.inputs));
  // Years of history, as summariseExperience counts them (first to last day, inclusive).
  const years = assets.map((a) => {
    const first = a.series[0];
    const last = a.series.at(-1);
    return first && last ? ((last.at - first.at) / 86_400_000 + 1) / 365 : 0;
  });
  // y[r][i]: hazard-years of asset i under reference rule r (a Poisson quasi-count).
  const y = REFERENCE_RULES.map((rule) => assets.map((a, i) => summariseExperience(rule, a.series).hazard * (years[i] as number)));
  const k = FACTOR_NAMES.length;
  const beta = new Array<number>(k).fill(0);
  const linear = () => x.map((xi) => xi.reduce((s, v, j) => s + v * (beta[j] as number), 0));
  const intercepts = () => {
    const eta = linear();
    return y.map((yr) => {
      const events = yr.reduce((s, v) => s + v, 0) + pseudo;
      const exposure = eta.reduce((s, e, i) => s + (years[i] as number) * Math.exp(e), 0);
      return Math.log(events / exposure);
    });
  };
  let a = intercepts();
  for (let sweep = 0; sweep < 200; sweep++) {
    let moved = 0;
    for (let j = 0; j < k; j++) {
      const eta = linear();
      let grad = -2 * ridge * (beta[j] as number);
      let hess = -2 * ridge;
      y.forEach((yr, r) => {
        yr.forEach((yi, i) => {
          const m = (years[i] as number) * Math.exp((a[r] as number) + (eta[i] as number));
          const v = (x[i] as number[])[j] as number;
          grad += (yi - m) * v;
          hess -= m * v * v;
        });
      });
      const next = Math.max(0, (beta[j] as number) - grad / hess);
      moved = Math.max(moved, Math.abs(next - (beta[j] as number)));
      beta[j] = next;
      a = intercepts();
    }
    if (moved < 1e-9) break;
  }
  const total = beta.reduce((s, b) => s + b, 0);
  const weights = total > 0 ? largestRemainder(beta.map((b) => (100 * b) / total)) : [20, 15, 15, 20, 15, 15];
  // Dispersion: method of moments over every cell, Var(y) = m + m^2 / alpha.
  const eta = linear();
  let num = 0;
  let den = 0;
  y.forEach((yr, r) => {
    yr.forEach((yi, i) => {
      const m = (years[i] as number) * Math.exp((a[r] as number) + (eta[i] as number));
      num += m * m;
      den += (yi - m) ** 2 - m;
    });
  });
  const dispersion = Math.min(20, Math.max(0.05, den > 0 ? num / den : 20));
  return {
    params: {
      version: options.version,
      fittedOn: options.fittedOn,
      scoreWeights: Object.fromEntries(FACTOR_NAMES.map((n, j) => [n, weights[j] as number])) as Record<FactorName, number>,
      slopePerPoint: round(total / 100),
      dispersion: round(dispersion),
      priorPseudoCount: pseudo,
      severityCredibility: options.severityCredibility ?? 3,
    },
    cells: y.length * assets.length,
    coefficients: beta.map(round),
    intercepts: a.map(round),
  };
}

const round = (v: number) => Number(v.toPrecision(6));

/** Whole numbers summing to 100, each the floor or ceiling of its share. */
function largestRemainder(shares: number[]): number[] {
  const floors = shares.map(Math.floor);
  let left = 100 - floors.reduce((s, v) => s + v, 0);
  const order = shares.map((s, i) => [s - Math.floor(s), i] as const).sort((p, q) => q[0] - p[0]);
  for (const [, i] of order) {
    if (left <= 0) break;
    floors[i] = (floors[i] as number) + 1;
    left--;
  }
  return floors;
}
