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
import { notFound } from '../domain/errors.ts';
import type { Deps } from './deps.ts';
import { type Page, type PageRequest, pageRequest, toPage } from '../domain/page.ts';

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
