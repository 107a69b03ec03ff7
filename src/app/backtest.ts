import { Decimal } from '../domain/decimal.ts';
import { badInput, under } from '../domain/errors.ts';
import { isDecimalString } from '../domain/money.ts';
import { type BacktestResult, backtest } from '../domain/trigger-engine.ts';
import { type TriggerRuleInput, normaliseTriggerRule } from '../domain/trigger-rule.ts';
import type { Viewer } from './viewer.ts';

/** The most observations one backtest takes from a signed-in caller. */
export const MAX_BACKTEST_OBSERVATIONS = 20_000;
/**
 * From an anonymous caller: 20,000 observations took 364 ms (issue 57's measure); 2,000 answered
 * in 34 ms here (test/anonymous-costs.test.ts), within the ~100 ms an anonymous request may cost.
 */
export const MAX_ANONYMOUS_BACKTEST_OBSERVATIONS = 2_000;

/** The public backtest: the watcher's engine over a caller's rule and series. */
export function runBacktest(
  viewer: Viewer | null,
  rule: TriggerRuleInput,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
): BacktestResult {
  if (observations.length === 0)
    throw badInput('a backtest needs at least one observation (the series is empty)', { field: 'observations' });
  const max = viewer ? MAX_BACKTEST_OBSERVATIONS : MAX_ANONYMOUS_BACKTEST_OBSERVATIONS;
  if (observations.length > max) {
    throw badInput(
      viewer
        ? `a backtest takes at most ${max} observations`
        : `a backtest takes at most ${max} observations without signing in (${MAX_BACKTEST_OBSERVATIONS} signed in)`,
      { field: 'observations', maximum: max },
    );
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
