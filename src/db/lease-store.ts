import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ms } from './sql-helpers.ts';

/**
 * Takes or renews a named lease for `holder` for `ttlMs`, on the database's clock so that
 * processes on different machines agree. Returns the epoch while `holder` holds it (it rises
 * at every change of holder, and only then), null otherwise.
 */
export async function acquireLease(ex: Executor, name: string, holder: string, ttlMs: number): Promise<bigint | null> {
  const rows = await ex.query<{ holder: string; epoch: string | number }>(sql`
    INSERT INTO leases (name, holder, acquired_at, heartbeat_at, expires_at, epoch)
    VALUES (${name}, ${holder}, now(), now(), now() + make_interval(secs => ${ttlMs / 1000}), 1)
    ON CONFLICT (name) DO UPDATE SET
      holder = EXCLUDED.holder,
      acquired_at = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at ELSE now() END,
      heartbeat_at = now(),
      expires_at = EXCLUDED.expires_at,
      epoch = CASE WHEN leases.holder = EXCLUDED.holder AND leases.expires_at >= now() THEN leases.epoch ELSE leases.epoch + 1 END
    WHERE (leases.holder = EXCLUDED.holder AND leases.expires_at >= now()) OR leases.expires_at < now()
    RETURNING holder, epoch`);
  return rows[0]?.holder === holder ? BigInt(rows[0].epoch) : null;
}

/** Gives a lease up: expired at once (kept, so its epoch only grows). */
export async function releaseLease(ex: Executor, name: string, holder: string): Promise<void> {
  await ex.query(sql`UPDATE leases SET expires_at = now() - interval '1 millisecond' WHERE name = ${name} AND holder = ${holder}`);
}

/**
 * The fence of a leader's write, inside its transaction: true while `holder` still holds the
 * lease at `epoch` and it has not expired (on the database clock). The row is share-locked
 * until the transaction ends, so the lease cannot change hands before the write commits.
 */
export async function holdsLease(ex: Executor, name: string, holder: string, epoch: bigint): Promise<boolean> {
  const rows = await ex.query<{ ok: number }>(sql`
    SELECT 1 AS ok FROM leases
    WHERE name = ${name} AND holder = ${holder} AND epoch = ${epoch.toString()}::bigint AND expires_at > now()
    FOR SHARE`);
  return rows.length === 1;
}

export async function leaseHolder(ex: Executor, name: string): Promise<{ holder: string; expiresAt: number } | null> {
  const rows = await ex.query<{ holder: string; expires_at: Date }>(
    sql`SELECT holder, expires_at FROM leases WHERE name = ${name} AND expires_at > now()`,
  );
  return rows[0] ? { holder: rows[0].holder, expiresAt: ms(rows[0].expires_at) } : null;
}

/**
 * Claims the turn of a periodic job deployment-wide: true for the one caller that finds the
 * job's last turn older than `everyMs` (on the database clock) and takes it; false for every
 * other caller until then. Kept in the leases table under `name`.
 */
export async function claimTurn(ex: Executor, name: string, holder: string, everyMs: number): Promise<boolean> {
  const rows = await ex.query<{ holder: string }>(sql`
    INSERT INTO leases (name, holder, acquired_at, heartbeat_at, expires_at, epoch)
    VALUES (${name}, ${holder}, now(), now(), now() + make_interval(secs => ${everyMs / 1000}), 1)
    ON CONFLICT (name) DO UPDATE SET
      holder = EXCLUDED.holder, acquired_at = now(), heartbeat_at = now(), expires_at = EXCLUDED.expires_at, epoch = leases.epoch + 1
    WHERE leases.expires_at < now()
    RETURNING holder`);
  return rows[0]?.holder === holder;
}
