import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { type PruneBounds, type Pruned, json, pruneInBatches, ts } from './sql-helpers.ts';

export interface IdempotencyClaim {
  owner: string;
  operation: string;
  key: string;
  requestHash: string;
}

/**
 * Claims a key in the caller's transaction: null when this request is the first with it (the
 * row is written, and a concurrent request with the same key waits on it until this one ends),
 * else what the first request stored (its request's hash, and its answer).
 */
export async function claimKey(
  ex: Executor,
  claim: IdempotencyClaim,
  now: number,
): Promise<{ requestHash: string; result: unknown } | null> {
  const inserted = await ex.query(sql`
    INSERT INTO idempotency_keys (owner, operation, key, request_hash, created_at)
    VALUES (${claim.owner}, ${claim.operation}, ${claim.key}, ${claim.requestHash}, ${ts(now)})
    ON CONFLICT DO NOTHING RETURNING key`);
  if (inserted.length > 0) return null;
  const [row] = await ex.query<{ request_hash: string; result: unknown }>(sql`
    SELECT request_hash, result FROM idempotency_keys
    WHERE owner = ${claim.owner} AND operation = ${claim.operation} AND key = ${claim.key}`);
  if (!row) throw new Error('an idempotency key claimed elsewhere is not there');
  return { requestHash: row.request_hash, result: row.result };
}

/** The answer of the request that claimed the key, kept for its retries. */
export async function saveAnswer(ex: Executor, claim: IdempotencyClaim, result: unknown): Promise<void> {
  await ex.query(sql`
    UPDATE idempotency_keys SET result = ${json(result)}
    WHERE owner = ${claim.owner} AND operation = ${claim.operation} AND key = ${claim.key}`);
}

/**
 * The server's own markers of committed transactions (create-database.ts, `exactlyOnce`) are
 * read only while a transaction waits out a failover (seconds); an hour old, they are dropped.
 */
export async function pruneTransactionMarkers(ex: Executor, bounds?: PruneBounds): Promise<Pruned> {
  return pruneInBatches(async (batch) => {
    const [r] = await ex.query<{ n: string }>(sql`
      WITH gone AS (
        DELETE FROM transaction_markers WHERE id IN (
          SELECT id FROM transaction_markers WHERE created_at < now() - interval '1 hour' LIMIT ${batch})
        RETURNING 1)
      SELECT count(*) AS n FROM gone`);
    return { seen: Number(r?.n ?? 0), deleted: Number(r?.n ?? 0) };
  }, bounds);
}
