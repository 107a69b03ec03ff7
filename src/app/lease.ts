import type { Executor } from '../db/create-database.ts';
import { acquireLease, holdsLease, releaseLease } from '../db/lease-store.ts';
import type { Ports } from './deps.ts';
import { LeaseLostError } from '../domain/errors.ts';

export type { Executor };

/** Takes or renews a named lease for `holder` on the database clock: its epoch while held, else null. */
export function holdLease(deps: Pick<Ports, 'db'>, name: string, holder: string, ttlMs: number): Promise<bigint | null> {
  return acquireLease(deps.db, name, holder, ttlMs);
}

/** Gives the lease up at once, so a follower need not wait for it to expire. */
export function releaseHeldLease(deps: Pick<Ports, 'db'>, name: string, holder: string): Promise<void> {
  return releaseLease(deps.db, name, holder);
}

/** Whether `holder` still holds the lease at `epoch`, checked in (and locked for) the transaction `tx`. */
export function stillHolds(tx: Executor, name: string, holder: string, epoch: bigint): Promise<boolean> {
  return holdsLease(tx, name, holder, epoch);
}

/**
 * A write as the watcher's leader: the lease is checked in the write's own transaction (deps.fence,
 * set by the watcher), so a leader that lost it writes nothing. Without a fence (a test, the
 * API) it is a plain transaction.
 */
export function fencedTransaction<T>(deps: Pick<Ports, 'db' | 'fence'>, work: (tx: Executor) => Promise<T>): Promise<T> {
  return deps.db.transaction(async (tx) => {
    await deps.fence?.(tx);
    return work(tx);
  });
}

/** Throws LeaseLostError once the watcher's heartbeat found its lease gone (deps.leading); a no-op outside the watcher. */
export function stillLeading(deps: Pick<Ports, 'leading'>): void {
  if (deps.leading && !deps.leading()) throw new LeaseLostError('watcher');
}
