/**
 * Splits `amount` in proportion to `weights` by largest remainder: floors first, then one
 * unit each to the largest remainders, ties by position. The parts sum exactly to `amount`.
 */
export function largestRemainder(amount: bigint, weights: readonly bigint[]): bigint[] {
  const total = weights.reduce((s, w) => s + w, 0n);
  if (total === 0n || amount === 0n) return weights.map(() => 0n);
  const parts = weights.map((w) => (amount * w) / total);
  const order = weights
    .map((w, i) => ({ i, frac: (amount * w) % total }))
    .sort((a, b) => (b.frac > a.frac ? 1 : b.frac < a.frac ? -1 : a.i - b.i));
  let left = amount - parts.reduce((s, p) => s + p, 0n);
  for (const { i } of order) {
    if (left <= 0n) break;
    parts[i] = (parts[i] as bigint) + 1n;
    left--;
  }
  return parts;
}
