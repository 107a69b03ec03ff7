/**
 * The one error hierarchy of the product. Each kind carries the stable API code of
 * docs/design.md §7; `http/` is the only place that turns these into GraphQL errors.
 * Anything that is not a BaseError is an internal fault and is masked.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'CAPACITY_EXCEEDED'
  | 'QUOTE_EXPIRED'
  | 'SALES_PAUSED'
  | 'RISK_DECLINED'
  | 'INSUFFICIENT_FUNDS'
  | 'COOLDOWN_ACTIVE'
  | 'POOL_FROZEN'
  | 'RISK_NOT_MONITORED'
  | 'RATE_LIMITED'
  | 'SETTLEMENT_UNAVAILABLE'
  | 'RESERVES_SHORT'
  | 'RESERVES_UNKNOWN'
  | 'CHAIN_REORG';

export class BaseError extends Error {
  readonly code: ErrorCode;
  /** Extra facts a client can act on (amounts, limits); never secrets or internals. */
  readonly details: Record<string, string | number | boolean> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string | number | boolean> | undefined } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'BaseError';
    this.code = code;
    this.details = options.details;
  }
}

const kind = (code: ErrorCode) => (message: string, details?: Record<string, string | number | boolean>) =>
  new BaseError(code, message, { details });

export const unauthenticated = kind('UNAUTHENTICATED');
export const forbidden = kind('FORBIDDEN');
export const badInput = kind('BAD_USER_INPUT');
export const notFound = kind('NOT_FOUND');
export const conflict = kind('CONFLICT');
export const capacityExceeded = kind('CAPACITY_EXCEEDED');
export const quoteExpired = kind('QUOTE_EXPIRED');
export const salesPaused = kind('SALES_PAUSED');
/** The underwriting says no to this cover: its expected loss is above the ceiling, or the asset is beyond its threshold now. */
export const riskDeclined = kind('RISK_DECLINED');
export const insufficientFunds = kind('INSUFFICIENT_FUNDS');
export const cooldownActive = kind('COOLDOWN_ACTIVE');
export const poolFrozen = kind('POOL_FROZEN');
export const riskNotMonitored = kind('RISK_NOT_MONITORED');
export const rateLimited = kind('RATE_LIMITED');
export const settlementUnavailable = kind('SETTLEMENT_UNAVAILABLE');
export const reservesShort = kind('RESERVES_SHORT');
/** The treasury has not been reconciled recently enough to know it can pay: sales fail closed. */
export const reservesUnknown = kind('RESERVES_UNKNOWN');
/** A reorg deeper than the confirmations undid money already counted: sales stop until an admin acknowledges it. */
export const chainReorg = kind('CHAIN_REORG');

/**
 * Runs independent input checks and reports every failure at once: one BAD_USER_INPUT
 * naming each problem and each field, instead of the first only.
 */
export function checkAll<T extends readonly (() => unknown)[]>(...checks: T): { [K in keyof T]: ReturnType<T[K]> } {
  const problems: BaseError[] = [];
  const results = checks.map((check) => {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof BaseError) || error.code !== 'BAD_USER_INPUT') throw error;
      problems.push(error);
      return undefined;
    }
  });
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
    const fields = problems.map((p) => p.details?.field).filter((f): f is string => typeof f === 'string');
    throw badInput(`${problems.length} problems: ${problems.map((p) => p.message).join('; ')}`, {
      fields: fields.join(','),
      count: problems.length,
    });
  }
  return results as { [K in keyof T]: ReturnType<T[K]> };
}

export function isBaseError(error: unknown): error is BaseError {
  return error instanceof BaseError;
}
