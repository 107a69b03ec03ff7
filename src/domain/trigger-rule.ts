import { badInput } from './errors.ts';
import { Decimal, decimalString } from './decimal.ts';
import { isDecimalString } from './money.ts';

export type Direction = 'BELOW' | 'ABOVE';
export type PayoutKind = 'BINARY' | 'PROPORTIONAL' | 'TIERED';

export interface PayoutTier {
  /** The band applies when the settlement value is at or beyond this bound (BELOW: value <= bound). */
  bound: string;
  ratio: string;
}

/** docs/design.md §5: the objective rule of a risk, its payout rule, and its data requirements. */
export interface TriggerRule {
  threshold: string;
  direction: Direction;
  recoveryThreshold: string;
  /** Confirmation window in seconds. */
  window: number;
  payout: PayoutKind;
  peg: string | null;
  maxRatio: string;
  tiers: PayoutTier[];
}

export interface TriggerRuleInput {
  threshold: string;
  direction: Direction;
  recoveryThreshold: string;
  window: number;
  payout?: PayoutKind | null;
  peg?: string | null;
  maxRatio?: string | null;
  tiers?: PayoutTier[] | null;
}

export const DEFAULT_MAX_RATIO = '0.2';

function decimalField(value: string, field: string): Decimal {
  if (!isDecimalString(value)) throw badInput(`${field} must be a decimal string such as "0.995"`, { field });
  return new Decimal(value);
}

function ratioField(value: string, field: string): Decimal {
  const ratio = decimalField(value, field);
  if (ratio.lte(0) || ratio.gt(1)) throw badInput(`${field} must be greater than 0 and at most 1`, { field });
  return ratio;
}

/** Validates and normalises a rule; the result is what is stored and versioned. */
export function normaliseTriggerRule(input: TriggerRuleInput): TriggerRule {
  const threshold = decimalField(input.threshold, 'threshold');
  const recovery = decimalField(input.recoveryThreshold, 'recoveryThreshold');
  if (input.direction !== 'BELOW' && input.direction !== 'ABOVE')
    throw badInput('direction must be BELOW or ABOVE', { field: 'direction' });
  if (input.direction === 'BELOW' ? recovery.lt(threshold) : recovery.gt(threshold)) {
    throw badInput(`recoveryThreshold must be on the safe side of threshold (${input.direction === 'BELOW' ? '>=' : '<='} threshold)`, {
      field: 'recoveryThreshold',
    });
  }
  if (!Number.isInteger(input.window) || input.window < 0 || input.window > 365 * 86_400) {
    throw badInput('window must be a whole number of seconds from 0 to one year', { field: 'window' });
  }
  const payout = input.payout ?? 'BINARY';
  let peg: string | null = null;
  let maxRatio = '1';
  let tiers: PayoutTier[] = [];
  if (payout === 'PROPORTIONAL') {
    if (input.peg == null) throw badInput('peg is required for a PROPORTIONAL payout', { field: 'peg' });
    const pegValue = decimalField(input.peg, 'peg');
    if (pegValue.lte(0)) throw badInput('peg must be positive', { field: 'peg' });
    peg = decimalString(pegValue, 18);
    maxRatio = decimalString(ratioField(input.maxRatio ?? DEFAULT_MAX_RATIO, 'maxRatio'), 18);
  } else if (payout === 'TIERED') {
    if (!input.tiers || input.tiers.length === 0 || input.tiers.length > 20) {
      throw badInput('a TIERED payout needs 1 to 20 tiers', { field: 'tiers' });
    }
    tiers = input.tiers.map((tier, i) => ({
      bound: decimalString(decimalField(tier.bound, `tiers[${i}].bound`), 18),
      ratio: decimalString(ratioField(tier.ratio, `tiers[${i}].ratio`), 18),
    }));
    maxRatio = decimalString(Decimal.max(...tiers.map((t) => new Decimal(t.ratio))), 18);
  } else if (payout !== 'BINARY') {
    throw badInput('payout must be BINARY, PROPORTIONAL or TIERED', { field: 'payout' });
  }
  return {
    threshold: decimalString(threshold, 18),
    direction: input.direction,
    recoveryThreshold: decimalString(recovery, 18),
    window: input.window,
    payout,
    peg,
    maxRatio,
    tiers,
  };
}

/**
 * The shortest confirmation window of a rule read from a contract (docs/design.md §5,
 * "Manipulation"): a contract's state can be moved for a block or a few (a donation, a flash
 * loan, a pumped oracle, a block later reorganised away), so a fall must hold this long.
 */
export const MIN_CONTRACT_WINDOW_SECONDS = 60;

export function requireManipulationWindow(window: number): void {
  if (Number.isInteger(window) && window < MIN_CONTRACT_WINDOW_SECONDS) {
    throw badInput(
      `window must be at least ${MIN_CONTRACT_WINDOW_SECONDS} s for a rule read from a contract: a contract's state can be moved for a block`,
      { field: 'window' },
    );
  }
}

/** At or past `bound` in the rule's direction (below it for BELOW, above for ABOVE). */
export function beyond(value: Decimal, bound: string, direction: TriggerRule['direction']): boolean {
  return direction === 'BELOW' ? value.lte(bound) : value.gte(bound);
}
