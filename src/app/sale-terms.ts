import type { Distributor } from '../domain/cover.ts';
import type { RiskRecord } from '../domain/risk.ts';
import type { CapacityCheck } from '../domain/capacity.ts';
import { type BaseError, badInput, riskDeclined, salesPaused } from '../domain/errors.ts';
import { Decimal } from '../domain/decimal.ts';
import { isBeyond } from '../domain/trigger-engine.ts';
import { coolOffUntil, inNearBand, saleLimit } from '../domain/sale-window.ts';
import { OWN_RULE, signalReadings } from '../domain/risk-signals.ts';
import { lossModelOf } from './loss-models.ts';
import { lossTermsAt, marketNow } from './market-now.ts';
import { RUN_TESTED_DAYS, type RunTest } from '../domain/loss-model.ts';
import { DAY_MS } from '../domain/experience.ts';
import { type LossTerms, type PremiumBreakdown, capitalShare, pricePremium, riskRates } from '../domain/pricing.ts';
import type { PoolRecord } from '../domain/pool.ts';
import { recipientAddress } from './viewer.ts';
import type { Deps } from './deps.ts';

// Whether a cover is sold now and at what, in one pool: the refusals, the loss model over the
// term, the price in a pool, the floor, a distributor's terms (the quotes and the sale share them).

/**
 * Why cover on the risk is not sold now, whatever its term (docs/pricing.md): its trigger is
 * not ARMED; the value of its rule or of any of its signals is past that one's threshold, or
 * near it (not recovered, or inside the band), and the refusal names the signal;
 * or a trigger recovered less than the cool-off ago. Null when it is sold.
 */
export function stateRefusal(deps: Deps, risk: RiskRecord, now: number): BaseError | null {
  if (risk.state !== 'ARMED')
    return salesPaused(`sales of ${risk.name} are paused while its trigger is ${risk.state}`, { riskId: risk.id, state: risk.state });
  const { nearThresholdBand } = deps.config.pricing;
  // Every signal of the risk, its own rule first: any one near its trigger closes sales.
  for (const { name, rule, value } of signalReadings(risk)) {
    if (value === null) continue;
    const what = name === OWN_RULE ? risk.name : `${risk.name}'s signal ${name}`;
    const signal = name === OWN_RULE ? {} : { signal: name };
    if (isBeyond(rule, value)) {
      return riskDeclined(`${what} is beyond its threshold now (${value}); cover is not sold until it is back`, {
        riskId: risk.id,
        reason: 'BEYOND_THRESHOLD',
        value,
        threshold: rule.threshold,
        ...signal,
      });
    }
    if (inNearBand(rule, value, nearThresholdBand)) {
      const limit = saleLimit(rule, nearThresholdBand);
      return riskDeclined(
        `${what} reads ${value}, too near its threshold ${rule.threshold}: cover is sold again once it is back ${rule.direction === 'BELOW' ? 'at or above' : 'at or below'} ${limit}`,
        { riskId: risk.id, reason: 'NEAR_THRESHOLD', value, threshold: rule.threshold, saleLimit: limit, ...signal },
      );
    }
  }
  const reopensAt = coolOffUntil(risk.stateChangedAt, now, deps.config.pricing);
  if (reopensAt !== null) {
    return salesPaused(
      `a trigger of ${risk.name} recovered at ${new Date(risk.stateChangedAt as number).toISOString()}: sales reopen at ${new Date(reopensAt).toISOString()}`,
      { riskId: risk.id, reason: 'COOL_OFF', reopensAt: new Date(reopensAt).toISOString() },
    );
  }
  return null;
}

/**
 * The loss model of the risk and the cover's expected loss over the term, where the asset
 * trades now, with the last close that tested a run-class design's threshold within a year
 * (none under a configured flat rate: docs/pricing.md).
 */
export async function lossOver(deps: Deps, risk: RiskRecord, durationDays: number) {
  const model = deps.config.pricing.flatAnnualRate !== undefined ? null : await lossModelOf(deps, risk);
  if (!model) return { model, market: null, loss: { expectedLoss: 0, uncertainty: 0 }, runTested: null };
  const market = marketNow(risk, deps.config.pricing.nearThresholdBand, { series: model.series, at: deps.clock.now() });
  return { model, market, loss: lossTermsAt(model, durationDays, market), runTested: model.runTested };
}

/**
 * Why the loss model declines the cover, or null: a design that fails by a run closed beyond
 * the rule's threshold within RUN_TESTED_DAYS (its run was tested and stopped; docs/pricing.md,
 * "The tails"), or the expected loss over the term is above the ceiling.
 */
export function lossRefusal(
  deps: Deps,
  risk: Pick<RiskRecord, 'id' | 'name' | 'rule'>,
  priced: { loss: { expectedLoss: number }; runTested: RunTest | null },
  durationDays: number,
): BaseError | null {
  const { loss, runTested } = priced;
  if (runTested) {
    const day = (at: number) => new Date(at).toISOString().slice(0, 10);
    const reopens = runTested.at + (RUN_TESTED_DAYS + 1) * DAY_MS;
    return riskDeclined(
      `${risk.name} closed at ${runTested.value} on ${day(runTested.at)}, beyond its threshold ${risk.rule.threshold}: a design that fails by a run, once pushed through its threshold, is not covered under it until a year has passed (${day(reopens)})`,
      {
        riskId: risk.id,
        reason: 'RUN_TESTED',
        value: runTested.value,
        threshold: risk.rule.threshold,
        testedAt: new Date(runTested.at).toISOString(),
        reopensAt: new Date(reopens).toISOString(),
      },
    );
  }
  if (loss.expectedLoss <= Number(deps.config.pricing.maxExpectedLoss)) return null;
  return riskDeclined(
    `the expected loss of this cover (${(100 * loss.expectedLoss).toFixed(2)}% of the amount over ${durationDays} days) is above the ceiling of ${new Decimal(deps.config.pricing.maxExpectedLoss).mul(100).toString()}%`,
    {
      riskId: risk.id,
      reason: 'EXPECTED_LOSS_ABOVE_CEILING',
      expectedLoss: loss.expectedLoss.toFixed(6),
      ceiling: deps.config.pricing.maxExpectedLoss,
    },
  );
}

/** A cover's price in one pool, at the utilisation its capacity check found. */
export function priceIn(
  deps: Deps,
  c: {
    risk: { id: string; maxPayoutRatio: string };
    pool: Pick<PoolRecord, 'adequacy'>;
    loss: LossTerms;
    check: Pick<CapacityCheck, 'utilisationBefore' | 'utilisationAfter' | 'utilisationKey'>;
    amount: bigint;
    durationDays: number;
    minPremium: bigint;
    /** The curator's asked annual rate for the risk in this pool (exposureFor's), if any. */
    targetRateBps?: number | null;
    /** What a bundle's items hold together over apart (app/bundle-capital.ts): the capital share is multiplied by it. */
    capitalFactor?: string | undefined;
  },
): PremiumBreakdown {
  const share = capitalShare(c.pool.adequacy, c.risk.id, c.loss.capitalDiversified);
  return pricePremium(
    {
      amount: c.amount,
      durationDays: c.durationDays,
      maxPayoutRatio: c.risk.maxPayoutRatio,
      loss: c.loss,
      capitalShare: c.capitalFactor === undefined || c.capitalFactor === '1' ? share : share * Number(c.capitalFactor),
      utilisationBefore: c.check.utilisationBefore,
      utilisationAfter: c.check.utilisationAfter,
      utilisationKey: c.check.utilisationKey,
      minPremium: c.minPremium,
      targetRateBps: c.targetRateBps,
    },
    deps.config.pricing,
  );
}

/**
 * A distributor as given (issue 72): an address (not the zero address) and a commission of 0 to
 * the configured bound (MAX_COMMISSION_BPS, 20% of the premium by default), else BAD_USER_INPUT.
 */
export function distributorOf(deps: Deps, d: { address: string; commissionBps: number }): Distributor {
  const address = recipientAddress(d.address, 'distributor.address');
  const max = deps.config.maxCommissionBps;
  if (!Number.isInteger(d.commissionBps) || d.commissionBps < 0 || d.commissionBps > max)
    throw badInput(`distributor.commissionBps must be 0 to ${max} basis points of the premium (at most ${max / 100}%)`, {
      field: 'distributor.commissionBps',
      maximum: max,
    });
  return { address, commissionBps: d.commissionBps };
}

/** The reference term of a pool's floor rate (PoolRisk.floorRateBps). */
export const FLOOR_REFERENCE_DAYS = 30;

/**
 * A pool's floor for a risk (issue 72): the model's annual premium rate before utilisation
 * (expected loss, uncertainty and the cost of the capital the cover holds in this pool, grossed
 * up for the skim) at the reference term, in basis points of the cover amount, rounded up. No
 * cover is sold below the model's rate for its own term: a curator's target under the floor is
 * refused when set, and the model's rate applies whenever the market lifts it above the target.
 */
export async function floorRateBps(deps: Deps, snap: { pool: Pick<PoolRecord, 'adequacy'> }, risk: RiskRecord): Promise<number> {
  const loss: LossTerms = (await lossOver(deps, risk, FLOOR_REFERENCE_DAYS)).loss;
  const rates = riskRates(
    {
      durationDays: FLOOR_REFERENCE_DAYS,
      maxPayoutRatio: risk.maxPayoutRatio,
      loss,
      capitalShare: capitalShare(snap.pool.adequacy, risk.id, loss.capitalDiversified),
    },
    deps.config.pricing,
  );
  return Number(rates.total.mul(365).div(FLOOR_REFERENCE_DAYS).mul(10_000).ceil().toFixed(0));
}
