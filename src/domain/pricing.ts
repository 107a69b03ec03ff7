import { badInput } from './errors.ts';
import { Decimal, ceilToBigInt, decimalString } from './decimal.ts';

/** docs/design.md §3. Every number is configuration; the defaults are in `defaultPricing`. */
export interface PricingParams {
  /** Annual rate at score 0, as a decimal string (0.005 = 0.5%). */
  rMin: string;
  /** Annual rate at score 100. */
  rMax: string;
  /** Utilisation kink k and slopes s1, s2 of the multiplier curve. */
  kink: string;
  slope1: string;
  slope2: string;
  /** Platform fee as basis points of the premium. */
  feeBps: number;
  minDays: number;
  maxDays: number;
  /** Quote validity in seconds. */
  quoteTtlSeconds: number;
}

export const defaultPricing: PricingParams = {
  rMin: '0.005',
  rMax: '0.40',
  kink: '0.8',
  slope1: '0.5',
  slope2: '4',
  feeBps: 500,
  minDays: 7,
  maxDays: 365,
  quoteTtlSeconds: 60,
};

export interface PremiumInput {
  amount: bigint;
  durationDays: number;
  /** Risk score 0-100 as a decimal string. */
  score: string;
  /** Utilisation of the binding capacity cap before and after this purchase, in [0, 1]. */
  utilisationBefore: Decimal;
  utilisationAfter: Decimal;
  /** Minimum premium in base units of the pool's asset. */
  minPremium: bigint;
}

export interface PremiumBreakdown {
  score: string;
  baseRate: string;
  utilisationBefore: string;
  utilisationAfter: string;
  utilisationMultiplier: string;
  annualRate: string;
  termFraction: string;
  /** Premium before the minimum, exact decimal in base units. */
  rawPremium: string;
  minimumApplied: boolean;
  premium: bigint;
  fee: bigint;
  total: bigint;
}

const baseRates = new Map<string, { rate: Decimal; text: string }>();

/**
 * r0 = rMin * (rMax/rMin)^(score/100): log-linear in the score, with its decimal string (for a
 * quote's breakdown and the API). The power is the costliest step of a quote and depends only
 * on these three numbers, so results are remembered (a bounded cache; Decimal values are
 * immutable).
 */
export function baseRateOf(score: string, params: PricingParams): { rate: Decimal; text: string } {
  const key = `${score}|${params.rMin}|${params.rMax}`;
  let entry = baseRates.get(key);
  if (!entry) {
    const rMin = new Decimal(params.rMin);
    const rMax = new Decimal(params.rMax);
    const rate = rMin.mul(rMax.div(rMin).pow(new Decimal(score).div(100)));
    entry = { rate, text: decimalString(rate) };
    if (baseRates.size >= 10_000) baseRates.clear();
    baseRates.set(key, entry);
  }
  return entry;
}

/** The base rate r0 (baseRateOf). */
export function baseRate(score: string, params: PricingParams): Decimal {
  return baseRateOf(score, params).rate;
}

interface Curve {
  k: Decimal;
  s1: Decimal;
  s2: Decimal;
  /** The terms of the formulas below that depend on the parameters only. */
  oneMinusK: Decimal;
  twoK: Decimal;
  twoOneMinusK: Decimal;
  halfS1K: Decimal;
}

const curves = new Map<string, Curve>();
const ONE = new Decimal(1);

/** The multiplier curve's numbers, worked out once per parameter set (as baseRate remembers its rate). */
function curveOf(params: PricingParams): Curve {
  const key = `${params.kink}|${params.slope1}|${params.slope2}`;
  let curve = curves.get(key);
  if (!curve) {
    const [k, s1, s2] = [new Decimal(params.kink), new Decimal(params.slope1), new Decimal(params.slope2)];
    const oneMinusK = ONE.sub(k);
    curve = { k, s1, s2, oneMinusK, twoK: k.mul(2), twoOneMinusK: oneMinusK.mul(2), halfS1K: s1.mul(k).div(2) };
    if (curves.size >= 100) curves.clear();
    curves.set(key, curve);
  }
  return curve;
}

/** m(u) = 1 + s1*min(u,k)/k + s2*max(0,u-k)/(1-k). */
export function utilisationMultiplier(u: Decimal, params: PricingParams): Decimal {
  const { k, s1, s2, oneMinusK } = curveOf(params);
  return ONE.add(s1.mul(Decimal.min(u, k)).div(k)).add(s2.mul(Decimal.max(0, u.sub(k))).div(oneMinusK));
}

/** ∫0^u m(x) dx, in closed form, so the path average is exact. */
function multiplierIntegral(u: Decimal, params: PricingParams): Decimal {
  const { k, s1, s2, twoK, twoOneMinusK, halfS1K } = curveOf(params);
  if (u.lte(k)) return u.add(s1.mul(u.pow(2)).div(twoK));
  const over = u.sub(k);
  return u
    .add(halfS1K)
    .add(s1.mul(over))
    .add(s2.mul(over.pow(2)).div(twoOneMinusK));
}

/**
 * The mean of m over the utilisation a purchase spans, from before to after, so that
 * splitting an order into pieces never makes it cheaper.
 */
export function meanMultiplier(before: Decimal, after: Decimal, params: PricingParams): Decimal {
  if (after.lte(before)) return utilisationMultiplier(before, params);
  return multiplierIntegral(after, params).sub(multiplierIntegral(before, params)).div(after.sub(before));
}

const terms = new Map<number, { fraction: Decimal; text: string }>();

/** d/365 and its decimal string, once per whole number of days. */
function termOf(days: number): { fraction: Decimal; text: string } {
  let term = terms.get(days);
  if (!term) {
    const fraction = new Decimal(days).div(365);
    term = { fraction, text: decimalString(fraction) };
    if (terms.size >= 10_000) terms.clear();
    terms.set(days, term);
  }
  return term;
}

export function validateTerm(durationDays: number, params: PricingParams): void {
  if (!Number.isInteger(durationDays) || durationDays < params.minDays || durationDays > params.maxDays) {
    throw badInput(`durationDays must be a whole number of days from ${params.minDays} to ${params.maxDays}`, {
      field: 'durationDays',
      minDays: params.minDays,
      maxDays: params.maxDays,
    });
  }
}

/**
 * premium = A * r0 * mean(m) * d/365, rounded up to the base unit (against the buyer, as
 * every rounding of an amount owed to the pool), then at least the minimum; fee on top.
 */
export function pricePremium(input: PremiumInput, params: PricingParams): PremiumBreakdown {
  validateTerm(input.durationDays, params);
  const r0 = baseRateOf(input.score, params);
  const m = meanMultiplier(input.utilisationBefore, input.utilisationAfter, params);
  const annualRate = r0.rate.mul(m);
  const term = termOf(input.durationDays);
  const raw = new Decimal(input.amount.toString()).mul(annualRate).mul(term.fraction);
  const computed = ceilToBigInt(raw);
  const minimumApplied = computed < input.minPremium;
  const premium = minimumApplied ? input.minPremium : computed;
  const fee = ceilToBigInt(new Decimal(premium.toString()).mul(params.feeBps).div(10_000));
  return {
    score: input.score,
    baseRate: r0.text,
    utilisationBefore: decimalString(input.utilisationBefore),
    utilisationAfter: decimalString(input.utilisationAfter),
    utilisationMultiplier: decimalString(m),
    annualRate: decimalString(annualRate),
    termFraction: term.text,
    rawPremium: decimalString(raw, 6),
    minimumApplied,
    premium,
    fee,
    total: premium + fee,
  };
}
