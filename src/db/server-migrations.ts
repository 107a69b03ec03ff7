import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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
    const retried = async (step: () => Promise<unknown>) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await step();
        } catch (error) {
          if (!isLockTimeout(error) || attempt >= (o.attempts ?? MIGRATION_ATTEMPTS)) throw error;
          await new Promise((resolve) => setTimeout(resolve, MIGRATION_RETRY_MS * 2 ** (attempt - 1)));
        }
      }
    };
    await retried(() => migrate(drizzle(client), { migrationsFolder: o.folder }));
    for (const statement of onlineStatements(o.folder)) {
      // A build that failed half-way (a lock it waited too long for, a crash) leaves an invalid
      // index of that name: dropped, without blocking writes either, and built again.
      const name = indexName(statement);
      if (name) {
        const invalid = await client.query(
          'SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1 AND NOT i.indisvalid',
          [name],
        );
        if (invalid.rowCount) await retried(() => client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`));
      }
      await retried(() => client.query(statement));
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(7240311)').catch(() => {});
    await client.end();
  }
}

/**
 * The statements of `<folder>/online/*.sql`, in file order, one a file: what cannot run in a
 * migration's transaction and must not block writes, chiefly `CREATE INDEX CONCURRENTLY IF NOT
 * EXISTS` on a large table (docs/architecture.md, "Migrations"). Run after the migrations, each in
 * its own autocommit statement, so each must be safe to run again: every start runs them (a
 * statement whose index exists and is valid costs a catalogue lookup).
 */
export function onlineStatements(folder: string): string[] {
  const dir = join(folder, 'online');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8').trim().replace(/;$/, ''))
    .filter((s) => s.length > 0);
}

/** The index an online statement builds, when it is `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name>`. */
export function indexName(statement: string): string | null {
  return /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)/i.exec(statement)?.[1] ?? null;
}
