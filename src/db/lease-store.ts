import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ms } from './sql-helpers.ts';

/**
 * Takes or renews a named lease for `holder` for `ttlMs`, on the database's clock so that
 * processes on different machines agree. Returns true while `holder` holds it.
 */
export async function acquireLease(ex: Executor, name: string, holder: string, ttlMs: number): Promise<boolean> {
  const rows = await ex.query<{ holder: string }>(sql`
    INSERT INTO leases (name, holder, acquired_at, heartbeat_at, expires_at)
    VALUES (${name}, ${holder}, now(), now(), now() + make_interval(secs => ${ttlMs / 1000}))
    ON CONFLICT (name) DO UPDATE SET
      holder = EXCLUDED.holder,
      acquired_at = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at ELSE now() END,
      heartbeat_at = now(),
      expires_at = EXCLUDED.expires_at
    WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()
    RETURNING holder`);
  return rows[0]?.holder === holder;
}

export async function releaseLease(ex: Executor, name: string, holder: string): Promise<void> {
  await ex.query(sql`DELETE FROM leases WHERE name = ${name} AND holder = ${holder}`);
}

export async function leaseHolder(ex: Executor, name: string): Promise<{ holder: string; expiresAt: number } | null> {
  const rows = await ex.query<{ holder: string; expires_at: Date }>(sql`SELECT holder, expires_at FROM leases WHERE name = ${name}`);
  return rows[0] ? { holder: rows[0].holder, expiresAt: ms(rows[0].expires_at) } : null;
}
