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
