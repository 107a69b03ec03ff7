/**
 * Amounts and ratios as people read them: the rule the dashboard (src/http/dashboard/format.js,
 * the same rule in the page's plain JavaScript), the SDK and the CLI scripts share. Amounts in
 * the asset, grouped, at most `maxDecimals` decimals (2 by default, never more than 6), exact
 * from base units (no floating point on the way); percentages, never ratios, at most two
 * decimals; never "-0" or "+0".
 */
export function formatAmount(base: bigint | string, decimals = 6, maxDecimals = 2): string {
  const text = new Intl.NumberFormat('en', { maximumFractionDigits: Math.min(maxDecimals, 6) }).format(units(BigInt(base), decimals));
  return /^-0(\.0+)?$/.test(text) ? '0' : text;
}

/** A ratio ("0.0374") as a percentage ("3.74%"). */
export function formatPercent(ratio: string | number): string {
  const text = new Intl.NumberFormat('en', { maximumFractionDigits: 2 }).format((Number(ratio) * 100) as number);
  return `${/^-0(\.0+)?$/.test(text) ? '0' : text}%`;
}

/**
 * Base units as an exact decimal string ("-1234.5"): Intl formats such a string without a float
 * on the way. (viem's formatUnits comes only from modules that bring its WebSocket transport,
 * which the SDK's platform-neutral bundle cannot carry.)
 */
function units(n: bigint, decimals: number): `${number}` {
  const abs = n < 0n ? -n : n;
  const scale = 10n ** BigInt(decimals);
  const fraction = decimals > 0 ? `.${(abs % scale).toString().padStart(decimals, '0')}` : '';
  return `${n < 0n ? '-' : ''}${abs / scale}${fraction}` as `${number}`;
}
