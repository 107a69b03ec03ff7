/**
 * Where a payout is computed: the share of cover an incident pays (from the rule and the
 * settlement value: docs/design.md §5) and what that makes one policy due.
 */
import { Decimal, decimalString } from './decimal.ts';
import { type TriggerRule, beyond } from './trigger-rule.ts';

/** docs/design.md §5 payout rules; the ratio is a decimal string in [0, 1]. */
export function payoutRatio(rule: TriggerRule, settlement: string): string {
  const value = new Decimal(settlement);
  if (rule.payout === 'BINARY') return '1';
  if (rule.payout === 'PROPORTIONAL') {
    const peg = new Decimal(rule.peg ?? '1');
    const raw = rule.direction === 'BELOW' ? peg.sub(value).div(peg) : value.sub(peg).div(peg);
    return decimalString(Decimal.min(rule.maxRatio, Decimal.max(0, raw)), 18);
  }
  let best = new Decimal(0);
  for (const tier of rule.tiers) {
    if (beyond(value, tier.bound, rule.direction) && new Decimal(tier.ratio).gt(best)) best = new Decimal(tier.ratio);
  }
  return decimalString(best, 18);
}

/**
 * What one policy is due when an incident settles: floor(amount x ratio), in base units.
 * The settlement computes the same in SQL (db/settlement-store.ts, `payoutDue`), for every
 * claim at once, and the waterfall (domain/waterfall.ts) then decides who pays that sum; a
 * property test (test/settlement.test.ts) holds the SQL and this together.
 */
export function policyPayout(amount: bigint, ratio: string): bigint {
  const [whole = '0', fraction = ''] = new Decimal(ratio).toFixed().split('.');
  const scale = 10n ** BigInt(fraction.length);
  return (amount * BigInt(whole + fraction)) / scale;
}
