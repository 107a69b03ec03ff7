import { Decimal, decimalString } from './decimal.ts';

/**
 * A reading as a fraction of the trailing maximum (for share-price falls, docs/design.md §3):
 * raw / max(raw, the earlier maxima of the window), "0" when the maximum is zero.
 */
export function ofTrailingMax(raw: string, earlierMaxima: ReadonlyArray<string | null>): string {
  const max = Decimal.max(new Decimal(raw), ...earlierMaxima.filter((m): m is string => m !== null).map((m) => new Decimal(m)));
  return max.isZero() ? '0' : decimalString(new Decimal(raw).div(max), 18);
}
