import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { isLockTimeout } from './classify-error.ts';

/**
 * How long a migration's statement waits for a lock (docs/architecture.md, "Migrations"): an
 * ALTER TABLE waiting for its table's lock behind a long transaction would queue every request
 * on that table behind it. Past this it fails and the whole migration rolls back; the runner
 * tries again a few times, then stops with the error (the deployment retries), so requests wait
 * at most this long for a migration.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 1_000;
/** Attempts of a migration that met a lock it could not take in time, and the pause before the next (doubling). */
export const MIGRATION_ATTEMPTS = 5;
const MIGRATION_RETRY_MS = 500;

/**
 * Applies the pending migrations on a server (docs/architecture.md, "Migrations"). A dedicated
 * session holds an advisory lock so that replicas starting together apply them once. Its
 * statements wait at most `lockTimeoutMs` for a table's lock and fail safe, with no statement
 * timeout (a backfill may be long); a migration that met a lock rolls back whole and is tried again.
 */
export async function migrateServer(o: { url: string; folder: string; lockTimeoutMs?: number | undefined; attempts?: number | undefined }) {
  const client = new pg.Client({
    connectionString: o.url,
    lock_timeout: o.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS,
    statement_timeout: 0,
  });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(7240311)');
    for (let attempt = 1; ; attempt++) {
      try {
        await migrate(drizzle(client), { migrationsFolder: o.folder });
        return;
      } catch (error) {
        if (!isLockTimeout(error) || attempt >= (o.attempts ?? MIGRATION_ATTEMPTS)) throw error;
        await new Promise((resolve) => setTimeout(resolve, MIGRATION_RETRY_MS * 2 ** (attempt - 1)));
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(7240311)').catch(() => {});
    await client.end();
  }
}
