import { findPolicy, policiesOf, quotesOf } from '../db/cover-store.ts';
import type { PolicyRecord, QuoteWithPolicy } from '../domain/cover.ts';
import { notFound } from '../domain/errors.ts';
import { offerKey } from '../domain/offer-id.ts';
import { type Subject, type Viewer, requireViewer, resolveSubject } from './viewer.ts';
import type { Deps } from './deps.ts';
import { payoutsOfBuyer } from '../db/incident-store.ts';
import type { PayoutRecord } from '../domain/incident.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';

/** The account's policies, newest first (held now: bought or handed to it). */
export async function policies(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<PolicyRecord>> {
  return toPage(await policiesOf(deps.db, resolveSubject(viewer, address), page), page, (p) => ({ key: p.createdAt, id: p.id }));
}

/**
 * The account's quotes, newest first, each with the policy it became (null if not bought).
 * Quotes this process answered are recorded first, so a caller sees the quotes it was just given.
 */
export async function quoteHistory(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<QuoteWithPolicy>> {
  await deps.quotePaths.settled();
  return toPage(await quotesOf(deps.db, resolveSubject(viewer, address), page), page, (q) => ({ key: q.createdAt, id: offerKey(q.id) }));
}

/** Payouts to the account's policies, newest first. */
export async function payoutHistory(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<PayoutRecord>> {
  return toPage(await payoutsOfBuyer(deps.db, resolveSubject(viewer, address), page), page, (p) => ({ key: p.createdAt, id: p.policyId }));
}

/** Someone else's policy is reported as not found, so ids cannot be probed. */
export async function policy(deps: Deps, viewer: Viewer | null, id: string): Promise<PolicyRecord> {
  const v = requireViewer(viewer);
  const found = await findPolicy(deps.db, id);
  if (!found || (found.buyer !== v.address && found.holder !== v.address && !v.roles.includes('admin'))) throw notFound(`no policy ${id}`);
  return found;
}

/** A policy another names (its renewal, the one it renews), if the viewer may see it; null otherwise. */
export async function linkedPolicy(deps: Deps, viewer: Viewer | null, id: string | null | undefined): Promise<PolicyRecord | null> {
  if (!id || !viewer) return null;
  const found = await findPolicy(deps.db, id);
  return found && (found.buyer === viewer.address || found.holder === viewer.address || viewer.roles.includes('admin')) ? found : null;
}
