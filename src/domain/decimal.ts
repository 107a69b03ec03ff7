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

export function ratio(num: bigint, den: bigint): Decimal {
  return new Decimal(num.toString()).div(new Decimal(den.toString()));
}

/** A non-negative decimal as an exact fraction n / 10^places (a Decimal is always one). */
export interface Scaled {
  n: bigint;
  places: number;
  den: bigint;
}

/** `value` (non-negative) as n / 10^places, exactly. */
export function scaledOf(value: Decimal): Scaled {
  const [whole, frac = ''] = value.toFixed().split('.');
  return { n: BigInt(`${whole}${frac}`), places: frac.length, den: 10n ** BigInt(frac.length) };
}

/**
 * n / 10^places as decimalString writes it: rounded half-even to `dp` places, trailing zeros
 * trimmed, in bigint arithmetic (no Decimal made).
 */
export function scaledString(n: bigint, places: number, dp: number): string {
  let q = n;
  if (places > dp) {
    const unit = 10n ** BigInt(places - dp);
    q = n / unit;
    const r = n % unit;
    if (2n * r > unit || (2n * r === unit && q % 2n === 1n)) q += 1n;
  } else {
    q = n * 10n ** BigInt(dp - places);
  }
  const digits = q.toString().padStart(dp + 1, '0');
  const whole = digits.slice(0, digits.length - dp);
  const frac = digits.slice(digits.length - dp).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}
