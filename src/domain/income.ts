import { largestRemainder } from './allocation.ts';

/**
 * Shares earned income among tranches in proportion to capital x weight (senior 1x, junior
 * and first-loss more), by largest remainder so the parts sum exactly; all to senior while
 * no tranche holds capital.
 */
export function shareIncome(
  tranches: ReadonlyArray<{ tranche: string; balance: bigint; weightBps: number }>,
  amount: bigint,
): Map<string, bigint> {
  const weights = tranches.map((t) => t.balance * BigInt(t.weightBps));
  const parts = weights.some((w) => w > 0n)
    ? largestRemainder(amount, weights)
    : tranches.map((t) => (t.tranche === 'SENIOR' ? amount : 0n));
  return new Map(tranches.map((t, i) => [t.tranche, parts[i] as bigint]));
}
