import type express from 'express';
import type { Response } from 'express';
import { GraphQLError, Kind, type OperationDefinitionNode, type SelectionNode, type ValueNode } from 'graphql';
import type { Logger } from 'pino';
import { type ErrorCode, type FieldPath, type FieldProblem, isBaseError, parseFieldPath } from '../domain/errors.ts';
import type { Deps } from '../app/deps.ts';
import { CommitUnknownError, isConnectionLoss, isWaitTimeout } from '../app/failures.ts';
import { currentRequest } from '../app/request-context.ts';

/**
 * The single place where errors become what a client sees. Our own errors keep their
 * stable code and details; GraphQL's own validation and coercion errors say
 * BAD_USER_INPUT; everything else is masked and logged, never shown.
 */
export function createMaskError(log: Logger, options: { production?: boolean } = {}) {
  return (error: unknown): Error => {
    const masked = mask(log, error);
    // graphql-js names schema members in coercion errors ("Did you mean SENIOR?"): in
    // production the schema is not published through errors either.
    if (!options.production || !SUGGESTION.test(masked.message) || !(masked instanceof GraphQLError)) return masked;
    const fields = masked.extensions.fields as FieldProblem[] | undefined;
    return new GraphQLError(masked.message.replace(SUGGESTION, ''), {
      ...at(masked),
      extensions: {
        ...masked.extensions,
        ...(fields ? { fields: fields.map((f) => ({ ...f, message: f.message.replace(SUGGESTION, '') })) } : {}),
      },
    });
  };
}

/**
 * The code a client gets for an error (what `mask` puts in `extensions.code`), without
 * building the error or logging: for the operation's span, which ends before masking.
 */
export function clientCode(error: unknown): string {
  const graphqlError = error instanceof GraphQLError ? error : undefined;
  const original = graphqlError ? graphqlError.originalError : error;
  if (isBaseError(original)) return original.code;
  if (original instanceof GraphQLError) return String(original.extensions.code ?? 'BAD_USER_INPUT');
  if (graphqlError && !original) return String(graphqlError.extensions.code ?? 'BAD_USER_INPUT');
  if (isWaitTimeout(original)) return 'TIMEOUT';
  if (isUnavailable(original)) return 'UNAVAILABLE';
  return 'INTERNAL_SERVER_ERROR';
}

/** Seconds a client should wait before retrying an UNAVAILABLE answer (a failover takes about ten). */
export const RETRY_AFTER_SECONDS = 5;

/** The database is gone for now (a failover, a restart), past the wait the request was given: retryable. */
export function isUnavailable(error: unknown): boolean {
  return error instanceof CommitUnknownError || isConnectionLoss(error);
}

/** What an UNAVAILABLE answer tells the client, which depends on whether anything may have been written. */
export function unavailableMessage(error: unknown): string {
  return error instanceof CommitUnknownError
    ? 'the database was lost while committing: the change may or may not be applied; retry with the same idempotency key (or quote, or reference), which applies it once'
    : 'the database is unavailable (a failover or a restart); nothing was written: retry';
}

/** The suggestion graphql-js appends to some messages. */
export const SUGGESTION = / ?Did you mean .*$/s;

/** Where in the operation an error arose (only the keys that are known). */
function at(e: GraphQLError | undefined): { nodes?: GraphQLError['nodes'] & object; path?: GraphQLError['path'] & object } {
  return { ...(e?.nodes ? { nodes: e.nodes } : {}), ...(e?.path ? { path: e.path } : {}) };
}

function mask(log: Logger, error: unknown): Error {
  const graphqlError = error instanceof GraphQLError ? error : undefined;
  const original = graphqlError ? graphqlError.originalError : error;
  if (isBaseError(original)) {
    return new GraphQLError(original.message, {
      ...at(graphqlError),
      extensions: {
        code: original.code,
        ...(original.details ? { details: original.details } : {}),
        ...(original.fields ? { fields: original.fields } : {}),
        ...(original.code === 'UNAVAILABLE'
          ? { http: { status: HTTP_STATUS.UNAVAILABLE, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } } }
          : {}),
      },
    });
  }
  if (original instanceof GraphQLError) {
    // A scalar refused a value inside a variable (graphql-js's wrapping message names it).
    const message = graphqlError?.message ?? original.message;
    const fields = variableProblem(message);
    return new GraphQLError(message, {
      ...at(graphqlError),
      extensions: { code: 'BAD_USER_INPUT', ...original.extensions, ...(fields ? { fields } : {}) },
    });
  }
  if (graphqlError && !original) {
    const fields = variableProblem(graphqlError.message);
    return new GraphQLError(graphqlError.message, {
      ...at(graphqlError),
      extensions: { code: 'BAD_USER_INPUT', ...graphqlError.extensions, ...(fields ? { fields } : {}) },
    });
  }
  if (isWaitTimeout(original)) {
    // A bounded wait ran out (a lock held elsewhere, a statement past its timeout): nothing was written.
    log.warn({ err: original, path: graphqlError?.path }, 'a database wait ran out');
    return new GraphQLError('the database did not answer in time (a lock or statement timeout); nothing was written: try again', {
      ...at(graphqlError),
      extensions: { code: 'TIMEOUT' },
    });
  }
  if (isUnavailable(original)) {
    log.warn({ err: original, path: graphqlError?.path }, 'the database is unavailable');
    return new GraphQLError(unavailableMessage(original), {
      ...at(graphqlError),
      extensions: {
        code: 'UNAVAILABLE',
        details: { retryAfterSeconds: RETRY_AFTER_SECONDS, committed: original instanceof CommitUnknownError ? 'unknown' : 'no' },
        http: { status: HTTP_STATUS.UNAVAILABLE, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
      },
    });
  }
  log.error({ err: original, path: graphqlError?.path }, 'unexpected error in a resolver');
  // The request id lets a client's report be matched to the log line above.
  const requestId = currentRequest()?.requestId;
  return new GraphQLError('Unexpected error.', {
    ...at(graphqlError),
    extensions: { code: 'INTERNAL_SERVER_ERROR', ...(requestId ? { requestId } : {}) },
  });
}

/**
 * A variable graphql-js refused ("Variable "$i" got invalid value "abc" at "i.rule.threshold";
 * ...", or "... of required type ... was not provided"), as the one field problem of the error,
 * its path from the argument the variable is passed as (["input", "rule", "threshold"]), like
 * the paths of the product's own checks; from the variable ("$i") where the use is unknown.
 */
function variableProblem(message: string): FieldProblem[] | undefined {
  const variable = /^Variable "\$(\w+)"/.exec(message)?.[1];
  if (!variable) return undefined;
  const inside = /got invalid value .*? at "([^"]+)"/.exec(message)?.[1];
  const rest = inside ? parseFieldPath(inside).slice(1) : [];
  const op = currentRequest()?.operationNode;
  const root = (op && variableUses(op).get(variable)) ?? [`$${variable}`];
  return [{ path: [...root, ...rest], message }];
}

/** Where each variable is first used in the operation: the argument it is passed as, and the path inside it (`$r` in `createRisk(input: { rule: $r })`: ["input", "rule"]). */
function variableUses(op: OperationDefinitionNode): Map<string, FieldPath> {
  const uses = new Map<string, FieldPath>();
  const walk = (value: ValueNode, path: FieldPath) => {
    if (value.kind === Kind.VARIABLE) {
      if (!uses.has(value.name.value)) uses.set(value.name.value, path);
    } else if (value.kind === Kind.OBJECT) for (const f of value.fields) walk(f.value, [...path, f.name.value]);
    else if (value.kind === Kind.LIST) value.values.forEach((v, i) => walk(v, [...path, i]));
  };
  const visitSelections = (selections: readonly SelectionNode[]) => {
    for (const s of selections) {
      if (s.kind !== Kind.FIELD) continue;
      for (const a of s.arguments ?? []) walk(a.value, [a.name.value]);
      if (s.selectionSet) visitSelections(s.selectionSet.selections);
    }
  };
  visitSelections(op.selectionSet.selections);
  return uses;
}

/**
 * A refusal outside GraphQL's own responses (routes, limits, /graphql/stream): a GraphQL-shaped
 * error with its code, at the code's status (HTTP_STATUS) unless the transport needs its own
 * (405 for a method, 413 for a body, a parser's 4xx).
 */
export function refused(res: Response, code: ErrorCode | 'INTERNAL_SERVER_ERROR', message: string, status = httpStatusOf(code)): void {
  res.status(status).json({ errors: [{ message, extensions: { code } }] });
}

/** The HTTP status of each code a route answers with (GraphQL answers 200, UNAVAILABLE 503). */
export const HTTP_STATUS = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
} as const satisfies Partial<Record<ErrorCode | 'INTERNAL_SERVER_ERROR', number>>;

/** A code's HTTP status outside GraphQL: the table above, else 400 (the client's input). */
export const httpStatusOf = (code: ErrorCode | 'INTERNAL_SERVER_ERROR'): number =>
  (HTTP_STATUS as Partial<Record<ErrorCode | 'INTERNAL_SERVER_ERROR', number>>)[code] ?? 400;

/** The one error handler of the non-GraphQL routes: a stable code, never a stack or a path. */
export function errorHandler(deps: Deps, maxBodyBytes: number): express.ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    // refuseOversized answered already (the parser reports the same overflow once the upload ends).
    if (res.headersSent) return;
    if (isBaseError(err)) return refused(res, err.code, err.message);
    const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
    if (status === 413) {
      const limit = (err as { limit?: unknown }).limit;
      return refused(
        res,
        'BAD_USER_INPUT',
        `request body too large (at most ${typeof limit === 'number' ? limit : maxBodyBytes} bytes)`,
        413,
      );
    }
    if (status >= 400 && status < 500) return refused(res, 'BAD_USER_INPUT', 'bad request', status);
    if (isUnavailable(err)) {
      deps.log.warn({ err }, 'the database is unavailable');
      res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      return refused(res, 'UNAVAILABLE', unavailableMessage(err));
    }
    deps.log.error({ err }, 'unexpected error in an HTTP route');
    return refused(res, 'INTERNAL_SERVER_ERROR', 'unexpected error');
  };
}
