import { Decimal } from '../domain/decimal.ts';
import { badInput, under } from '../domain/errors.ts';
import { isDecimalString } from '../domain/money.ts';
import { type BacktestResult, backtest } from '../domain/trigger-engine.ts';
import { type TriggerRuleInput, normaliseTriggerRule } from '../domain/trigger-rule.ts';

/** The most observations one backtest takes. */
export const MAX_BACKTEST_OBSERVATIONS = 20_000;

/** The public backtest: the watcher's engine over a caller's rule and series. */
export function runBacktest(rule: TriggerRuleInput, observations: ReadonlyArray<{ value: string; observedAt: number }>): BacktestResult {
  if (observations.length === 0)
    throw badInput('a backtest needs at least one observation (the series is empty)', { field: 'observations' });
  if (observations.length > MAX_BACKTEST_OBSERVATIONS) {
    throw badInput(`a backtest takes at most ${MAX_BACKTEST_OBSERVATIONS} observations`, { field: 'observations' });
  }
  for (const [i, o] of observations.entries())
    if (!isDecimalString(o.value))
      throw badInput(`observations[${i}].value must be a decimal string`, { field: `observations[${i}].value` });
  return backtest(
    under(['rule'], () => normaliseTriggerRule(rule)),
    // Values come back in canonical form ("0.97530000" -> "0.9753").
    observations.map((o) => ({ value: new Decimal(o.value).toFixed(), at: o.observedAt })),
  );
}
