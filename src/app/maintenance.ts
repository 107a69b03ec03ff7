import { fencedTransaction } from './lease.ts';
import { deleteStaleExplanations, deleteStaleQuotes } from '../db/cover-store.ts';
import { listPools } from '../db/pool-store.ts';
import { lapseExpiredWithdrawals } from './underwrite.ts';
import type { Deps } from './deps.ts';
import { isLockTimeout } from '../db/classify-error.ts';
import { platformAdequacy, poolAdequacy } from './adequacy.ts';
import { refreshBackstop } from './backstop.ts';
import { checkpointPool, loadPoolSnapshot } from '../db/pool-snapshots.ts';
import { claimTurn } from '../db/lease-store.ts';
import { pruneTransactionMarkers } from '../db/idempotency-store.ts';
import { DELIVERY_LOG_DAYS, pruneDeliveries } from '../db/webhook-store.ts';
import { MONTHS_AHEAD, downsampleObservations, ensureObservationPartitions } from '../db/observation-partitions.ts';

/**
 * Keeps aggregates fresh between sales: earns premium, releases expired policies'
 * exposure, drops quotes that expired a day ago unbought (and the model explanations no quote
 * names any more), the markers of transactions an hour old and webhook deliveries finished
 * DELIVERY_LOG_DAYS ago, each in bounded batches, refreshes the backstop (target,
 * IOU repayments, excess to pools) and every pool's adequacy. Safe to run from any replica
 * at any time: each pool is checkpointed under its own lock.
 */
export async function runMaintenance(deps: Deps): Promise<void> {
  for (const pool of await listPools(deps.db)) {
    await fencedTransaction(deps, async (tx) => {
      const snap = await loadPoolSnapshot(tx, pool.id, deps.clock.now(), { lock: true });
      await checkpointPool(tx, snap);
    });
  }
  // Withdrawal requests past their window to complete them lapse: their shares are free again.
  await lapseExpiredWithdrawals(deps);
  await deleteStaleQuotes(deps.db, deps.clock.now() - 86_400_000);
  await deleteStaleExplanations(deps.db, deps.clock.now() - 86_400_000);
  await pruneTransactionMarkers(deps.db);
  await pruneDeliveries(deps.db, deps.clock.now() - DELIVERY_LOG_DAYS * 86_400_000);
  await observationStorage(deps);
  const pools = await listPools(deps.db);
  for (const asset of new Set(pools.map((p) => p.asset))) await refreshBackstop(deps, asset);
  // Refreshes each pool's stored status and simulated tails for the purchase gate, and the
  // reports the API serves.
  for (const pool of pools) await poolAdequacy(deps, pool.id);
  for (const asset of new Set(pools.map((p) => p.asset))) await platformAdequacy(deps, asset);
}

/**
 * Observations' months (docs/scaling.md, "Storage"): the next MONTHS_AHEAD created ahead, and
 * one month past the raw window downsampled a run. A lock the swap could not take in time is
 * tried again at the next run (logged, not thrown: the rest of maintenance goes on).
 */
async function observationStorage(deps: Deps): Promise<void> {
  const now = deps.clock.now();
  try {
    await ensureObservationPartitions(deps.db, now, now + MONTHS_AHEAD * 31 * 86_400_000);
    const done = await downsampleObservations(deps.db, now, deps.config.observationRawDays * 86_400_000);
    if (done) deps.log.info(done, 'observations downsampled');
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    deps.log.warn({ err: error }, 'observations partitions: a lock not taken in time, tried again at the next run');
  }
}

/**
 * Maintenance once per deployment: every API replica and the watcher tick, and the one that
 * claims the turn (the last run is older than most of `everyMs`) runs it; the others skip.
 * Returns whether this process ran it.
 */
export async function maintenanceTurn(deps: Deps, holder: string, everyMs: number): Promise<boolean> {
  // A little under the interval, so that the next tick of whoever ran last finds it free.
  if (!(await claimTurn(deps.db, 'maintenance', holder, Math.max(1, everyMs * 0.9)))) return false;
  await runMaintenance(deps);
  return true;
}
