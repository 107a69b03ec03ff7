import { acquireLease, releaseLease } from '../db/lease-store.ts';
import type { Deps } from './deps.ts';

/** Takes or renews a named lease for `holder` on the database clock; true while held. */
export function holdLease(deps: Deps, name: string, holder: string, ttlMs: number): Promise<boolean> {
  return acquireLease(deps.db, name, holder, ttlMs);
}

/** Gives the lease up at once, so a follower need not wait for it to expire. */
export function releaseHeldLease(deps: Deps, name: string, holder: string): Promise<void> {
  return releaseLease(deps.db, name, holder);
}
