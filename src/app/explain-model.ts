import { createHash } from 'node:crypto';
import type { RiskRecord } from '../domain/risk.ts';
import { type ModelExplanation, type StoredExplanation, explain } from '../domain/loss-model.ts';
import { decimalString } from '../domain/decimal.ts';
import { riskRates, unsimulatedCapitalShare } from '../domain/pricing.ts';
import { type RiskLossModel, type Source, lossModelOf, lossTermsOf } from './loss-models.ts';

const explanations = new WeakMap<RiskLossModel, Map<number, ModelExplanation>>();

/** The model's terms for a quote of `days`: worked out once per model (a risk's revision) and term, shared by its quotes. */
export function explainModel(model: RiskLossModel, days: number): ModelExplanation {
  let byTerm = explanations.get(model);
  if (!byTerm) explanations.set(model, (byTerm = new Map()));
  let e = byTerm.get(days);
  if (!e) byTerm.set(days, (e = explain(model.model, model.experience, model.prior, model.posterior, model.burningCost[days] ?? 0)));
  return e;
}

const stored = new WeakMap<ModelExplanation, StoredExplanation>();

/** The explanation's id: the hash of its content, so a day's model and term give one row however many processes price from it. */
export function storedExplanation(terms: ModelExplanation): StoredExplanation {
  let s = stored.get(terms);
  if (!s) stored.set(terms, (s = { id: `mex_${createHash('sha256').update(JSON.stringify(terms)).digest('hex').slice(0, 32)}`, terms }));
  return s;
}

/** A risk's pricing on a one-year term, before utilisation and the platform fee (Risk.pricing). */
export interface AnnualPricing extends ModelExplanation {
  asOf: number;
  priorAssets: number;
  priorYears: string;
  annualBurningCost: string;
  annualExpectedLoss: string;
  annualUncertaintyLoad: string;
  annualCapitalLoad: string;
  annualSkimLoad: string;
  annualRate: string;
}

export async function annualPricing(ports: Source, risk: RiskRecord): Promise<AnnualPricing> {
  const model = await lossModelOf(ports, risk);
  const loss = lossTermsOf(model, 365);
  // The capital a pool that has not simulated the cover charges it (domain/pricing.ts): the figure a quote in a new pool starts from.
  const unsimulated = unsimulatedCapitalShare(loss.capitalDiversified);
  const rates = riskRates(
    { durationDays: 365, maxPayoutRatio: risk.maxPayoutRatio, loss, capitalShare: unsimulated },
    ports.config.pricing,
  );
  const explained = explainModel(model, 365);
  return {
    ...explained,
    asOf: model.asOf,
    priorAssets: model.prior.assets,
    priorYears: model.prior.years.toFixed(2),
    annualBurningCost: explained.burningCost,
    annualExpectedLoss: decimalString(rates.expectedLoss),
    annualUncertaintyLoad: decimalString(rates.uncertainty),
    annualCapitalLoad: decimalString(rates.capital),
    annualSkimLoad: decimalString(rates.skim),
    annualRate: decimalString(rates.total),
  };
}
