import { sha256, toBytes } from 'viem';
import type { Executor } from '../db/create-database.ts';
import { claimKey, saveAnswer } from '../db/idempotency-store.ts';
import { canonicalJson } from '../domain/canonical-json.ts';
import { badInput, conflict } from '../domain/errors.ts';

/**
 * Idempotency keys for mutations that move money and have no natural key (docs/design.md §7):
 * the first request with a key is applied and its answer kept in the same transaction; a
 * retry with the key and the same request gets that answer back and changes nothing; the key
 * with another request is a CONFLICT. Keys are the caller's own (per account and operation).
 */
export interface Idempotent {
  owner: string;
  operation: string;
  key: string | null | undefined;
  /** What the request asks (its arguments): a retry must ask the same. */
  request: Record<string, unknown>;
  now: number;
}

/** A key as the API takes it: 1 to 100 characters, or none. */
export function idempotencyKeyOf(key: string | null | undefined): string | null {
  if (key == null) return null;
  const trimmed = key.trim();
  if (trimmed.length < 1 || trimmed.length > 100 || !/^[\x20-\x7e]+$/.test(trimmed))
    throw badInput('idempotencyKey must be 1 to 100 printable ASCII characters', { field: 'idempotencyKey' });
  return trimmed;
}

/** JSON for an answer holding bigints (tagged, so they come back as bigints). */
const encode = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v)));
const decode = <T>(value: unknown): T =>
  JSON.parse(JSON.stringify(value), (_, v) =>
    v !== null && typeof v === 'object' && typeof (v as { $bigint?: unknown }).$bigint === 'string' && Object.keys(v).length === 1
      ? BigInt((v as { $bigint: string }).$bigint)
      : v,
  ) as T;

/** Runs `apply` once per key, inside the caller's transaction `tx`. */
export async function onceWithKey<T>(tx: Executor, call: Idempotent, apply: () => Promise<T>): Promise<T> {
  const key = idempotencyKeyOf(call.key);
  if (key === null) return apply();
  const requestHash = sha256(toBytes(canonicalJson(call.request)));
  const claim = { owner: call.owner, operation: call.operation, key, requestHash };
  const earlier = await claimKey(tx, claim, call.now);
  if (earlier) {
    if (earlier.requestHash !== requestHash)
      throw conflict(`the idempotency key ${key} was used for a different ${call.operation}`, { field: 'idempotencyKey' });
    return decode<T>(earlier.result);
  }
  const answer = await apply();
  await saveAnswer(tx, claim, encode(answer));
  return answer;
}
