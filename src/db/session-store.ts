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

/** `address` signed with its own key (an EOA's signature recovered offline): remembered, once. */
export async function markKeyProven(ex: Executor, address: string, at: number): Promise<void> {
  await ex.query(sql`
    INSERT INTO users (address, created_at, key_proven_at) VALUES (${address}, ${ts(at)}, ${ts(at)})
    ON CONFLICT (address) DO UPDATE SET key_proven_at = ${ts(at)} WHERE users.key_proven_at IS NULL`);
}

/** Whether `address` has ever signed with its own key: then it is no contract wallet to ask on a chain. */
export async function keyProven(ex: Executor, address: string): Promise<boolean> {
  const rows = await ex.query<{ n: number }>(sql`SELECT 1 AS n FROM users WHERE address = ${address} AND key_proven_at IS NOT NULL`);
  return rows.length > 0;
}

/** The current session version of each address that has one (no user: not in the map). */
export async function sessionVersions(ex: Executor, addresses: readonly string[]): Promise<Map<string, number>> {
  const rows = await ex.query<{ address: string; session_version: number }>(
    // Addresses are hex: an array literal needs no quoting (drizzle would expand a JS array into a list).
    sql`SELECT address, session_version FROM users WHERE address = ANY(${`{${addresses.join(',')}}`}::text[])`,
    { name: 'session_versions' },
  );
  return new Map(rows.map((r) => [r.address, r.session_version]));
}

/** Ends every session of the address issued so far; returns the version sessions from now on carry (null: no such user). */
export async function bumpSessionVersion(ex: Executor, address: string): Promise<number | null> {
  const rows = await ex.query<{ session_version: number }>(
    sql`UPDATE users SET session_version = session_version + 1 WHERE address = ${address} RETURNING session_version`,
  );
  return rows[0]?.session_version ?? null;
}
