import type { ReorgRecord } from '../domain/chain-money.ts';
import { badInput, conflict, notFound } from '../domain/errors.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';
import { type Viewer, requireAdmin } from './viewer.ts';
import type { Deps } from './deps.ts';
import { acknowledgeReorg as acknowledgeReorgRow, findReorg, listReorgs, openReorg, openReorgs } from '../db/reorg-store.ts';

/** The open reorg of the settlement asset, for the watcher's /healthz: null when none (or on the ledger). */
export async function openReorgSummary(
  deps: Deps,
): Promise<{ id: string; forkBlock: string; processedBlock: string; detectedAt: string } | null> {
  const s = deps.config.rail;
  if (s.mode !== 'chain') return null;
  const r = await openReorg(deps.db, s.asset);
  return r
    ? {
        id: r.id,
        forkBlock: r.forkBlock.toString(),
        processedBlock: r.processedBlock.toString(),
        detectedAt: new Date(r.detectedAt).toISOString(),
      }
    : null;
}

/** Every reorg not yet acknowledged (for the metrics). */
export function openChainReorgs(db: Deps['db']): Promise<ReorgRecord[]> {
  return openReorgs(db);
}

/** Admin: reorgs deeper than the confirmations that undid counted blocks, newest first. */
export async function chainReorgs(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<ReorgRecord>> {
  requireAdmin(viewer);
  return toPage(await listReorgs(deps.db, page), page, (r) => ({ key: r.detectedAt, id: r.id }));
}

/**
 * Admin: a reorg has been looked at (its cause understood, what it undid checked: the
 * deposits credited again if mined again, the batches to be sent again): sales and sends
 * resume. The reason is kept with who decided.
 */
export async function acknowledgeReorg(deps: Deps, viewer: Viewer | null, input: { id: string; reason: string }): Promise<ReorgRecord> {
  const admin = requireAdmin(viewer);
  const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
  if (reason.length < 3 || reason.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  return deps.db.transaction(async (tx) => {
    const found = await findReorg(tx, input.id);
    if (!found) throw notFound(`no reorg ${input.id}`);
    const done = await acknowledgeReorgRow(tx, { id: input.id, by: admin.address, reason, now: deps.clock.now() });
    if (!done) throw conflict(`this reorg was already acknowledged by ${found.acknowledgedBy}`);
    return done;
  });
}
