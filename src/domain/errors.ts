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
  | 'QUOTE_PRICE_CHANGED'
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
  | 'CHAIN_REORG'
  | 'POLICY_CLAIMED'
  | 'UNAVAILABLE';

/** Where a value sits in an operation's arguments: names and array positions, e.g. ["input", "rule", "tiers", 0, "bound"]. */
export type FieldPath = ReadonlyArray<string | number>;

/** One refused value: where it is and what is wrong with it. */
export interface FieldProblem {
  path: FieldPath;
  message: string;
}

type Details = Record<string, string | number | boolean>;

export class BaseError extends Error {
  readonly code: ErrorCode;
  /** Extra facts a client can act on (amounts, limits); never secrets or internals. */
  readonly details: Details | undefined;
  /** The values refused, each with its path (BAD_USER_INPUT); `extensions.fields` on the wire. */
  readonly fields: readonly FieldProblem[] | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Details | undefined; fields?: readonly FieldProblem[] | undefined } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'BaseError';
    this.code = code;
    this.details = options.details;
    this.fields = options.fields;
  }
}

/**
 * A path written as code names it, `tiers[0].bound` or `observations[3].value`, as a FieldPath:
 * ["tiers", 0, "bound"].
 */
export function parseFieldPath(text: string): FieldPath {
  return text
    .split(/\.|(?=\[)/)
    .filter(Boolean)
    .map((part) => {
      const index = /^\[(\d+)\]$/.exec(part);
      return index ? Number(index[1]) : part;
    });
}

/**
 * `details.field` names the refused value (`tiers[0].bound`): it becomes the error's one field
 * problem. Other details stay facts.
 */
const kind =
  (code: ErrorCode) =>
  (message: string, details?: Details): BaseError => {
    if (typeof details?.field !== 'string') return new BaseError(code, message, { details });
    const { field, ...rest } = details;
    return new BaseError(code, message, {
      details: Object.keys(rest).length > 0 ? rest : undefined,
      fields: [{ path: parseFieldPath(field), message }],
    });
  };

/**
 * Runs `fn` with the paths of the values it refuses put under `prefix`: a check that names
 * `threshold` of a rule reads `["input", "rule", "threshold"]` for a rule given as `input.rule`.
 */
export function under<T>(prefix: FieldPath, fn: () => T): T {
  try {
    const result = fn();
    if (result instanceof Promise) return result.catch((error: unknown) => Promise.reject(prefixed(prefix, error))) as T;
    return result;
  } catch (error) {
    throw prefixed(prefix, error);
  }
}

function prefixed(prefix: FieldPath, error: unknown): unknown {
  if (!(error instanceof BaseError) || !error.fields) return error;
  return new BaseError(error.code, error.message, {
    cause: error.cause,
    details: error.details,
    fields: error.fields.map((f) => ({ path: [...prefix, ...f.path], message: f.message })),
  });
}

export const unauthenticated = kind('UNAUTHENTICATED');
export const forbidden = kind('FORBIDDEN');
export const badInput = kind('BAD_USER_INPUT');
export const notFound = kind('NOT_FOUND');
export const conflict = kind('CONFLICT');
export const capacityExceeded = kind('CAPACITY_EXCEEDED');
export const quoteExpired = kind('QUOTE_EXPIRED');
/** The cover now costs more than its quote (the pool filled up, the model moved): nothing was bought; the details carry the new price. */
export const quotePriceChanged = kind('QUOTE_PRICE_CHANGED');
export const salesPaused = kind('SALES_PAUSED');
/** The underwriting says no to this cover: its expected loss is above the ceiling, or the asset is beyond its threshold now. */
export const riskDeclined = kind('RISK_DECLINED');
export const insufficientFunds = kind('INSUFFICIENT_FUNDS');
export const cooldownActive = kind('COOLDOWN_ACTIVE');
export const poolFrozen = kind('POOL_FROZEN');
export const riskNotMonitored = kind('RISK_NOT_MONITORED');
export const rateLimited = kind('RATE_LIMITED');
export const settlementUnavailable = kind('SETTLEMENT_UNAVAILABLE');
/** A dependency (the database, a chain's RPC) does not answer for now: retry. */
export const unavailable = kind('UNAVAILABLE');
export const reservesShort = kind('RESERVES_SHORT');
/** The treasury has not been reconciled recently enough to know it can pay: sales fail closed. */
export const reservesUnknown = kind('RESERVES_UNKNOWN');
/** A reorg deeper than the confirmations undid money already counted: sales stop until an admin acknowledges it. */
export const chainReorg = kind('CHAIN_REORG');
/** An incident confirmed on the policy pays whoever held it then: the policy cannot change hands. */
export const policyClaimed = kind('POLICY_CLAIMED');

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
    throw new BaseError('BAD_USER_INPUT', `${problems.length} problems: ${problems.map((p) => p.message).join('; ')}`, {
      details: { count: problems.length },
      fields: problems.flatMap((p) => p.fields ?? []),
    });
  }
  return results as { [K in keyof T]: ReturnType<T[K]> };
}

export function isBaseError(error: unknown): error is BaseError {
  return error instanceof BaseError;
}

/**
 * A leader's write found its lease gone (another process holds it, or it expired): it wrote
 * nothing. An outage to whoever asked (UNAVAILABLE: the new leader does the work; ask again).
 */
export class LeaseLostError extends BaseError {
  constructor(name: string) {
    super('UNAVAILABLE', `the ${name} lease is no longer this process's: the write was not made`);
    this.name = 'LeaseLostError';
  }
}

/**
 * The chain's head is below blocks already processed: a chain restarted empty, or a reorg
 * deeper than the cursor. An outage to whoever asked (UNAVAILABLE) until an operator looks.
 */
export class ChainWentBackwardsError extends BaseError {
  constructor(processed: bigint, head: bigint) {
    super(
      'UNAVAILABLE',
      `the chain went backwards: block ${processed} was processed, the head is now ${head} (a chain restarted empty, or a reorg deeper than that)`,
    );
    this.name = 'ChainWentBackwardsError';
  }
}
