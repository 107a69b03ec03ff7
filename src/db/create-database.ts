import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import { type SQL, sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import { CommitUnknownError, isConnectionLoss, isRetryable, isUniqueViolation, isWaitTimeout } from './classify-error.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { openPglite } from './pglite.ts';
import { migrateServer, onlineStatements } from './server-migrations.ts';
import { type DatabaseSpanAttributes, inStatementSpan, inTransactionSpan } from './tracing.ts';

const MIGRATIONS = new URL('./migrations', import.meta.url).pathname;

export interface QueryOptions {
  name?: string;
  /**
   * Prepared under a name taken from its text (a hot statement on a path that queues, such as
   * a sale under its pool's lock: parsed once per connection, not per call). Only for a
   * statement of a few shapes: each shape stays prepared on every connection.
   */
  prepare?: boolean;
  /** Fail at once on a lost connection instead of waiting for a new primary (a probe must answer now). */
  noWait?: boolean;
}

/** A query runner: the whole database, or one open transaction. */
export interface Executor {
  /**
   * Runs one statement. A `name` makes it a prepared statement on the PostgreSQL server, parsed
   * once per connection and planned from a cached plan once PostgreSQL finds that as good: for a
   * hot statement whose text never changes (only its parameters), in or out of a
   * transaction. PGlite ignores it.
   */
  query<T = Record<string, unknown>>(statement: SQL, options?: QueryOptions): Promise<T[]>;
}

export interface Database extends Executor {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `fn` in one transaction and retries it from the start on a serialization failure
   * or deadlock. Inside `fn`, use only the given executor (on PGlite, touching the outer
   * database from inside a transaction deadlocks).
   */
  transaction<R>(fn: (tx: Executor) => Promise<R>): Promise<R>;
  /**
   * Applies the pending migrations (`migrationsFolder`: the shipped ones; a test's own copy). On
   * the server each waits at most MIGRATION_LOCK_TIMEOUT_MS for a lock, retried a few times.
   */
  migrate(migrationsFolder?: string): Promise<void>;
  /**
   * LISTENs on a channel (NOTIFY is delivered at commit, so only committed changes are
   * announced). On the server a dedicated connection reconnects after a restart. Returns
   * the function that stops listening.
   */
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * The embedded database only: a consistent copy of its data folder (a gzipped tar), taken
   * between transactions (it waits for the one in progress and holds the next); the server's
   * copies are pgBackRest's or pg_dump's. docs/operations.md, "Backups".
   */
  backup?(): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres:// URL of a server; when absent the embedded PGlite is used. */
  url?: string | undefined;
  /** PGlite data folder, or `memory://` for a throw-away database. */
  dataDir?: string | undefined;
  /** An already open PGlite (tests hand in clones of a template opened by `openPglite`). */
  pglite?: PGlite | undefined;
  poolSize?: number | undefined;
  /** Server only: how long a statement waits for a lock before it fails (default 5 s). */
  lockTimeoutMs?: number | undefined;
  /** Server only: how long a migration's statement waits for a lock (default MIGRATION_LOCK_TIMEOUT_MS), and how often it is tried. */
  migrationLockTimeoutMs?: number | undefined;
  migrationAttempts?: number | undefined;
  /** Server only: how long a statement may run before it is cancelled (default 120 s). */
  statementTimeoutMs?: number | undefined;
  /**
   * Server only: how long a transaction that lost its connection before COMMIT (or a read) is
   * tried again, waiting for a new primary (default 20 s; 0: fail at once).
   */
  failoverWaitMs?: number | undefined;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 5_000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 120_000;
/**
 * A session idle inside a transaction this long is ended by the server: a process paused
 * (SIGSTOP, a VM frozen, a debugger) mid-transaction would otherwise hold its row locks (the
 * watcher's lease row among them) for as long as it sleeps, and no other watcher could take
 * over. No transaction of ours waits between statements (chain calls run outside them).
 */
export const DEFAULT_IDLE_IN_TRANSACTION_MS = 10_000;
export const DEFAULT_FAILOVER_WAIT_MS = 20_000;

type Drizzle = {
  execute(statement: SQL): Promise<{ rows: unknown[] }>;
  transaction<R>(fn: (tx: Drizzle) => Promise<R>): Promise<R>;
  dialect: { sqlToQuery(statement: SQL): { sql: string; params: unknown[] } };
};

/**
 * What node-postgres's drizzle does in `execute` (its session and dialect, which its types
 * leave out), with the statement's name passed on.
 */
type NamingDrizzle = Drizzle & {
  session: {
    prepareQuery(
      query: { sql: string; params: unknown[] },
      fields: undefined,
      name: string,
      arrayMode: false,
    ): { execute(): Promise<{ rows: unknown[] }> };
  };
  dialect: { sqlToQuery(statement: SQL): { sql: string; params: unknown[] } };
};

/** A prepared statement's name from its text: one per shape of a statement, the same on every connection. */
const preparedNames = new Map<string, string>();
function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (!name) {
    name = `s_${createHash('sha1').update(text).digest('base64url').slice(0, 24)}`;
    if (preparedNames.size >= 10_000) preparedNames.clear();
    preparedNames.set(text, name);
  }
  return name;
}

function executor(db: Drizzle, traced: DatabaseSpanAttributes, prepares = false): Executor {
  const naming = db as NamingDrizzle;
  return {
    async query<T>(statement: SQL, options?: QueryOptions) {
      const result = await inStatementSpan(
        traced,
        () => naming.dialect.sqlToQuery(statement).sql,
        () => {
          if (!prepares || !(options?.name || options?.prepare)) return db.execute(statement);
          const q = naming.dialect.sqlToQuery(statement);
          return naming.session.prepareQuery(q, undefined, options.name ?? preparedName(q.sql), false).execute();
        },
      );
      return result.rows as T[];
    },
  };
}

/** Waits until a primary that takes writes answers, or `deadline` (ms since the epoch) passes. */
type PrimaryWait = (deadline: number) => Promise<void>;

/** How long a request waits for a primary after a lost connection, and what it waits on. */
interface Failover {
  waitMs: number;
  primary: PrimaryWait;
}

/**
 * Runs `run` again from the start after a serialization failure or deadlock (up to 8 times),
 * and, given `failover`, after a lost connection (a failover, a restart) for up to
 * `failover.waitMs`, going again as soon as `failover.primary` finds one that takes writes:
 * the request waits for the new primary instead of failing. Only work that is safe to run
 * again comes here: a read, or a transaction kept to one application by its marker
 * (`exactlyOnce`).
 */
async function withRetry<R>(
  run: () => Promise<R>,
  failover?: Failover,
  waitsOn: (error: unknown) => boolean = isConnectionLoss,
): Promise<R> {
  const deadline = Date.now() + (failover?.waitMs ?? 0);
  let lost = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (isRetryable(error) && attempt < 8) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
        continue;
      }
      if (!failover || !waitsOn(error) || Date.now() >= deadline) throw error;
      // Lost again with a primary there (a stale pooled connection, a server that refuses
      // writes): at most one attempt per probe interval.
      const spaced = lost++ > 0 ? new Promise((resolve) => setTimeout(resolve, PRIMARY_PROBE_MS)) : undefined;
      await Promise.all([failover.primary(deadline), spaced]);
    }
  }
}

/** How often the requests waiting for a primary look for one, together. */
const PRIMARY_PROBE_MS = 50;

/**
 * What every request that lost its connection waits on: one probe for all of them, a fresh
 * connection asking whether the server it reaches is a primary (`pg_is_in_recovery()`), every
 * 50 ms, outside the pool (a pool full of broken connections does not hold it up). Every
 * waiting request goes again the moment it answers, so writes are back within 50 ms of the new
 * primary being routable, where requests backing off on their own (50 ms doubling to 400 ms)
 * found it up to 400 ms late; and a failover costs one connection attempt per 50 ms, not one
 * per waiting request.
 */
function primaryWatch(config: pg.ClientConfig): PrimaryWait {
  let probing: Promise<void> | undefined;
  /** The latest deadline of those waiting: the probe stops when it passes. */
  let until = 0;
  const isPrimary = async () => {
    const client = new pg.Client({ ...config, connectionTimeoutMillis: 1_000, query_timeout: 1_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
      return rows[0]?.standby === false;
    } catch (error) {
      // A server that answers and turns this connection away for another reason (too many
      // clients, say) is there: the requests try it, spaced by the probe's interval.
      return !isConnectionLoss(error) && (error as Error).message !== 'Query read timeout';
    } finally {
      await client.end().catch(() => {});
    }
  };
  const probe = async () => {
    try {
      // Unreferenced: a probe alone does not keep a process that is shutting down alive.
      while (!(await isPrimary()) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, PRIMARY_PROBE_MS).unref());
    } finally {
      probing = undefined;
    }
  };
  return async (deadline) => {
    until = Math.max(until, deadline);
    probing ??= probe();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([probing, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
  };
}

/** Set while a transaction's work runs, in its async context (and whatever it starts). */
const openTransaction = new AsyncLocalStorage<true>();

/**
 * Whether the caller runs inside a database transaction. A chain or network call must not:
 * on PGlite every other request waits behind an open transaction, and on the server it holds
 * its row locks for as long as the call takes (app/wire.ts refuses such calls with it).
 */
export function inTransaction(): boolean {
  return openTransaction.getStore() === true;
}

/** One drizzle per pooled connection, made on its first transaction. */
const boundDrizzles = new WeakMap<pg.PoolClient, Drizzle>();

/**
 * A transaction on the server that is applied exactly once, even when the connection is lost
 * after its COMMIT was sent (a failover, a restart). Each transaction inserts a marker keyed by
 * a uuid of its own in the round trip of its BEGIN (migration 0025). After a lost connection
 * the transaction is tried again, waiting for the new primary, with the same marker: the
 * insert fails on the marker's key when the earlier attempt committed, and that attempt's
 * answer (kept here) is the answer; it waits on the earlier attempt while that one is still
 * committing on a server that lives on; it goes through when the earlier attempt never
 * committed (or committed on a primary whose WAL did not reach the new one), and the work runs
 * again. Only when no primary answers within `failover.waitMs` is the outcome unknown
 * (CommitUnknownError, answered UNAVAILABLE with `committed: unknown`).
 */
async function exactlyOnce<R>(
  pool: pg.Pool,
  traced: DatabaseSpanAttributes,
  fn: (tx: Executor) => Promise<R>,
  failover: Failover,
): Promise<R> {
  const marker = randomUUID();
  /** The answer of an attempt whose COMMIT was sent and not answered: applied if its marker is there. */
  let pending: { value: R } | undefined;
  try {
    return await withRetry(
      async () => {
        const client = await pool.connect();
        let broken: Error | undefined;
        let committing = false;
        try {
          try {
            await client.query(`BEGIN; INSERT INTO transaction_markers (id) VALUES ('${marker}')`);
          } catch (error) {
            await client.query('ROLLBACK').catch(() => {});
            if (pending && isUniqueViolation(error, 'transaction_markers_pkey')) return pending.value;
            throw error;
          }
          let bound = boundDrizzles.get(client);
          if (!bound) {
            bound = drizzlePg(client) as unknown as Drizzle;
            boundDrizzles.set(client, bound);
          }
          const tx = executor(bound, traced, true);
          const value = await openTransaction.run(true, () => fn(tx));
          committing = true;
          pending = { value };
          await client.query('COMMIT');
          return value;
        } catch (error) {
          if (isConnectionLoss(error)) broken = error as Error;
          // A COMMIT refused by the server (a serialization failure, a deferred check) applied nothing.
          if (committing && !broken) pending = undefined;
          if (!committing) await client.query('ROLLBACK').catch(() => {});
          throw error;
        } finally {
          // A connection that failed is not handed back for reuse.
          client.release(broken);
        }
      },
      failover,
      // After an unanswered COMMIT the marker's insert may also wait out lock_timeout on an
      // attempt still committing: asked again, like a lost connection.
      (error) => isConnectionLoss(error) || (pending !== undefined && isWaitTimeout(error)),
    );
  } catch (error) {
    // A COMMIT sent and never answered, and no primary since to ask: applied or not, nobody knows.
    if (pending && (isConnectionLoss(error) || isWaitTimeout(error)))
      throw new CommitUnknownError('the database connection was lost while committing', { cause: error });
    throw error;
  }
}

/** A statement that only reads (safe to send again after a lost connection). */
const READ_ONLY = /^\s*(select|with)\b(?![\s\S]*\b(insert|update|delete|for\s+update|for\s+share)\b)/i;

/** The one place that branches on the driver (CONVENTIONS: Database). */
export async function createDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (options.url) {
    const url = options.url;
    // Bounded waits: a lock held by another session, or a statement that runs away, ends in an
    // error after these instead of holding a request (or the settlement) for as long as it lasts.
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      // A primary that is gone (a failover in progress) fails a connection in seconds, not never.
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      lock_timeout: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: DEFAULT_IDLE_IN_TRANSACTION_MS,
      // No JIT compilation and no parallel workers: every statement here is short or stops
      // early, and the planner's estimate of a whole range (a million-line wallet's postings,
      // read 10,000 at a time) set JIT off compiling for 38 ms of a 103 ms statement page at
      // year-one volume and started two workers for 17-33 ms more (bench/RESULTS.md). A
      // settlement's bulk INSERT ... SELECT is never parallel in PostgreSQL 15 anyway.
      options: '-c jit=off -c max_parallel_workers_per_gather=0',
    });
    pool.on('error', () => {
      // An idle client lost its connection (server restart); the pool replaces it.
    });
    pool.on('connect', (client) => {
      // A client in use when the server goes away emits 'error' besides failing its query;
      // without a listener that would be an uncaught exception that takes the process down.
      client.on('error', () => {});
    });
    const db = drizzlePg(pool) as unknown as Drizzle;
    const server = new URL(options.url);
    const traced = { namespace: decodeURIComponent(server.pathname.slice(1)) || 'postgres', server: server.hostname };
    const failover: Failover = {
      waitMs: options.failoverWaitMs ?? DEFAULT_FAILOVER_WAIT_MS,
      primary: primaryWatch({ connectionString: options.url }),
    };
    const outside = executor(db, traced, true);
    return {
      kind: 'postgres',
      async query<T>(statement: SQL, queryOptions?: QueryOptions) {
        try {
          return await outside.query<T>(statement, queryOptions);
        } catch (error) {
          // A read is sent again after a lost connection; a write outside a transaction is not
          // (it may have been applied before the connection went).
          if (queryOptions?.noWait || !isConnectionLoss(error) || !READ_ONLY.test(db.dialect.sqlToQuery(statement).sql)) throw error;
          return withRetry(() => outside.query<T>(statement, queryOptions), failover);
        }
      },
      transaction: (fn) => inTransactionSpan(traced, () => exactlyOnce(pool, traced, fn, failover)),
      migrate: (migrationsFolder?: string) =>
        migrateServer({
          url,
          folder: migrationsFolder ?? MIGRATIONS,
          lockTimeoutMs: options.migrationLockTimeoutMs,
          attempts: options.migrationAttempts,
        }),
      async listen(channel, handler) {
        if (!/^[a-z_]{1,63}$/.test(channel)) throw new Error(`bad channel name ${channel}`);
        let client: pg.Client | undefined;
        let closed = false;
        const connect = async (): Promise<void> => {
          while (!closed) {
            const c = new pg.Client({ connectionString: options.url });
            c.on('notification', (m) => {
              if (m.channel === channel && m.payload) handler(m.payload);
            });
            c.on('error', () => {
              // Reconnects on 'end' below.
            });
            c.on('end', () => {
              if (!closed && client === c) setTimeout(() => void connect(), 500);
            });
            try {
              await c.connect();
              await c.query(`LISTEN ${channel}`);
              client = c;
              return;
            } catch {
              await c.end().catch(() => {});
              await new Promise((r) => setTimeout(r, 500));
            }
          }
        };
        await connect();
        return async () => {
          closed = true;
          await client?.end().catch(() => {});
        };
      },
      close: () => pool.end(),
    };
  }
  let client = options.pglite;
  let release = () => {};
  if (!client) {
    const dataDir = options.dataDir ?? 'memory://';
    if (!dataDir.startsWith('memory://')) {
      mkdirSync(dataDir, { recursive: true });
      release = lockDataDir(dataDir);
    }
    try {
      client = await openPglite(dataDir);
    } catch (error) {
      release();
      throw error;
    }
  }
  const pglite = client;
  const db = drizzlePglite(pglite) as unknown as Drizzle;
  const traced = { namespace: 'pglite' };
  return {
    kind: 'pglite',
    ...executor(db, traced),
    transaction: (fn) =>
      inTransactionSpan(traced, () => withRetry(() => db.transaction((tx) => openTransaction.run(true, () => fn(executor(tx, traced)))))),
    async migrate(migrationsFolder?: string) {
      await migratePglite(drizzlePglite(pglite), { migrationsFolder: migrationsFolder ?? MIGRATIONS });
      // One process, nothing to keep writing: the online statements run as they are, built at once.
      for (const statement of onlineStatements(migrationsFolder ?? MIGRATIONS))
        await pglite.exec(statement.replace(/\bCONCURRENTLY\s+/i, ''));
    },
    async listen(channel, handler) {
      const unsubscribe = await pglite.listen(channel, handler);
      return () => unsubscribe();
    },
    async backup() {
      // Inside a transaction of its own: PGlite runs one transaction at a time, so the copy waits
      // for the one in progress and none starts until it is taken; the dump itself excludes every
      // other statement. What a copy holds is what a crash at that instant would leave: the data
      // files and the WAL, which a start on the restored folder replays.
      let copy: Blob | undefined;
      await pglite.transaction(async () => {
        copy = await pglite.dumpDataDir('gzip');
      });
      return new Uint8Array(await (copy as Blob).arrayBuffer());
    },
    async close() {
      await pglite.close();
      release();
    },
  };
}

/** Readiness: one round trip to the database. */
export async function ping(ex: Executor): Promise<void> {
  // A server in recovery is a standby (or a demoted primary): it takes no writes, so it is not ready.
  const [row] = await ex.query<{ standby: boolean }>(sql`SELECT pg_is_in_recovery() AS standby`, { noWait: true });
  if (row?.standby) throw new Error('the database is a standby (in recovery): no primary answers');
}
