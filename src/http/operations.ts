import type { IncomingHttpHeaders } from 'node:http';
import { type ExecutionArgs, type ExecutionResult, GraphQLError, type OperationTypeNode, getOperationAST } from 'graphql';
import type { Viewer } from '../app/viewer.ts';
import { isBaseError } from '../domain/errors.ts';
import { nulBytesError } from './guards.ts';

/** The parts of a yoga server the other transports drive: its envelop, so our plugins run. */
export interface Enveloped {
  graphqlEndpoint: string;
  // biome-ignore lint/suspicious/noExplicitAny: yoga's getEnveloped is typed by its server context
  getEnveloped: (context: any) => any;
  /** What HTTP's answers go through (createMaskError): the same codes and words for a refusal. */
  maskError(error: unknown): Error;
}

/** A GraphQL request as a transport received it. */
export interface OperationParams {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

/** Who asks: the verified viewer, the client's address as HTTP sees it, and the request's headers. */
export interface Asker {
  viewer: Viewer | null;
  ip: string;
  headers: IncomingHttpHeaders;
}

export type Run = (args: ExecutionArgs) => Promise<ExecutionResult | AsyncIterable<ExecutionResult>>;

export type Prepared =
  | { ok: true; args: ExecutionArgs; kind: OperationTypeNode; execute: Run; subscribe: Run }
  | { ok: false; errors: GraphQLError[] };

const refusal = (message: string, code = 'BAD_USER_INPUT') => ({
  ok: false as const,
  errors: [new GraphQLError(message, { extensions: { code } })],
});

/**
 * The `request` yoga's envelop sees from these transports. Yoga marks a parse error as
 * GRAPHQL_PARSE_FAILED (HTTP 400) only when there is one, and its parser cache keeps the first
 * error a document gave: without it, a document first sent over another transport would be
 * answered BAD_USER_INPUT over HTTP ever after. It is not a GET: the transports refuse a
 * mutation sent by GET themselves (/graphql/stream), or have no method (graphql-ws).
 */
const NOT_GET = { method: 'POST' };

/**
 * What HTTP does before it executes, for the transports yoga's HTTP handler does not serve
 * (graphql-ws, /graphql/stream): the same NUL refusal, parse, validation (depth, aliases, cost,
 * introspection, budgets: the envelop's rules) and context, with errors in the same words and
 * codes. The context's `request` is NOT_GET (a WebSocket upgrade's GET is not the operation's
 * method); the asker's address and headers are in `req`.
 */
export async function prepareOperation(yoga: Enveloped, asker: Asker, params: OperationParams): Promise<Prepared> {
  const prepared = await prepare(yoga, asker, params);
  if (prepared.ok) return prepared;
  return { ok: false, errors: prepared.errors.map((e) => yoga.maskError(e) as GraphQLError) };
}

async function prepare(yoga: Enveloped, asker: Asker, params: OperationParams): Promise<Prepared> {
  const nul = nulBytesError(params);
  if (nul) return { ok: false, errors: [nul] };
  if (typeof params.query !== 'string' || params.query.trim() === '')
    return refusal('the request has no query: send a GraphQL document in "query"');
  if (params.variables != null && (typeof params.variables !== 'object' || Array.isArray(params.variables)))
    return refusal('variables must be a JSON object');
  if (params.operationName != null && typeof params.operationName !== 'string') return refusal('operationName must be a string');
  const req = { auth: { viewer: asker.viewer }, ip: asker.ip, headers: asker.headers };
  const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ req, params, request: NOT_GET });
  let document: ExecutionArgs['document'];
  try {
    document = parse(params.query);
  } catch (error) {
    const e = error instanceof GraphQLError ? error : new GraphQLError('the document does not parse');
    const extensions = { ...e.extensions, code: e.extensions.code ?? 'GRAPHQL_PARSE_FAILED' };
    return { ok: false, errors: [new GraphQLError(e.message, { source: e.source ?? null, positions: e.positions ?? null, extensions })] };
  }
  let errors: GraphQLError[];
  try {
    errors = validate(schema, document);
  } catch (error) {
    // Some rules (graphql-armor's) throw their refusal rather than return it.
    if (error instanceof GraphQLError) return { ok: false, errors: [error] };
    throw error;
  }
  if (errors.length > 0) return { ok: false, errors };
  const operationName = (params.operationName as string | null | undefined) ?? undefined;
  const operation = getOperationAST(document, operationName);
  if (!operation)
    return refusal(
      operationName
        ? `the document has no operation named "${operationName}"`
        : 'the document holds several operations: say which to run (operationName)',
    );
  let contextValue: unknown;
  try {
    contextValue = await contextFactory();
  } catch (error) {
    if (isBaseError(error)) return refusal(error.message, error.code);
    throw error;
  }
  return {
    ok: true,
    kind: operation.operation,
    args: {
      schema,
      document,
      operationName: operationName ?? null,
      variableValues: (params.variables ?? undefined) as ExecutionArgs['variableValues'],
      contextValue,
    },
    execute,
    subscribe,
  };
}

/** Errors as a response carries them: no transport detail (yoga's `http` extension). */
export function publicErrors(errors: readonly GraphQLError[]): unknown[] {
  return errors.map((e) => {
    const json = e.toJSON() as { extensions?: Record<string, unknown> };
    if (json.extensions) {
      const { http: _http, ...rest } = json.extensions;
      json.extensions = rest;
    }
    return json;
  });
}
