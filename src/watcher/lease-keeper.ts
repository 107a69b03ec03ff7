import type { Logger } from 'pino';
import type { Deps } from '../app/deps.ts';
import { type Executor, holdLease, releaseHeldLease, stillHolds } from '../app/lease.ts';
import { LeaseLostError } from '../domain/errors.ts';

/**
 * Holds a named lease for one process: `beat()` takes or renews it (on the database clock)
 * and says whether this process leads; `fence(tx)` checks, inside a write's transaction, that
 * it still leads at the epoch it took the lease with (a process paused past the lease's TTL
 * wakes up to a fence that fails: it writes nothing and stops leading); `release()` gives it
 * up at once on a clean stop.
 */
export function createLeaseKeeper(deps: Deps, lease: { name: string; holder: string; ttlMs: number }, log: Logger) {
  let epoch: bigint | null = null;
  // One series per process (its instance), not one per restart: the holder's id is in the logs and /healthz.
  const report = (held: boolean) => deps.metrics.gauge('watcher_lease_held', held ? 1 : 0);
  const lose = (why: string) => {
    if (epoch !== null) log.warn({ epoch: epoch.toString() }, `lost the ${lease.name} lease (${why})`);
    epoch = null;
    report(false);
  };
  return {
    isLeader: () => epoch !== null,
    epoch: () => epoch,
    async beat(): Promise<boolean> {
      const was = epoch;
      let now: bigint | null;
      try {
        now = await holdLease(deps, lease.name, lease.holder, lease.ttlMs);
      } catch (err) {
        now = null;
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease heartbeat failed');
      }
      epoch = now;
      if (now !== null && was !== now) log.info({ epoch: now.toString() }, `took the ${lease.name} lease`);
      if (now === null && was !== null) log.info(`lost the ${lease.name} lease`);
      report(now !== null);
      return now !== null;
    },
    async fence(tx: Executor): Promise<void> {
      const held = epoch;
      if (held === null || !(await stillHolds(tx, lease.name, lease.holder, held))) {
        lose('a write found it gone');
        deps.metrics.count('lease_fenced_writes');
        throw new LeaseLostError(lease.name);
      }
    },
    async release(): Promise<void> {
      if (epoch !== null) await releaseHeldLease(deps, lease.name, lease.holder).catch(() => undefined);
      epoch = null;
      report(false);
    },
  };
}
