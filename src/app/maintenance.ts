import { deleteStaleQuotes } from '../db/cover-store.ts';
import { listPools } from '../db/pool-store.ts';
import type { Deps } from './deps.ts';
import { checkpointPool, loadPoolSnapshot } from './pool-state.ts';

/**
 * Keeps aggregates fresh between sales: earns premium, releases expired policies'
 * exposure, and drops quotes that expired a day ago unbought. Safe to run from any replica
 * at any time: each pool is checkpointed under its own lock.
 */
export async function runMaintenance(deps: Deps): Promise<void> {
  for (const pool of await listPools(deps.db)) {
    await deps.db.transaction(async (tx) => {
      const snap = await loadPoolSnapshot(tx, pool.id, deps.clock.now(), { lock: true });
      await checkpointPool(tx, snap);
    });
  }
  await deleteStaleQuotes(deps.db, deps.clock.now() - 86_400_000);
}
