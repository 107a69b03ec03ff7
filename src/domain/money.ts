import { badInput } from './errors.ts';

/** 1e18: the scale of "wad" fixed-point numbers used for rates that must stay exact. */
export const WAD = 10n ** 18n;

const INTEGER = /^(0|[1-9][0-9]*)$/;
const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * The largest amount accepted anywhere (2^128 - 1 base units): far above any real balance,
 * and far enough below NUMERIC(78,0) that sums of such amounts cannot overflow.
 */
export const MAX_AMOUNT = 2n ** 128n - 1n;

/** Parses a base-unit integer string (the GraphQL BigInt scalar). */
export function parseAmount(value: string, field = 'amount'): bigint {
  if (typeof value !== 'string' || !INTEGER.test(value) || value.length > 78) {
    throw badInput(`${field} must be a non-negative integer string in base units`, { field });
  }
  const amount = BigInt(value);
  if (amount > MAX_AMOUNT) throw badInput(`${field} must be at most ${MAX_AMOUNT} base units`, { field, maximum: MAX_AMOUNT.toString() });
  return amount;
}

export function parsePositiveAmount(value: string, field = 'amount'): bigint {
  const amount = parseAmount(value, field);
  if (amount <= 0n) throw badInput(`${field} must be greater than zero`, { field });
  return amount;
}

/** True if `value` is a plain decimal string (no exponent, no leading zeros). */
export function isDecimalString(value: string): boolean {
  return typeof value === 'string' && value.length <= 80 && DECIMAL.test(value);
}

/** floor(a * b / d) for non-negative operands. */
export function mulDivDown(a: bigint, b: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('division by zero');
  return (a * b) / d;
}

/** ceil(a * b / d) for non-negative operands. */
export function mulDivUp(a: bigint, b: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('division by zero');
  const p = a * b;
  return p === 0n ? 0n : (p - 1n) / d + 1n;
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
