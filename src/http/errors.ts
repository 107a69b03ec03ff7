import type { Response } from 'express';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { isBaseError } from '../domain/errors.ts';
import { isWaitTimeout } from '../app/failures.ts';
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
    return new GraphQLError(masked.message.replace(SUGGESTION, ''), { ...at(masked), extensions: masked.extensions });
  };
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
      extensions: { code: original.code, ...(original.details ? { details: original.details } : {}) },
    });
  }
  if (original instanceof GraphQLError) {
    // A scalar refused a value: graphql-js's wrapping message names the variable and the
    // path inside it ("Variable "$i" got invalid value ... at "i.rule.threshold"; ...").
    const message = graphqlError?.message ?? original.message;
    const field = /got invalid value .*? at "([^"]+)"/.exec(message)?.[1] ?? /Variable "\$(\w+)"/.exec(message)?.[1];
    return new GraphQLError(message, {
      ...at(graphqlError),
      extensions: { code: 'BAD_USER_INPUT', ...original.extensions, ...(field ? { field } : {}) },
    });
  }
  if (graphqlError && !original) {
    return new GraphQLError(graphqlError.message, {
      ...at(graphqlError),
      extensions: { code: 'BAD_USER_INPUT', ...graphqlError.extensions },
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
  log.error({ err: original, path: graphqlError?.path }, 'unexpected error in a resolver');
  // The request id lets a client's report be matched to the log line above.
  const requestId = currentRequest()?.requestId;
  return new GraphQLError('Unexpected error.', {
    ...at(graphqlError),
    extensions: { code: 'INTERNAL_SERVER_ERROR', ...(requestId ? { requestId } : {}) },
  });
}

/** A refusal outside GraphQL's own responses (routes, limits, /graphql/stream): a GraphQL-shaped error with its code. */
export function refused(res: Response, status: number, message: string, code: string): void {
  res.status(status).json({ errors: [{ message, extensions: { code } }] });
}
