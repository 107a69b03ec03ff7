import { Decimal } from './decimal.ts';
import { badInput } from './errors.ts';
import { isDecimalString } from './money.ts';
import { type ValueBounds, implausibility } from './plausible-value.ts';

/**
 * The earliest time an imported observation may carry: no asset a risk covers traded before
 * (Tether, the first stablecoin, launched in October 2014; Ethereum in July 2015). A point
 * dated 1900 is a mistake or an attempt to pass a gap off as a century of calm.
 */
export const EARLIEST_HISTORY = Date.UTC(2014, 0, 1);

/** What an import is checked against: whether the feed may read zero (a CONTRACT_CALL), its bounds, and the time now. */
export interface ImportLimits {
  zeroAllowed: boolean;
  bounds: ValueBounds;
  now: number;
}

/**
 * Checks an import whole (docs/pricing.md, "History as data") and returns its points with
 * their values in canonical form, or throws BAD_USER_INPUT naming the first refused value:
 * positive decimals (zero for a contract call) within the feed's bounds, times after
 * 2014-01-01, in the past and strictly increasing. Pure: the API runs it off its event loop
 * (app/cpu-worker.ts), since 100,000 points take about a second.
 */
export function checkImport(
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  limits: ImportLimits,
): Array<{ at: number; value: string }> {
  const points: Array<{ at: number; value: string }> = [];
  let previous = Number.NEGATIVE_INFINITY;
  for (const [i, o] of observations.entries()) {
    const field = `observations[${i}]`;
    const value = isDecimalString(o.value) ? new Decimal(o.value) : null;
    if (value === null || (!value.gt(0) && !limits.zeroAllowed))
      throw badInput(`${field}.value must be a positive decimal string`, { field: `${field}.value`, index: i });
    if (!Number.isSafeInteger(o.observedAt))
      throw badInput(`${field}.observedAt is not a time`, { field: `${field}.observedAt`, index: i });
    if (o.observedAt < EARLIEST_HISTORY)
      throw badInput(
        `${field}.observedAt (${new Date(o.observedAt).toISOString()}) is before ${new Date(EARLIEST_HISTORY).toISOString().slice(0, 10)}, when no covered asset traded`,
        { field: `${field}.observedAt`, index: i },
      );
    const implausible = implausibility(value, limits.zeroAllowed, limits.bounds);
    if (implausible)
      throw badInput(`${field}.value: ${implausible}, outside what this feed can read`, { field: `${field}.value`, index: i });
    if (o.observedAt > limits.now)
      throw badInput(`${field}.observedAt (${new Date(o.observedAt).toISOString()}) is in the future: history is the past`, {
        field: `${field}.observedAt`,
        index: i,
      });
    if (o.observedAt <= previous)
      throw badInput(`${field}.observedAt is not after the observation before it: times must be strictly increasing`, {
        field: `${field}.observedAt`,
        index: i,
      });
    previous = o.observedAt;
    points.push({ at: o.observedAt, value: value.toFixed() });
  }
  return points;
}
