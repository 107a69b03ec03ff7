import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ms, ts } from './sql-helpers.ts';

/**
 * Fixed-window hit counters in PostgreSQL, so every API replica counts the same client
 * against one limit. One upsert per hit; windows that ended are restarted in place.
 */
export function createRateLimitCounter(ex: Executor, windowMs: number, now: () => number) {
  return {
    async increment(key: string): Promise<{ hits: number; resetAt: number }> {
      const at = now();
      const rows = await ex.query<{ hits: number; window_start: Date }>(sql`
        INSERT INTO rate_limits AS r (key, window_start, hits) VALUES (${key}, ${ts(at)}, 1)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN r.window_start <= ${ts(at - windowMs)} THEN 1 ELSE r.hits + 1 END,
          window_start = CASE WHEN r.window_start <= ${ts(at - windowMs)} THEN ${ts(at)} ELSE r.window_start END
        RETURNING hits, window_start`);
      const row = rows[0] as { hits: number; window_start: Date };
      return { hits: row.hits, resetAt: ms(row.window_start) + windowMs };
    },
    async decrement(key: string): Promise<void> {
      await ex.query(sql`UPDATE rate_limits SET hits = GREATEST(hits - 1, 0) WHERE key = ${key}`);
    },
    async reset(key: string): Promise<void> {
      await ex.query(sql`DELETE FROM rate_limits WHERE key = ${key}`);
    },
    /** Drops counters whose window ended (maintenance). */
    async prune(): Promise<void> {
      await ex.query(sql`DELETE FROM rate_limits WHERE window_start <= ${ts(now() - windowMs)}`);
    },
  };
}
