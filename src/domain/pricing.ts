import { badInput } from './errors.ts';
import { Decimal, type Scaled, decimalString, scaledOf, scaledString } from './decimal.ts';
import { mulDivUp } from './money.ts';
import { defaultSaleWindow } from './sale-window.ts';

/**
 * docs/pricing.md. The premium of a cover is its expected loss for the term plus explicit
 * loads, grossed up for the backstop skim and multiplied by the utilisation curve; the
 * platform fee comes on top. Every number here is configuration; the defaults are in
 * `defaultPricing`. The expected loss itself comes from the risk's loss model (domain/loss-model.ts).
 */
export interface PricingParams {
  /**
   * Annual cost of the capital a cover holds (10%: what underwriters' capital earns in a
   * comparable risk; docs/pricing.md). The capital it holds is its share of its pool's
   * simulated ES 99% (`capitalShare`), less its expected loss, which the premium itself covers.
   */
  costOfCapital: string;
  /** The posterior hazard quantile behind the parameter-uncertainty load. */
  uncertaintyQuantile: number;
  /** Refuse (RISK_DECLINED) cover whose expected loss for the term is above this fraction of the amount. */
  maxExpectedLoss: string;
  /** Share of the premium the backstop skim takes at target, which the premium is grossed up for. */
  skimLoadBps: number;
  /**
   * A flat annual rate per unit of cover instead of the loss model (d/365, no loads): for
   * reconciliation tests and sandboxes that need premiums they can work out by hand. Unset in production.
   */
  flatAnnualRate?: string;
  /** Utilisation kink k and slopes s1, s2 of the multiplier curve. */
  kink: string;
  slope1: string;
  slope2: string;
  /** Platform fee in whole basis points of the premium. */
  feeBps: number;
  minDays: number;
  maxDays: number;
  /** Quote validity in seconds. */
  quoteTtlSeconds: number;
  /** When an ARMED risk's cover is not sold: near its threshold, and after a trigger recovered (domain/sale-window.ts). */
  nearThresholdBand: string;
  coolOffSeconds: number;
  /**
   * Seconds after a purchase before its cover starts: an incident that triggers in them does
   * not pay the policy (the term still runs from the purchase). 0 by default: the near-
   * threshold band and the paused sales of a TRIGGERED risk already refuse cover on an
   * incident that is developing; an operator who sells cover on feeds slower than its buyers sets one.
   */
  waitingSeconds: number;
}

export const defaultPricing: PricingParams = {
  costOfCapital: '0.1',
  uncertaintyQuantile: 0.75,
  maxExpectedLoss: '0.25',
  skimLoadBps: 1_000,
  kink: '0.8',
  slope1: '0.5',
  slope2: '4',
  feeBps: 500,
  minDays: 7,
  maxDays: 365,
  quoteTtlSeconds: 60,
  waitingSeconds: 0,
  ...defaultSaleWindow,
};

/** Capital held per unit of exposure, as decimal strings: each risk's of a pool, and the pool's book's (null: no book yet). */
export interface CapitalShares {
  risks: Record<string, string>;
  book: string | null;
}

/**
 * The capital a unit of exposure holds outside a simulated book (a pool with no book yet, a
 * risk's annual figures, the validation): 0.2, what a book diversified across correlation
 * groups holds at ES 99% (the eight fiat-backed coins' capped 0.97 / 24 h covers as one book
 * hold 0.205 of their exposure; docs/pricing.md), which keeps such a cover's capital load at
 * 10% x 0.2 = 2% of its exposure. A pool's own simulation replaces it as soon as it has run:
 * a concentrated book holds, and charges, far more.
 */
export const UNPOOLED_CAPITAL_SHARE = 0.2;

/**
 * The capital a cover holds per unit of its exposure (docs/pricing.md, "Capital as a common
 * shock"): its risk's share of the pool's ES 99% in the last adequacy run over the risk's
 * exposure (its marginal contribution, with the pool's diversification); for a risk that run
 * did not see, the book's ES 99% over its exposure; for a pool with no book yet,
 * UNPOOLED_CAPITAL_SHARE; either at most what the cover holds in a diversified book of like
 * covers (`diversified`, where the loss model gives it: smart-contract failure, whose covers
 * are on independent protocols; domain/exploit-prior.ts, diversifiedCapital).
 */
export function capitalShare(adequacy: { capital: CapitalShares }, riskId: string, diversified?: number): number {
  const simulated = adequacy.capital.risks[riskId];
  if (simulated !== undefined) return Number(simulated);
  const book = adequacy.capital.book;
  return unsimulatedCapitalShare(diversified, book === null ? UNPOOLED_CAPITAL_SHARE : Number(book));
}

/** The capital share of a cover no adequacy run has seen: `fallback` (an empty book's, UNPOOLED_CAPITAL_SHARE), at most its diversified share. */
export const unsimulatedCapitalShare = (diversified: number | undefined, fallback = UNPOOLED_CAPITAL_SHARE) =>
  diversified === undefined ? fallback : Math.min(fallback, diversified);

/** What the loss model says of a cover, per unit of cover, for its term. */
export interface LossTerms {
  expectedLoss: number;
  uncertainty: number;
  /** The capital a unit of exposure holds in a diversified book of like covers, where the loss model gives it. */
  capitalDiversified?: number;
}

export interface PremiumInput {
  amount: bigint;
  durationDays: number;
  /** Exposure per unit of cover: the rule's largest payout ratio. */
  maxPayoutRatio: string;
  loss: LossTerms;
  /** Capital held per unit of exposure (`capitalShare`). */
  capitalShare: number;
  /** Utilisation of the binding capacity cap before and after this purchase, in [0, 1]. */
  utilisationBefore: Decimal;
  utilisationAfter: Decimal;
  /** What the two utilisations are worked out from (CapacityCheck's), naming them for the caches without printing them. */
  utilisationKey?: string | undefined;
  /** Minimum premium in base units of the pool's asset. */
  minPremium: bigint;
  /**
   * The annual rate the pool's curator asks for the risk, in basis points of the amount (issue
   * 72): the rate before utilisation is the greater of it (for the term) and the model's, so a
   * curator prices above the floor and never below it.
   */
  targetRateBps?: number | null | undefined;
}

/** Every term of a premium, as decimal fractions of the cover amount for the term unless named otherwise. */
export interface PremiumBreakdown {
  expectedLoss: string;
  uncertaintyLoad: string;
  capitalLoad: string;
  /** Capital held per unit of exposure, behind the capital load. */
  capitalShare: string;
  skimLoad: string;
  /** expectedLoss + the three loads: the model's premium rate before utilisation, the floor. */
  riskPremiumRate: string;
  /** The curator's asked annual rate, where one is set (the rate before utilisation is the greater of it for the term and riskPremiumRate). */
  targetAnnualRate?: string | undefined;
  utilisationBefore: string;
  utilisationAfter: string;
  utilisationMultiplier: string;
  /** The premium rate for the term, and annualised (x 365 / days), for comparison only. */
  termRate: string;
  annualRate: string;
  termFraction: string;
  /** Premium before the minimum, exact decimal in base units. */
  rawPremium: string;
  minimumApplied: boolean;
  premium: bigint;
  fee: bigint;
  total: bigint;
}

/** A float from the loss model as an exact decimal, to 12 places (a base unit of 10^12 cover). */
const fromModel = (v: number) => new Decimal(Math.max(0, v).toFixed(12));

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
  const key = `${before.toString()}|${after.toString()}`;
  let byParams = multiplierCache.get(params);
  if (!byParams) multiplierCache.set(params, (byParams = new Map()));
  let m = byParams.get(key);
  if (!m) {
    if (byParams.size >= 10_000) byParams.clear();
    m = after.lte(before)
      ? utilisationMultiplier(before, params)
      : multiplierIntegral(after, params).sub(multiplierIntegral(before, params)).div(after.sub(before));
    byParams.set(key, m);
  }
  return m;
}

/** Mean multipliers by the utilisation a purchase spans: the pool's utilisation moves only when cover is bought. */
const multiplierCache = new WeakMap<PricingParams, Map<string, Decimal>>();

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
  if (durationDays * 86_400 <= params.waitingSeconds) {
    throw badInput(
      `durationDays must be longer than the waiting period (${params.waitingSeconds / 86_400} days): cover would never start`,
      {
        field: 'durationDays',
        waitingSeconds: params.waitingSeconds,
      },
    );
  }
}

/** A cover's expected loss and loads per unit of its amount, for its term, before utilisation. */
export interface RiskRates {
  expectedLoss: Decimal;
  uncertainty: Decimal;
  capital: Decimal;
  skim: Decimal;
  /** Their sum: the premium rate before utilisation. */
  total: Decimal;
}

/**
 * EL, the uncertainty load, the capital load costOfCapital x (capital held per unit - EL) x
 * d/365, the capital held per unit being the capital share times the exposure per unit, and
 * the skim gross-up; or the flat rate x d/365 alone when one is configured.
 */
export function riskRates(
  input: Pick<PremiumInput, 'durationDays' | 'maxPayoutRatio' | 'loss' | 'capitalShare'>,
  params: PricingParams,
): RiskRates {
  // The same risk, term, market and capital share give the same rates: worked out once (a
  // quote's decimal arithmetic is the largest part of its CPU otherwise).
  const key = `${input.durationDays}|${input.maxPayoutRatio}|${input.loss.expectedLoss}|${input.loss.uncertainty}|${input.capitalShare}`;
  let byParams = rateCache.get(params);
  if (!byParams) rateCache.set(params, (byParams = new Map()));
  let rates = byParams.get(key);
  if (!rates) {
    if (byParams.size >= 10_000) byParams.clear();
    byParams.set(key, (rates = computeRiskRates(input, params)));
  }
  return rates;
}

const rateCache = new WeakMap<PricingParams, Map<string, RiskRates>>();

const stringsOfRates = new WeakMap<RiskRates, ReturnType<typeof rateStringsOf>>();

/** A breakdown's strings of its rates and the utilisation span, one object (spread into each breakdown at once). */
type RateStrings = Omit<PremiumBreakdown, 'rawPremium' | 'minimumApplied' | 'premium' | 'fee' | 'total'>;
const atUtilisation = new WeakMap<RiskRates, Map<string, { termRate: Scaled; strings: RateStrings }>>();

/** The term rate at the utilisation a purchase spans, and its breakdown's strings: once per rates and utilisation span. */
function ratesAt(
  rates: RiskRates,
  input: Pick<
    PremiumInput,
    'utilisationBefore' | 'utilisationAfter' | 'utilisationKey' | 'durationDays' | 'capitalShare' | 'targetRateBps'
  >,
  params: PricingParams,
) {
  const target = input.targetRateBps ?? null;
  const key = `${input.utilisationKey ?? `${input.utilisationBefore.toString()}|${input.utilisationAfter.toString()}`}|${target ?? ''}`;
  let byUtilisation = atUtilisation.get(rates);
  if (!byUtilisation) atUtilisation.set(rates, (byUtilisation = new Map()));
  let at = byUtilisation.get(key);
  if (!at) {
    if (byUtilisation.size >= 1_000) byUtilisation.clear();
    const m = meanMultiplier(input.utilisationBefore, input.utilisationAfter, params);
    const term = termOf(input.durationDays);
    const asked = target === null ? null : new Decimal(target).div(10_000);
    const base = asked === null ? rates.total : Decimal.max(rates.total, asked.mul(term.fraction));
    const termRate = base.mul(m);
    at = {
      termRate: scaledOf(termRate),
      strings: {
        ...rateStrings(rates, input.capitalShare),
        targetAnnualRate: asked === null ? undefined : decimalString(asked),
        utilisationBefore: decimalString(input.utilisationBefore),
        utilisationAfter: decimalString(input.utilisationAfter),
        utilisationMultiplier: decimalString(m),
        termRate: decimalString(termRate),
        annualRate: decimalString(termRate.div(term.fraction)),
        termFraction: term.text,
      },
    };
    byUtilisation.set(key, at);
  }
  return at;
}

/** A breakdown's strings of its rates, once per rates (they are cached with them). */
function rateStrings(rates: RiskRates, capitalShare: number) {
  let s = stringsOfRates.get(rates);
  if (!s) stringsOfRates.set(rates, (s = rateStringsOf(rates, capitalShare)));
  return s;
}

function rateStringsOf(rates: RiskRates, capitalShare: number) {
  return {
    expectedLoss: decimalString(rates.expectedLoss),
    uncertaintyLoad: decimalString(rates.uncertainty),
    capitalLoad: decimalString(rates.capital),
    capitalShare: decimalString(fromModel(capitalShare), 6),
    skimLoad: decimalString(rates.skim),
    riskPremiumRate: decimalString(rates.total),
  };
}

function computeRiskRates(
  input: Pick<PremiumInput, 'durationDays' | 'maxPayoutRatio' | 'loss' | 'capitalShare'>,
  params: PricingParams,
): RiskRates {
  const term = termOf(input.durationDays);
  const zero = new Decimal(0);
  if (params.flatAnnualRate !== undefined) {
    const flat = new Decimal(params.flatAnnualRate).mul(term.fraction);
    return { expectedLoss: flat, uncertainty: zero, capital: zero, skim: zero, total: flat };
  }
  const el = fromModel(input.loss.expectedLoss);
  const uncertainty = fromModel(input.loss.uncertainty);
  const held = Decimal.max(0, new Decimal(input.maxPayoutRatio).mul(fromModel(input.capitalShare)).sub(el));
  const capital = new Decimal(params.costOfCapital).mul(held).mul(term.fraction);
  const share = new Decimal(params.skimLoadBps).div(10_000);
  const skim = el.add(uncertainty).add(capital).mul(share).div(ONE.sub(share));
  return { expectedLoss: el, uncertainty, capital, skim, total: el.add(uncertainty).add(capital).add(skim) };
}

/**
 * premium = amount x (EL + uncertainty + capital) / (1 - skim) x mean(m), rounded up to the
 * base unit (against the buyer, as every rounding of an amount owed to the pool), then at
 * least the minimum; the fee on top. The capital load is the cost of the capital the cover
 * holds for its term: costOfCapital x (capital share x exposure per unit - EL) x d/365.
 */
export function pricePremium(input: PremiumInput, params: PricingParams): PremiumBreakdown {
  validateTerm(input.durationDays, params);
  const rates = riskRates(input, params);
  const at = ratesAt(rates, input, params);
  // amount x the term rate, exactly (the rate is a finite decimal n / 10^places).
  const { n, places, den } = at.termRate;
  const computed = mulDivUp(input.amount, n, den);
  const minimumApplied = computed < input.minPremium;
  const premium = minimumApplied ? input.minPremium : computed;
  const fee = mulDivUp(premium, BigInt(params.feeBps), 10_000n);
  return {
    ...at.strings,
    rawPremium: scaledString(input.amount * n, places, 6),
    minimumApplied,
    premium,
    fee,
    total: premium + fee,
  };
}

/**
 * One breakdown of a cover written in parts (issue 72: several pools, or several risks): each
 * part's rates weighted by its share of the amount. The loads carry each part's own utilisation
 * multiplier, so a load times the blended multiplier is the parts' sum of it; the premium, the
 * fee and the raw premium are sums; the asked rate shown is the highest of the parts'.
 */
export function blendBreakdowns(parts: ReadonlyArray<{ amount: bigint; price: PremiumBreakdown }>): PremiumBreakdown {
  const [first] = parts;
  if (!first) throw new Error('a cover has at least one part');
  if (parts.length === 1) return first.price;
  const total = new Decimal(parts.reduce((s, p) => s + p.amount, 0n).toString());
  const weight = parts.map((p) => new Decimal(p.amount.toString()).div(total));
  const mean = (f: (b: PremiumBreakdown) => Decimal) =>
    parts.reduce((s, p, i) => s.add(f(p.price).mul(weight[i] as Decimal)), new Decimal(0));
  const m = mean((b) => new Decimal(b.utilisationMultiplier));
  const load = (f: (b: PremiumBreakdown) => string) => decimalString(mean((b) => new Decimal(f(b)).mul(b.utilisationMultiplier)).div(m));
  const targets = parts.map((p) => p.price.targetAnnualRate).filter((t): t is string => t !== undefined);
  const sum = (f: (b: PremiumBreakdown) => bigint) => parts.reduce((s, p) => s + f(p.price), 0n);
  return {
    expectedLoss: load((b) => b.expectedLoss),
    uncertaintyLoad: load((b) => b.uncertaintyLoad),
    capitalLoad: load((b) => b.capitalLoad),
    skimLoad: load((b) => b.skimLoad),
    riskPremiumRate: load((b) => b.riskPremiumRate),
    capitalShare: decimalString(
      mean((b) => new Decimal(b.capitalShare)),
      6,
    ),
    targetAnnualRate: targets.length === 0 ? undefined : targets.reduce((a, b) => (new Decimal(b).gt(a) ? b : a)),
    utilisationBefore: decimalString(mean((b) => new Decimal(b.utilisationBefore))),
    utilisationAfter: decimalString(mean((b) => new Decimal(b.utilisationAfter))),
    utilisationMultiplier: decimalString(m),
    termRate: decimalString(mean((b) => new Decimal(b.termRate))),
    annualRate: decimalString(mean((b) => new Decimal(b.annualRate))),
    termFraction: first.price.termFraction,
    rawPremium: parts.reduce((s, p) => s.add(p.price.rawPremium), new Decimal(0)).toFixed(),
    minimumApplied: parts.some((p) => p.price.minimumApplied),
    premium: sum((b) => b.premium),
    fee: sum((b) => b.fee),
    total: sum((b) => b.total),
  };
}
