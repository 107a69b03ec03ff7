import { type SQL, sql } from 'drizzle-orm';
import type { PageRequest } from '../domain/page.ts';

/** Binds a bigint as an exact NUMERIC (drivers differ on bigint parameters; strings do not). */
export function num(value: bigint): SQL {
  return sql`${value.toString()}::numeric`;
}

export function ts(ms: number): SQL {
  return sql`${new Date(ms).toISOString()}::timestamptz`;
}

/**
 * A table's columns by name, prefixed with its alias (`p.id, p.name, ...`): a prepared
 * statement's result may not change shape, so a column a later migration adds must not appear
 * in it (as `p.*` would make it) while replicas that prepared it still run. With `as`, each is
 * renamed `"<as><column>"`, for reads that return two tables' columns side by side.
 */
export function columns(alias: string, names: readonly string[], as?: string): SQL {
  return sql.raw(names.map((c) => (as === undefined ? `${alias}.${c}` : `${alias}.${c} AS "${as}${c}"`)).join(', '));
}

export function json(value: unknown): SQL {
  return sql`${JSON.stringify(value)}::jsonb`;
}

/** NUMERIC columns come back as strings from both drivers. */
export function big(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'string' || typeof value === 'number') return BigInt(value);
  throw new TypeError(`expected a numeric value, got ${typeof value}`);
}

export function ms(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return new Date(value).getTime();
  throw new TypeError(`expected a timestamp, got ${typeof value}`);
}

/**
 * Keyset pagination: the rows after `page.after` in (key, id) order (descending when `desc`)
 * and a LIMIT one past the page, so the caller knows whether more follow. Time keys are
 * milliseconds; other keys are compared as text.
 */
export function pageOf(keyCol: SQL, idCol: SQL, page: PageRequest | undefined, desc = false): { where: SQL; limit: SQL } {
  if (!page) return { where: sql`TRUE`, limit: sql`` };
  const limit = sql`LIMIT ${page.first + 1}`;
  if (!page.after) return { where: sql`TRUE`, limit };
  const key = typeof page.after.key === 'number' ? ts(page.after.key) : sql`${page.after.key}`;
  return {
    where: desc ? sql`(${keyCol}, ${idCol}) < (${key}, ${page.after.id})` : sql`(${keyCol}, ${idCol}) > (${key}, ${page.after.id})`,
    limit,
  };
}

/** How a pruning job deletes (docs/scaling.md, "Maintenance"): rows a statement, and time a run. */
export interface PruneBounds {
  batch: number;
  budgetMs: number;
}
export const PRUNE_BOUNDS: PruneBounds = { batch: 5_000, budgetMs: 2_000 };

/** What a pruning run did: rows deleted, statements run and the longest of them. */
export interface Pruned {
  deleted: number;
  batches: number;
  longestMs: number;
}

/**
 * Runs a pruning step (one short statement of its own, at most `batch` rows, returning how many
 * rows it went through and how many it deleted) until a step goes through fewer than `batch`
 * rows or `budgetMs` has passed: each statement holds its row locks for one batch only, and a run
 * of maintenance is bounded however much is due (the rest goes at the next run).
 */
export async function pruneInBatches(
  step: (batch: number) => Promise<{ seen: number; deleted: number }>,
  bounds: PruneBounds = PRUNE_BOUNDS,
): Promise<Pruned> {
  const started = performance.now();
  const done: Pruned = { deleted: 0, batches: 0, longestMs: 0 };
  for (;;) {
    const t = performance.now();
    const { seen, deleted } = await step(bounds.batch);
    done.batches++;
    done.deleted += deleted;
    done.longestMs = Math.max(done.longestMs, performance.now() - t);
    if (seen < bounds.batch || performance.now() - started >= bounds.budgetMs) return done;
  }
}
