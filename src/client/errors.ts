import type { ErrorCode as ProductErrorCode, FieldProblem } from '../domain/errors.ts';

/**
 * Every `extensions.code` the API answers (docs/design.md §7): the product's own, TIMEOUT (a
 * bounded database wait ran out), INTERNAL_SERVER_ERROR (a fault, masked), and NETWORK_ERROR,
 * which this client raises when the API could not be reached or did not answer in JSON.
 */
export type ErrorCode = ProductErrorCode | 'TIMEOUT' | 'INTERNAL_SERVER_ERROR' | 'NETWORK_ERROR';

/** Codes worth sending the same request again for (with its idempotency key, quote or reference). */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNAVAILABLE', 'TIMEOUT', 'NETWORK_ERROR', 'RATE_LIMITED']);

/** A GraphQL error as the API sends it: a stable code, facts to act on, the values refused. */
export interface ApiErrorBody {
  message: string;
  extensions?: { code?: string; details?: Record<string, string | number | boolean>; fields?: FieldProblem[] };
}

/** A GraphQL error from the API, with its stable `extensions.code` (e.g. CAPACITY_EXCEEDED). */
export class CoverApiError extends Error {
  readonly code: ErrorCode;
  readonly errors: ReadonlyArray<ApiErrorBody>;
  constructor(message: string, code: ErrorCode, errors: ReadonlyArray<ApiErrorBody>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CoverApiError';
    this.code = code;
    this.errors = errors;
  }

  /** The values the first error refused (BAD_USER_INPUT), each with its path: `["input", "rule", "threshold"]`. */
  get fields(): readonly FieldProblem[] {
    return this.errors[0]?.extensions?.fields ?? [];
  }
}
