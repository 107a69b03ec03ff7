import type { Logger } from 'pino';
import type { Deps } from '../app/deps.ts';
import { holdLease, releaseHeldLease } from '../app/lease.ts';

/**
 * Holds a named lease for one process: `beat()` takes or renews it (on the database clock)
 * and says whether this process leads; `release()` gives it up at once on a clean stop.
 */
export function createLeaseKeeper(deps: Deps, lease: { name: string; holder: string; ttlMs: number }, log: Logger) {
  let leader = false;
  const report = (held: boolean) => deps.metrics.gauge('watcher_lease_held', held ? 1 : 0, { holder: lease.holder });
  return {
    isLeader: () => leader,
    async beat(): Promise<boolean> {
      const was = leader;
      try {
        leader = await holdLease(deps, lease.name, lease.holder, lease.ttlMs);
      } catch (err) {
        leader = false;
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease heartbeat failed');
      }
      if (leader !== was) log.info({ leader }, leader ? `took the ${lease.name} lease` : `lost the ${lease.name} lease`);
      report(leader);
      return leader;
    },
    async release(): Promise<void> {
      if (leader) await releaseHeldLease(deps, lease.name, lease.holder).catch(() => undefined);
      leader = false;
      report(false);
    },
  };
}
