import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ms, ts } from './sql-helpers.ts';

/**
 * Fixed-window hit counters in PostgreSQL, so every API replica counts the same client
 * against one limit. Hits are counted in this process at once and written in batches (one
 * upsert of every key hit since the last flush, every `flushMs`), which read back each key's
 * total over all replicas. A request is judged on that total plus this process's hits not yet
 * written: a client is limited at once by the replica it talks to, and across replicas
 * within one flush interval. (One upsert per request made every request from one client
 * queue on the lock of one row; see bench/RESULTS.md.)
 */
export function createRateLimitCounter(ex: Executor, windowMs: number, now: () => number, flushMs = 200) {
  /** Hits counted here and not yet written, and when the first of them came. */
  let pending = new Map<string, { hits: number; since: number }>();
  /** Hits being written by the flush under way: counted until its totals come back (else a request judged meanwhile would miss them). */
  let inFlight = new Map<string, number>();
  /** Each key's total over all replicas as of the last flush, and its window. */
  const known = new Map<string, { hits: number; windowStart: number }>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  async function flush(): Promise<void> {
    timer = undefined;
    const batch = pending;
    pending = new Map();
    if (batch.size === 0) return;
    inFlight = new Map([...batch].map(([key, mine]) => [key, mine.hits]));
    try {
      await write(batch);
    } finally {
      inFlight = new Map();
    }
  }

  async function write(batch: Map<string, { hits: number; since: number }>): Promise<void> {
    const at = now();
    const rows = await ex.query<{ key: string; hits: number; window_start: Date }>(sql`
      INSERT INTO rate_limits AS r (key, window_start, hits)
      VALUES ${sql.join(
        [...batch].map(([key, mine]) => sql`(${key}, ${ts(at)}, ${mine.hits})`),
        sql`, `,
      )}
      ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN r.window_start <= ${ts(at - windowMs)} THEN EXCLUDED.hits ELSE r.hits + EXCLUDED.hits END,
        window_start = CASE WHEN r.window_start <= ${ts(at - windowMs)} THEN EXCLUDED.window_start ELSE r.window_start END
      RETURNING key, hits, window_start`);
    for (const row of rows) known.set(row.key, { hits: Number(row.hits), windowStart: ms(row.window_start) });
  }
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => {
      flushing = flushing.then(flush).catch(() => undefined);
    }, flushMs);
    timer.unref();
  };

  return {
    async increment(key: string): Promise<{ hits: number; resetAt: number }> {
      const at = now();
      let seen = known.get(key);
      if (seen && at - seen.windowStart >= windowMs) {
        known.delete(key);
        seen = undefined;
      }
      let mine = pending.get(key);
      // Hits of a window that ended count no more.
      if (mine && at - mine.since >= windowMs) mine = undefined;
      const hits = (mine?.hits ?? 0) + 1;
      pending.set(key, { hits, since: mine?.since ?? at });
      schedule();
      return { hits: (seen?.hits ?? 0) + (inFlight.get(key) ?? 0) + hits, resetAt: (seen?.windowStart ?? mine?.since ?? at) + windowMs };
    },
    /** Writes what is counted here now (tests, shutdown). */
    async flush(): Promise<void> {
      if (timer) clearTimeout(timer);
      const run = flushing.then(flush);
      flushing = run.catch(() => undefined);
      await run;
    },
    async decrement(key: string): Promise<void> {
      const mine = pending.get(key);
      if (mine && mine.hits > 0) {
        mine.hits -= 1;
        return;
      }
      await ex.query(sql`UPDATE rate_limits SET hits = GREATEST(hits - 1, 0) WHERE key = ${key}`);
    },
    async reset(key: string): Promise<void> {
      pending.delete(key);
      known.delete(key);
      await ex.query(sql`DELETE FROM rate_limits WHERE key = ${key}`);
    },
    /** Drops counters whose window ended (maintenance). */
    async prune(): Promise<void> {
      await ex.query(sql`DELETE FROM rate_limits WHERE window_start <= ${ts(now() - windowMs)}`);
    },
  };
}
