import type { RiskRecord } from '../domain/risk.ts';
import { DAY_MS } from '../domain/experience.ts';
import type { LossTerms } from '../domain/pricing.ts';
import type { Observation } from '../domain/trigger-engine.ts';
import type { TriggerRule } from '../domain/trigger-rule.ts';
import { shippedCoins } from '../calibration/cross-section.ts';
import {
  ARRIVAL_DAYS,
  type DistanceTable,
  type Motion,
  atDistance,
  fitDistanceTable,
  motionOf,
  multiplierAt,
  valueAt,
} from '../domain/market-distance.ts';
import { distanceToThreshold } from '../domain/sale-window.ts';
import { type RiskLossModel, lossTermsOf } from './loss-models.ts';

/** Where the asset trades now, and what that does to a quote's expected loss (issue 42, docs/pricing.md). */

const distanceTables = new Map<string, DistanceTable>();
const ruleKeys = new WeakMap<TriggerRule, string>();

/** The rule's distance table (domain/market-distance.ts), fitted once per rule and band on the shipped cross-section. */
export function distanceTableOf(rule: TriggerRule, band: string): DistanceTable {
  let ruleKey = ruleKeys.get(rule);
  if (ruleKey === undefined) ruleKeys.set(rule, (ruleKey = JSON.stringify(rule)));
  const key = `${ruleKey}|${band}`;
  let table = distanceTables.get(key);
  if (!table) {
    table = fitDistanceTable(
      rule,
      shippedCoins().map((c) => c.series),
      Number(band),
    );
    if (distanceTables.size >= 1_000) distanceTables.clear();
    distanceTables.set(key, table);
  }
  return table;
}

/** Where the asset trades now, as a quote prices it: its distance to the threshold (null: unknown), how it got there, and the multiplier they bring. */
export interface MarketNow {
  distance: number | null;
  /** Its motion over the week before (domain/market-distance.ts); null when the history has no close a week back. */
  motion: Motion | null;
  multiplier: number;
  /** The month's expected loss the distance holds the quote to at least (0: none; domain/market-distance.ts atDistance). */
  floor: number;
}

/**
 * The market as it is now: the risk's last value placed in its rule's distance table, by how
 * it moved since the close a week before (`series`, the daily closes the model was built
 * on). The table is fitted on stablecoins drifting towards a threshold; an exploit does not
 * drift (a share price is at its maximum until it is drained), so a smart-contract failure's
 * distance is shown and moves nothing.
 */
export function marketNow(
  risk: Pick<RiskRecord, 'kind' | 'rule' | 'lastValue'>,
  band: string,
  recent?: { series: readonly Observation[]; at: number },
): MarketNow {
  const distance = risk.lastValue === null ? null : distanceToThreshold(risk.rule, risk.lastValue);
  if (distance === null || risk.kind === 'SMART_CONTRACT_FAILURE') return { distance, motion: null, multiplier: 1, floor: 0 };
  const weekAgo = recent ? valueAt(recent.series, recent.at - ARRIVAL_DAYS * DAY_MS) : undefined;
  const motion = motionOf(risk.rule, risk.lastValue as string, weekAgo);
  return { distance, motion, ...multiplierAt(distanceTableOf(risk.rule, band), distance, motion) };
}

/** The expected loss and uncertainty load of a term, where the asset trades now. */
export function lossTermsAt(model: RiskLossModel, days: number, market: MarketNow): LossTerms {
  const base = lossTermsOf(model, days);
  if (market.multiplier === 1 && market.floor === 0) return base;
  return {
    ...base,
    expectedLoss: atDistance(model.curves.expectedLoss, days, market.multiplier, market.floor),
    uncertainty: base.uncertainty * market.multiplier,
  };
}
