/**
 * Driver errors are classified here and nowhere else. drizzle wraps driver errors in a
 * DrizzleQueryError whose `cause` is the pg/PGlite error with its SQLSTATE `code`.
 */
export interface PgErrorInfo {
  code: string;
  constraint: string | undefined;
}

export function pgError(error: unknown): PgErrorInfo | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const e = current as { code?: unknown; constraint?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
      return { code: e.code, constraint: typeof e.constraint === 'string' ? e.constraint : undefined };
    }
    current = e.cause;
  }
  return undefined;
}

/** Serialization failures and deadlocks: the transaction can be re-run from the start. */
export function isRetryable(error: unknown): boolean {
  const info = pgError(error);
  return info?.code === '40001' || info?.code === '40P01';
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const info = pgError(error);
  return info?.code === '23505' && (constraint === undefined || info.constraint === constraint);
}

export function isCheckViolation(error: unknown, constraint?: string): boolean {
  const info = pgError(error);
  return info?.code === '23514' && (constraint === undefined || info.constraint === constraint);
}

/** A bounded wait ran out: a lock held elsewhere past lock_timeout (55P03), or a statement past statement_timeout (57014). */
export function isWaitTimeout(error: unknown): boolean {
  const code = pgError(error)?.code;
  return code === '55P03' || code === '57014';
}

/** A lock held elsewhere past lock_timeout (55P03). */
export function isLockTimeout(error: unknown): boolean {
  return pgError(error)?.code === '55P03';
}

/** Node's socket errors a lost or refused database connection raises. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** node-postgres's messages for a connection that ended, or never came, before the answer. */
const LOST =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|the database system is (starting up|shutting down|in recovery mode)|server closed the connection unexpectedly/i;

/**
 * The database went away or is not the primary (a failover, a restart): the connection
 * exception class 08, the server shutting down or not accepting connections (57P01-57P03),
 * a read-only server (25006: a demoted primary), or the socket failing. Nothing about the
 * request was wrong; it may succeed against the new primary.
 */
export function isConnectionLoss(error: unknown): boolean {
  const code = pgError(error)?.code;
  if (code !== undefined) return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '25006';
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const e = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && LOST.test(e.message)) return true;
    current = e.cause;
  }
  return false;
}

/**
 * A commit whose outcome is unknown: the connection was lost after COMMIT was sent and before
 * its answer. The change may or may not be applied; only an idempotent retry is safe.
 */
export class CommitUnknownError extends Error {
  override name = 'CommitUnknownError';
}
