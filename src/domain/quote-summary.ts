import { largestRemainder } from './allocation.ts';
import { Decimal } from './decimal.ts';
import type { PremiumBreakdown } from './pricing.ts';

type Parts = Pick<
  PremiumBreakdown,
  'expectedLoss' | 'uncertaintyLoad' | 'capitalLoad' | 'skimLoad' | 'utilisationMultiplier' | 'termFraction' | 'minimumApplied'
> &
  Pick<Partial<PremiumBreakdown>, 'targetAnnualRate'>;

/**
 * A quote in one plain line, before the model's terms (`Quote.summary`): what it costs a year
 * as a share of the cover, and what that is made of, e.g.
 *
 *   "1.12% a year of the cover: expected loss 0.61%, uncertainty 0.2%, capital 0.2%, backstop skim 0.01%, platform fee 0.1%"
 *
 * Each part is annualised and carries the utilisation multiplier, so the parts are the
 * premium and the fee; rounded to the precision shown by the largest remainder, they add up
 * to the total shown. Pricing's own figures (the lines) stay exact.
 */
export function quoteSummary(b: Parts, amount: bigint, premium: bigint, fee: bigint, commission = 0n): string {
  if (amount <= 0n) return '';
  const year = new Decimal(b.termFraction);
  const m = new Decimal(b.utilisationMultiplier);
  const annual = (term: string) => new Decimal(term).mul(m).div(year);
  const perYear = (units: bigint) => new Decimal(units.toString()).div(amount.toString()).div(year);
  const loads: Array<[string, Decimal]> = [
    ['expected loss', annual(b.expectedLoss)],
    ['uncertainty', annual(b.uncertaintyLoad)],
    ['capital', annual(b.capitalLoad)],
    ['backstop skim', annual(b.skimLoad)],
  ];
  // The premium charged (a minimum premium or rounding up to a base unit adds to the model's rate): the difference is named.
  const charged = perYear(premium);
  const modelled = loads.reduce((sum, [, v]) => sum.add(v), new Decimal(0));
  if (charged.sub(modelled).gt(modelled.mul('0.005')))
    loads.push([
      b.minimumApplied ? 'minimum premium' : b.targetAnnualRate !== undefined ? "the pool's price above the model" : 'rounding',
      charged.sub(modelled),
    ]);
  const parts: Array<[string, Decimal]> = [
    ...loads,
    ['platform fee', perYear(fee)],
    ...(commission > 0n ? [['distributor commission', perYear(commission)] as [string, Decimal]] : []),
  ];
  const total = charged.add(perYear(fee)).add(perYear(commission));
  const dp = places(total.mul(100));
  const shown = roundedToTotal(
    parts.map(([, v]) => v.mul(100)),
    total.mul(100),
    dp,
  );
  const pct = (v: Decimal) => `${v.toFixed(dp).replace(/\.?0+$/, '') || '0'}%`;
  // A part that rounds to nothing is left out: what is shown still adds up.
  const kept = parts.map((p, i) => [p[0], shown[i] as Decimal] as const).filter(([, v]) => !v.isZero());
  return `${pct(total.mul(100).toDecimalPlaces(dp))} a year of the cover: ${kept.map(([name, v]) => `${name} ${pct(v)}`).join(', ')}`;
}

/** Two decimals of a percent, more for a small one, so that it shows two significant digits. */
function places(percent: Decimal): number {
  if (percent.gte(0.1) || percent.isZero()) return 2;
  return Math.min(6, 1 - Math.floor(Math.log10(percent.toNumber())));
}

/**
 * Rounds `values` to `dp` places so that they add up to `total` rounded the same way: the
 * total's units shared in proportion to the values (domain/allocation.ts), each value
 * weighed to 12 more places than shown.
 */
function roundedToTotal(values: Decimal[], total: Decimal, dp: number): Decimal[] {
  const unit = new Decimal(10).pow(-dp);
  const weight = (v: Decimal) => BigInt(v.div(unit).mul(1e12).floor().toFixed(0));
  const units = largestRemainder(BigInt(total.div(unit).toDecimalPlaces(0).toFixed(0)), values.map(weight));
  return units.map((u) => unit.mul(u.toString()));
}
