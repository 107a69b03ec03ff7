/**
 * Depeg covers near the threshold, as the held-back check groups them (issue 58, item 5):
 * 30-day covers of the validation (fit on the data before 2022 and sold in 2022; each coin
 * priced by the other 19), by how far above the threshold the price traded at the sale, and
 * the algorithmic class; then USDN's 30-day cover at 0.90 / 7 d as the API prices it.
 *
 *   npx tsx bench/near-threshold.ts
 */
import { buildLossModel, lossTermsOf } from '../src/app/loss-models.ts';
import { shippedCoins } from '../src/calibration/cross-section.ts';
import { type Sale, leaveOneOut, timeSplit } from '../src/calibration/validate.ts';
import { UNPOOLED_CAPITAL_SHARE, defaultPricing, riskRates } from '../src/domain/pricing.ts';
import { computeRiskScore } from '../src/domain/risk-score.ts';
import { normaliseTriggerRule } from '../src/domain/trigger-rule.ts';

const coins = shippedCoins();
const TERM = 30;
const show = (name: string, sales: readonly Sale[]) => {
  const cell = (label: string, pick: (s: Sale) => boolean) => {
    const l = sales.filter(pick);
    const premium = l.reduce((a, s) => a + s.premium, 0);
    const expected = l.reduce((a, s) => a + s.expectedLoss, 0);
    const paid = l.reduce((a, s) => a + s.paid, 0);
    console.log(
      `${name} ${label.padEnd(22)} covers ${String(l.length).padStart(6)}  premium ${((premium / l.length) * 100).toFixed(2)}%  loss ratio ${(paid / premium).toFixed(2)}  actual/expected ${(paid / expected).toFixed(2)}`,
    );
  };
  for (const kind of ['capped', 'binary'] as const) {
    cell(`${kind} within 1%`, (s) => s.kind === kind && s.above < 0.01);
    cell(`${kind} 1-3%`, (s) => s.kind === kind && s.above >= 0.01 && s.above < 0.03);
    cell(`${kind} beyond 3%`, (s) => s.kind === kind && s.above >= 0.03);
  }
  cell('algorithmic', (s) => s.backing === 'ALGORITHMIC');
  cell('all', () => true);
};
show('2022 split   ', timeSplit(coins, Date.UTC(2022, 0, 1), TERM));
show('leave one out', leaveOneOut(coins, TERM));

const usdn = coins.find((c) => c.id === 'neutrino');
if (!usdn) throw new Error('neutrino is not in the shipped data');
for (const payout of ['BINARY', 'PROPORTIONAL'] as const) {
  const rule = normaliseTriggerRule({
    threshold: '0.9',
    direction: 'BELOW',
    recoveryThreshold: '0.9',
    window: 7 * 86_400,
    payout,
    ...(payout === 'PROPORTIONAL' ? { peg: '1', maxRatio: '0.2' } : {}),
  });
  for (const backing of ['ALGORITHMIC', null] as const) {
    const score = computeRiskScore(usdn.inputs);
    const risk = {
      kind: 'DEPEG',
      rule,
      signals: [],
      scoreInputs: backing ? { backing } : {},
      scoreModel: score.model,
      modelScore: score.score,
      scoreOverride: null,
    };
    const model = buildLossModel(risk as never, usdn.series, 0, defaultPricing.uncertaintyQuantile);
    const rate = riskRates(
      { durationDays: TERM, maxPayoutRatio: rule.maxRatio, loss: lossTermsOf(model, TERM), capitalShare: UNPOOLED_CAPITAL_SHARE },
      defaultPricing,
    ).total.toNumber();
    console.log(`USDN ${payout.toLowerCase()} 0.90 / 7 d, ${backing ?? 'no backing named'}: ${(rate * 100).toFixed(2)}% for ${TERM} days`);
  }
}
