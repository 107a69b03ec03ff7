import { badInput } from './errors.ts';
import { Decimal, decimalString } from './decimal.ts';
import { isDecimalString } from './money.ts';
import { fitted } from './fitted-model.ts';
import type { FactorName } from './fitted-params.ts';

/**
 * The risk score: 0-100, higher is riskier. Each factor maps an observable fact to a risk
 * value in [0, 1]; its contribution is weight x value, and the score is their sum, so a buyer
 * can see exactly why a risk costs what it does. The weights are fitted parameters: `npm run
 * calibrate` fits them to the depegs of the shipped cross-section (docs/pricing.md), and the
 * model's version names the fit.
 */
export const RISK_SCORE_MODEL_VERSION = fitted.version;

export type Level = 'LOW' | 'MEDIUM' | 'HIGH';

export interface RiskScoreInputs {
  /** Independent security audits of the covered protocol or issuer. */
  audits: number;
  /** Days since the protocol or stablecoin went live. */
  daysLive: number;
  /** Value secured, in whole US dollars. */
  valueSecuredUsd: bigint;
  /** Past incidents with loss or depeg. */
  pastIncidents: number;
  /** Quality of the oracles the trigger relies on. */
  oracleQuality: Level;
  /** Degree of centralised control (admin keys, issuer freeze powers). */
  centralisation: Level;
}

export interface RiskFactor {
  name: string;
  description: string;
  input: string;
  /** Risk value in [0, 1]. */
  value: string;
  /** Points at value 1. */
  weight: number;
  /** weight x value, in score points. */
  contribution: string;
}

export interface RiskScore {
  model: string;
  score: string;
  factors: RiskFactor[];
}

const LEVEL_RISK = { LOW: 0, MEDIUM: 0.5, HIGH: 1 } as const;

function requireCount(value: number, field: string, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw badInput(`${field} must be a whole number from 0 to ${max}`, { field });
  }
}

/** Scores with the given weights (points at value 1, summing to 100); the model's are the fitted ones. */
export function computeRiskScore(inputs: RiskScoreInputs, weights: Readonly<Record<FactorName, number>> = fitted.scoreWeights): RiskScore {
  requireCount(inputs.audits, 'audits', 1000);
  requireCount(inputs.daysLive, 'daysLive', 100_000);
  requireCount(inputs.pastIncidents, 'pastIncidents', 1000);
  if (inputs.valueSecuredUsd < 0n) throw badInput('valueSecuredUsd must not be negative', { field: 'valueSecuredUsd' });
  const one = new Decimal(1);
  const clamp = (d: Decimal) => Decimal.max(0, Decimal.min(one, d));
  const values: Array<[FactorName, string, string, Decimal]> = [
    [
      'audits',
      'Each independent audit halves, then thirds ... the residual risk: 1/(1+audits)',
      String(inputs.audits),
      one.div(inputs.audits + 1),
    ],
    [
      'timeLive',
      'Risk falls linearly to 0 over three years live',
      `${inputs.daysLive} days`,
      clamp(one.sub(new Decimal(inputs.daysLive).div(1095))),
    ],
    [
      'valueSecured',
      'Value secured is a bounty and a track record: 1 - log10(usd)/10',
      `${inputs.valueSecuredUsd} USD`,
      clamp(one.sub(new Decimal(inputs.valueSecuredUsd.toString()).add(1).log(10).div(10))),
    ],
    [
      'pastIncidents',
      'Each past incident adds a third, capped at 1',
      String(inputs.pastIncidents),
      clamp(new Decimal(inputs.pastIncidents).div(3)),
    ],
    [
      'oracleQuality',
      'LOW quality oracles make triggers less reliable',
      inputs.oracleQuality,
      new Decimal(LEVEL_RISK[invertLevel(inputs.oracleQuality)]),
    ],
    [
      'centralisation',
      'Admin keys and freeze powers concentrate failure',
      inputs.centralisation,
      new Decimal(LEVEL_RISK[inputs.centralisation]),
    ],
  ];
  let total = new Decimal(0);
  const factors = values.map(([name, description, input, value]) => {
    const weight = weights[name];
    const contribution = value.mul(weight);
    total = total.add(contribution);
    return { name, description, input, value: decimalString(value, 6), weight, contribution: decimalString(contribution, 4) };
  });
  return { model: RISK_SCORE_MODEL_VERSION, score: decimalString(total, 2), factors };
}

/** High oracle quality means low risk. */
function invertLevel(level: Level): Level {
  return level === 'HIGH' ? 'LOW' : level === 'LOW' ? 'HIGH' : 'MEDIUM';
}

export function validateScoreOverride(score: string): string {
  if (!isDecimalString(score)) throw badInput('score must be a decimal string such as "42.5"', { field: 'score' });
  const value = new Decimal(score);
  if (value.lt(0) || value.gt(100)) throw badInput('score must be between 0 and 100', { field: 'score' });
  return decimalString(value, 2);
}
