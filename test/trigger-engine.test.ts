import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { implausibility } from '../src/domain/plausible-value.ts';
import { aggregate, backtest } from '../src/domain/trigger-engine.ts';
import { payoutRatio } from '../src/domain/payout.ts';
import { normaliseTriggerRule } from '../src/domain/trigger-rule.ts';
import { loadUsdcFixture } from './usdc-fixture.ts';

const rule = (patch: Record<string, unknown> = {}) =>
  normaliseTriggerRule({
    threshold: '0.995',
    direction: 'BELOW',
    recoveryThreshold: '0.999',
    window: 86400,
    payout: 'PROPORTIONAL',
    peg: '1',
    maxRatio: '0.2',
    ...patch,
  });

describe('trigger engine (docs/design.md §5)', () => {
  test('the March 2023 USDC depeg triggers and confirms at the published rounds', () => {
    const series = loadUsdcFixture();
    assert.equal(series.length, 400);
    const result = backtest(rule(), series);
    const roundAt = (at: number) => series.find((o) => o.at === at)?.roundId;
    assert.deepEqual(
      result.events.map((e) => [e.state, roundAt(e.at), e.value]),
      [
        ['TRIGGERED', '36893488147419104091', '0.99209183'],
        ['CONFIRMED', '36893488147419104334', '0.9753'],
      ],
    );
    assert.equal(result.events[0]?.at, 1678497491_000);
    assert.equal(result.events[1]?.at, 1678583975_000);
    assert.equal(result.settlementValue, '0.9753');
    assert.equal(result.payoutRatio, '0.0247');
  });

  test('confirmation is checked before recovery, and a recovery re-arms', () => {
    const r = rule({ window: 10 });
    const t = (s: number) => s * 1000;
    const recovered = backtest(r, [
      { value: '1', at: t(0) },
      { value: '0.99', at: t(1) },
      { value: '0.9995', at: t(5) },
      { value: '0.98', at: t(20) },
      { value: '0.97', at: t(31) },
    ]);
    assert.deepEqual(
      recovered.events.map((e) => [e.state, e.at / 1000]),
      [
        ['TRIGGERED', 1],
        ['RECOVERED', 5],
        ['TRIGGERED', 20],
        ['CONFIRMED', 31],
      ],
    );
    // After the window a recovered value still confirms, and settles at that value.
    const late = backtest(r, [
      { value: '0.99', at: t(0) },
      { value: '1', at: t(11) },
    ]);
    assert.deepEqual(
      late.events.map((e) => e.state),
      ['TRIGGERED', 'CONFIRMED'],
    );
    assert.equal(late.settlementValue, '1');
    assert.equal(late.payoutRatio, '0');
    // Exactly at the window is not yet past it.
    assert.deepEqual(
      backtest(r, [
        { value: '0.99', at: t(0) },
        { value: '0.99', at: t(10) },
      ]).events.map((e) => e.state),
      ['TRIGGERED'],
    );
  });

  test('window 0 confirms at the triggering observation; ABOVE mirrors BELOW', () => {
    const zero = backtest(rule({ window: 0 }), [{ value: '0.99', at: 5000 }]);
    assert.deepEqual(zero.events, [
      { state: 'TRIGGERED', at: 5000, value: '0.99' },
      { state: 'CONFIRMED', at: 5000, value: '0.99' },
    ]);
    const above = normaliseTriggerRule({ threshold: '1.05', direction: 'ABOVE', recoveryThreshold: '1.01', window: 0, payout: 'BINARY' });
    const r = backtest(above, [
      { value: '1.04', at: 0 },
      { value: '1.05', at: 1000 },
    ]);
    assert.equal(r.events[0]?.at, 1000);
    assert.equal(r.payoutRatio, '1');
  });

  test('payout rules: proportional clamps to maxRatio, tiers pick the deepest band reached', () => {
    assert.equal(payoutRatio(rule(), '0.5'), '0.2');
    assert.equal(payoutRatio(rule(), '1.01'), '0');
    const tiered = rule({
      payout: 'TIERED',
      peg: null,
      maxRatio: null,
      tiers: [
        { bound: '0.98', ratio: '0.1' },
        { bound: '0.9', ratio: '0.5' },
      ],
    });
    assert.equal(payoutRatio(tiered, '0.99'), '0');
    assert.equal(payoutRatio(tiered, '0.95'), '0.1');
    assert.equal(payoutRatio(tiered, '0.9'), '0.5');
  });

  test('the aggregate is the median, and of an even count the middle value on the no-trigger side', () => {
    assert.equal(aggregate(['1', '0.5', '0.999'], 'BELOW'), '0.999');
    assert.equal(aggregate(['1', '0.5', '0.999'], 'ABOVE'), '0.999');
    // Two sources: one alone can never decide; a trigger needs both.
    assert.equal(aggregate(['1', '-1000000'], 'BELOW'), '1');
    assert.equal(aggregate(['1', '0.97'], 'BELOW'), '1');
    assert.equal(aggregate(['0.97', '0.96'], 'BELOW'), '0.97');
    assert.equal(aggregate(['1', '5'], 'ABOVE'), '1');
    assert.equal(aggregate(['0.9', '0.99', '1', '1.01'], 'BELOW'), '1');
    assert.equal(aggregate(['0.9', '0.99', '1', '1.01'], 'ABOVE'), '0.99');
  });

  test('a value no honest source could give is implausible', () => {
    assert.match(implausibility('-1000000', false, {}) ?? '', /negative/);
    assert.match(implausibility('0', false, {}) ?? '', /not positive/);
    assert.equal(implausibility('0', true, {}), null);
    assert.equal(implausibility('0.97', false, { minValue: '0.5', maxValue: '2' }), null);
    assert.match(implausibility('0.1', false, { minValue: '0.5' }) ?? '', /below the feed's minimum/);
    assert.match(implausibility('3', false, { maxValue: '2' }) ?? '', /above the feed's maximum/);
  });
});
