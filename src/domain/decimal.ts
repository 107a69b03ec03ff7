import DecimalModule from 'decimal.js';

// decimal.js ships an ESM build whose default export is the class, but its CommonJS-style
// typings make TypeScript see the module object; this cast states what runs.
const DecimalJs = DecimalModule as unknown as typeof DecimalModule.Decimal;

/**
 * The one arbitrary-precision decimal used by the pricing and scoring maths, so results are
 * the same on every machine (no binary floats anywhere near money).
 */
export const Decimal = DecimalJs.clone({ precision: 50, rounding: DecimalJs.ROUND_HALF_EVEN, toExpNeg: -30, toExpPos: 40 });
export type Decimal = InstanceType<typeof Decimal>;

/** A plain decimal string with at most `dp` places, trailing zeros trimmed. */
export function decimalString(value: Decimal, dp = 12): string {
  const fixed = value.toDecimalPlaces(dp, DecimalJs.ROUND_HALF_EVEN).toFixed();
  return fixed === '-0' ? '0' : fixed;
}

/** Rounds a non-negative decimal up to an integer bigint. */
export function ceilToBigInt(value: Decimal): bigint {
  return BigInt(value.toDecimalPlaces(0, DecimalJs.ROUND_CEIL).toFixed(0));
}

export function ratio(num: bigint, den: bigint): Decimal {
  return new Decimal(num.toString()).div(new Decimal(den.toString()));
}
