import { createRateLimitCounter } from '../db/rate-limit-store.ts';
import type { Deps } from './deps.ts';

/**
 * Hit counters for rate limits. On a PostgreSQL server they live in the database, so every
 * replica counts against one limit; the embedded database serves one process, which keeps
 * them in memory (the caller's own store).
 */
export function sharedRateLimitCounter(deps: Deps, windowMs: number) {
  return deps.db.kind === 'postgres' ? createRateLimitCounter(deps.db, windowMs, () => deps.clock.now()) : undefined;
}
