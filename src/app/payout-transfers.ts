import { listBatches, transfersOf } from '../db/treasury-store.ts';
import type { BatchRecord, OutboundTransferRecord } from '../domain/chain-money.ts';
import { badInput, conflict, notFound } from '../domain/errors.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';
import { type Subject, type Viewer, normaliseAddress, requireAdmin, resolveSubject } from './viewer.ts';
import type { Deps } from './deps.ts';
import { openChainPayments } from '../db/chain-recovery-store.ts';
import { findOutbound, parkedCounts, parkedTransfers, payoutTransfers, requeueParked } from '../db/treasury-store.ts';

/** The money leaving the treasury, as its owners and admins see it: payouts and withdrawals, their batches, and transfers the token refused (parked). */

/** An account's payouts and withdrawals on chain, newest first. */
export async function outboundTransfers(
  deps: Deps,
  viewer: Viewer | null,
  address: Subject,
  page: PageRequest,
): Promise<Page<OutboundTransferRecord>> {
  const subject = resolveSubject(viewer, address);
  return toPage(await transfersOf(deps.db, subject, page), page, (t) => ({ key: t.createdAt, id: t.id }));
}

export async function outboundBatches(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<BatchRecord>> {
  requireAdmin(viewer);
  return toPage(await listBatches(deps.db, page), page, (b) => ({ key: b.createdAt, id: b.id }));
}

/** Admin: transfers the token refused, oldest first, waiting to be retried or redirected. */
export async function parked(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<OutboundTransferRecord>> {
  requireAdmin(viewer);
  return toPage(await parkedTransfers(deps.db, page), page, (t) => ({ key: t.createdAt, id: t.id }));
}

/** Parked transfers per asset, for the metrics. */
export function parkedTransferCounts(db: Deps['db']): Promise<Array<{ asset: string; count: number; total: bigint }>> {
  return parkedCounts(db);
}

/** Chain payments of batches the ledger did not have that no queued transfer matched, per asset (src/app/recover-chain-batches.ts). */
export function unmatchedChainPayments(db: Deps['db']): Promise<Array<{ asset: string; count: number; total: bigint }>> {
  return openChainPayments(db);
}

/**
 * Admin: a transfer the token refused goes back to the queue, to its own recipient (once the
 * cause is gone: the token unpaused, the payee off the blacklist) or to another address the
 * payee named (redirect), with a reason kept beside who decided. Only a PARKED transfer: its
 * money never left the treasury, so nothing can be paid twice.
 */
export async function retryTransfer(
  deps: Deps,
  viewer: Viewer | null,
  input: { id: string; recipient?: string | null | undefined; reason: string },
): Promise<OutboundTransferRecord> {
  const admin = requireAdmin(viewer);
  const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
  if (reason.length < 3 || reason.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  const recipient = input.recipient == null ? undefined : normaliseAddress(input.recipient, 'recipient');
  return deps.db.transaction(async (tx) => {
    const t = await findOutbound(tx, input.id);
    if (!t) throw notFound(`no transfer ${input.id}`);
    if (t.status !== 'PARKED') throw conflict(`only a parked transfer can be retried; this one is ${t.status}`, { state: t.status });
    const requeued = await requeueParked(tx, t, { recipient: recipient ?? t.recipient, by: admin.address, reason, now: deps.clock.now() });
    if (!requeued) throw conflict('this transfer was retried meanwhile');
    return (await findOutbound(tx, t.id)) as OutboundTransferRecord;
  });
}

/**
 * A payout's transfer as `viewer` may see it: its recipient, amount and last error (a payee
 * the token blacklists, say) are the buyer's and the admins' business, nobody else's.
 */
export function transferVisibleTo(viewer: Viewer | null, t: OutboundTransferRecord | null): OutboundTransferRecord | null {
  if (!t || !viewer) return null;
  return viewer.roles.includes('admin') || viewer.address === t.owner ? t : null;
}

/** The transfers carrying these policies' payouts, by policy id. */
export function payoutTransfersOf(deps: Deps, policyIds: readonly string[]): Promise<Map<string, OutboundTransferRecord>> {
  return payoutTransfers(deps.db, policyIds);
}
