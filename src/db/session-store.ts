import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ts } from './sql-helpers.ts';

/** Stores a new nonce for `requestedBy`, unless it already holds `maxOpen` unexpired ones. */
export async function insertNonce(
  ex: Executor,
  n: { nonce: string; requestedBy: string; at: number; expiresAt: number },
  maxOpen: number,
): Promise<boolean> {
  await ex.query(sql`DELETE FROM siwe_nonces WHERE expires_at < ${ts(n.at)}`);
  const rows = await ex.query(sql`
    INSERT INTO siwe_nonces (nonce, created_at, expires_at, requested_by)
    SELECT ${n.nonce}, ${ts(n.at)}, ${ts(n.expiresAt)}, ${n.requestedBy}
    WHERE (SELECT COUNT(*) FROM siwe_nonces WHERE requested_by = ${n.requestedBy} AND used_at IS NULL AND expires_at > ${ts(n.at)}) < ${maxOpen}
    RETURNING nonce`);
  return rows.length === 1;
}

/** Marks the nonce used if it is unused and unexpired; false otherwise (atomically). */
export async function consumeNonce(ex: Executor, nonce: string, at: number): Promise<boolean> {
  const rows = await ex.query(sql`
    UPDATE siwe_nonces SET used_at = ${ts(at)} WHERE nonce = ${nonce} AND used_at IS NULL AND expires_at > ${ts(at)} RETURNING nonce`);
  return rows.length === 1;
}

/** Records the user (first sign-in) and returns their current session version. */
export async function upsertUser(ex: Executor, address: string, at: number): Promise<number> {
  const rows = await ex.query<{ session_version: number }>(sql`
    INSERT INTO users (address, created_at) VALUES (${address}, ${ts(at)})
    ON CONFLICT (address) DO UPDATE SET address = EXCLUDED.address
    RETURNING session_version`);
  return rows[0]?.session_version ?? 0;
}

export async function sessionVersion(ex: Executor, address: string): Promise<number | null> {
  const rows = await ex.query<{ session_version: number }>(sql`SELECT session_version FROM users WHERE address = ${address}`);
  return rows[0]?.session_version ?? null;
}

/** Ends every session of the address issued so far; returns the version sessions from now on carry (null: no such user). */
export async function bumpSessionVersion(ex: Executor, address: string): Promise<number | null> {
  const rows = await ex.query<{ session_version: number }>(
    sql`UPDATE users SET session_version = session_version + 1 WHERE address = ${address} RETURNING session_version`,
  );
  return rows[0]?.session_version ?? null;
}
