import { Decimal } from './decimal.ts';
import { memoByKey } from './memo.ts';
import type { TriggerRule } from './trigger-rule.ts';

/**
 * When cover is not sold although the trigger is ARMED (docs/pricing.md, "The market as it is
 * now"): close to the threshold, where a buyer who watches the market knows more than a
 * price from yesterday's closes, and for a while after a trigger recovered.
 */
export interface SaleWindow {
  /**
   * Sales stop while the value is within this fraction of the way from the threshold to the
   * calm value (the peg; 1 for a price or ratio that falls, 0 for a flag or count that rises),
   * and always while it has not recovered (between the threshold and the recovery threshold).
   */
  nearThresholdBand: string;
  /** Seconds after a trigger recovered (the risk re-armed) before sales reopen. */
  coolOffSeconds: number;
}

export const defaultSaleWindow: SaleWindow = { nearThresholdBand: '0.25', coolOffSeconds: 72 * 3_600 };

/** The value a rule is measured from when nothing is wrong. */
export function calmValue(rule: Pick<TriggerRule, 'peg' | 'direction'>): Decimal {
  return new Decimal(rule.peg ?? (rule.direction === 'BELOW' ? '1' : '0'));
}

/**
 * How far a value is from the threshold, in units of the distance from the threshold to the
 * calm value: 0 at the threshold, 1 at the peg, negative beyond the threshold; null when the
 * calm value is not on the safe side of the threshold (no scale to measure with).
 */
export function distanceToThreshold(rule: Pick<TriggerRule, 'peg' | 'direction' | 'threshold'>, value: string): number | null {
  return distances(`${rule.direction}|${rule.threshold}|${rule.peg}|${value}`, () => distanceOf(rule, value));
}

const distances = memoByKey<number | null>();
const limits = memoByKey<string>();

function distanceOf(rule: Pick<TriggerRule, 'peg' | 'direction' | 'threshold'>, value: string): number | null {
  const calm = calmValue(rule);
  const threshold = new Decimal(rule.threshold);
  const span = rule.direction === 'BELOW' ? calm.sub(threshold) : threshold.sub(calm);
  if (span.lte(0)) return null;
  const gap = rule.direction === 'BELOW' ? new Decimal(value).sub(threshold) : threshold.sub(value);
  return gap.div(span).toNumber();
}

/**
 * The value below which (BELOW; above which, ABOVE) cover is not sold: the recovery
 * threshold, or `band` of the way from the threshold to the calm value, whichever is safer.
 */
export function saleLimit(rule: Pick<TriggerRule, 'peg' | 'direction' | 'threshold' | 'recoveryThreshold'>, band: string): string {
  return limits(`${rule.direction}|${rule.threshold}|${rule.peg}|${rule.recoveryThreshold}|${band}`, () => limitOf(rule, band));
}

function limitOf(rule: Pick<TriggerRule, 'peg' | 'direction' | 'threshold' | 'recoveryThreshold'>, band: string): string {
  const threshold = new Decimal(rule.threshold);
  const towardsCalm = calmValue(rule).sub(threshold).mul(band);
  const banded = threshold.add(towardsCalm);
  const recovery = new Decimal(rule.recoveryThreshold);
  const safer = rule.direction === 'BELOW' ? Decimal.max(banded, recovery) : Decimal.min(banded, recovery);
  return safer.toString();
}

/** Whether `value` is inside the band where sales stop. */
export function inNearBand(
  rule: Pick<TriggerRule, 'peg' | 'direction' | 'threshold' | 'recoveryThreshold'>,
  value: string,
  band: string,
): boolean {
  return nearBand(`${saleLimit(rule, band)}|${rule.direction}|${value}`, () => {
    const limit = new Decimal(saleLimit(rule, band));
    return rule.direction === 'BELOW' ? new Decimal(value).lt(limit) : new Decimal(value).gt(limit);
  });
}

const nearBand = memoByKey<boolean>();

/** When sales reopen after a trigger recovered at `rearmedAt`, or null when they are open at `now`. */
export function coolOffUntil(rearmedAt: number | null, now: number, window: Pick<SaleWindow, 'coolOffSeconds'>): number | null {
  if (rearmedAt === null) return null;
  const until = rearmedAt + window.coolOffSeconds * 1_000;
  return now < until ? until : null;
}
