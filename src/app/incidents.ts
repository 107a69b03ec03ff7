import {
  findIncident,
  incidentLayers,
  incidentPools,
  listIncidents,
  payoutsOf,
  payoutsPaidSince,
  payoutsToBuyer,
  riskEvents,
  settlingIncidentIds,
} from '../db/incident-store.ts';
import type { IncidentRecord, PayoutRecord, RiskEventRecord } from '../domain/incident.ts';
import { transfersOfBatch } from '../db/treasury-store.ts';
import { Decimal } from '../domain/decimal.ts';
import { badInput, notFound, under } from '../domain/errors.ts';
import { isDecimalString } from '../domain/money.ts';
import { type BacktestResult, backtest } from '../domain/trigger-engine.ts';
import { type TriggerRuleInput, normaliseTriggerRule } from '../domain/trigger-rule.ts';
import type { Deps } from './deps.ts';
import { type Page, type PageRequest, pageRequest, toPage } from '../domain/page.ts';

export const MAX_BACKTEST_OBSERVATIONS = 20_000;

export async function getIncident(deps: Deps, id: string): Promise<IncidentRecord> {
  const incident = await findIncident(deps.db, id);
  if (!incident) throw notFound(`no incident ${id}`);
  return incident;
}

/** Incidents (of one risk, or all), newest first, a page at a time. */
export async function incidents(
  deps: Deps,
  riskId: string | null | undefined,
  page: PageRequest = pageRequest(null, null),
): Promise<Page<IncidentRecord>> {
  return toPage(await listIncidents(deps.db, riskId ?? null, page), page, (i) => ({ key: i.createdAt, id: i.id }));
}

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

/** Incidents confirmed and not yet settled, oldest first. */
export function settlingIncidents(deps: Deps): Promise<string[]> {
  return settlingIncidentIds(deps.db);
}

/** What each pool of an incident owed and paid. */
export function poolsOfIncident(deps: Deps, incidentId: string) {
  return incidentPools(deps.db, incidentId);
}

/** The incident's loss waterfall, one row per pool and layer. */
export function incidentWaterfall(deps: Deps, incidentId: string) {
  return incidentLayers(deps.db, incidentId);
}

/** Payouts of an incident (1 to 1,000, by policy id). */
export function payouts(deps: Deps, incidentId: string, limit: number): Promise<PayoutRecord[]> {
  return payoutsOf(deps.db, { incidentId }, Math.max(1, Math.min(limit, 1000)));
}

/** The payout of each policy that has one, read together (for a page of policies). */
export function payoutsOfPolicies(deps: Deps, policyIds: readonly string[]): Promise<PayoutRecord[]> {
  return payoutsOf(deps.db, { policyIds }, policyIds.length);
}

/** The payouts one settled pool of an incident made to `buyer`. */
export function payoutsTo(deps: Deps, incidentId: string, poolId: string, buyer: string): Promise<PayoutRecord[]> {
  return payoutsToBuyer(deps.db, incidentId, poolId, buyer);
}

/** The payouts to `buyer` that a confirmed treasury batch carried. */
export async function payoutsLanded(deps: Deps, batchId: string, buyer: string): Promise<PayoutRecord[]> {
  const policyIds = (await transfersOfBatch(deps.db, batchId))
    .filter((t) => t.policyId !== null && t.owner === buyer)
    .map((t) => t.policyId as string);
  return payoutsOf(deps.db, { policyIds }, policyIds.length);
}

/** The buyer's payouts paid after `since` (epoch ms), oldest first: what a reconnecting subscriber missed. */
export function payoutsSince(deps: Deps, buyer: string, since: number): Promise<PayoutRecord[]> {
  return payoutsPaidSince(deps.db, buyer, since, deps.config.rail.mode === 'chain');
}

/** A risk's latest state transitions, oldest first (1 to 500). */
export function riskEventsOf(deps: Deps, riskId: string, limit: number): Promise<RiskEventRecord[]> {
  return riskEvents(deps.db, riskId, Math.max(1, Math.min(limit, 500)));
}
