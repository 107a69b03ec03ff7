import { Decimal } from './decimal.ts';

/** Bounds a feed declares for its values (decimal strings), beyond which a value is refused. */
export interface ValueBounds {
  minValue?: string | undefined;
  maxValue?: string | undefined;
}

/**
 * Why a value cannot be a real reading of this feed, or null if it can. Prices and rates
 * (CHAINLINK, PUSH, HTTP) are positive; a CONTRACT_CALL may read zero (a balance, a paused
 * flag, a trailing-maximum ratio) but never a negative number. A feed may narrow that with
 * its own bounds. Refused values are never stored, so no reporter can move an aggregate
 * with a reading no honest source could give.
 */
export function implausibility(value: string | Decimal, zeroAllowed: boolean, bounds: ValueBounds): string | null {
  const v = typeof value === 'string' ? new Decimal(value) : value;
  if (v.isNegative() && !v.isZero()) return `value ${value} is negative`;
  if (v.isZero() && !zeroAllowed) return `value ${value} is not positive`;
  if (bounds.minValue !== undefined && v.lt(bounds.minValue)) return `value ${value} is below the feed's minimum ${bounds.minValue}`;
  if (bounds.maxValue !== undefined && v.gt(bounds.maxValue)) return `value ${value} is above the feed's maximum ${bounds.maxValue}`;
  return null;
}
