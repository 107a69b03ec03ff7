import type express from 'express';
import type { ExecutionResult } from 'graphql';
import { processRegularResult } from 'graphql-yoga';
import type { AuthedRequest } from './authenticate.ts';
import { type Enveloped, type OperationParams, prepareOperation } from './operations.ts';

/**
 * The common GraphQL request, a query or mutation POSTed as JSON and answered as JSON, run on
 * yoga's envelop directly (our plugins, its parse and validation caches, its error masking)
 * and answered through yoga's own result processor, without the fetch adapter yoga's HTTP
 * handler wraps every request in: building a WHATWG Request, Headers and a Response stream per
 * request cost a quote more than its pricing (bench/RESULTS.md). It runs after the same
 * middleware as every GraphQL request (access log, body limit, rate limits, the bearer token).
 *
 * Anything else goes on to yoga unchanged: GET, another content type, an Accept header that
 * asks for anything but JSON, a CORS request, a batch, unexpected parameters, a token that did
 * not verify, a subscription, and every request that does not parse or validate, so that each
 * of those is answered in yoga's words. `test/transports.test.ts` holds both paths to the same
 * answers.
 */
export function jsonPost(yoga: Enveloped): express.RequestHandler {
  return (req, res, next) => {
    const params = directParams(req, yoga.graphqlEndpoint);
    if (params === null) return next();
    const asker = { viewer: (req as AuthedRequest).auth?.viewer ?? null, ip: req.ip ?? 'unknown', headers: req.headers };
    prepareOperation(yoga, asker, params)
      .then(async (prepared) => {
        if (!prepared.ok || prepared.kind === 'subscription') return next();
        const result = (await prepared.execute(prepared.args)) as ExecutionResult;
        const answer = processRegularResult(result, CAPTURE, 'application/json') as unknown as Captured;
        res.writeHead(answer.init.status, { ...answer.init.headers, 'content-length': Buffer.byteLength(answer.body) });
        res.end(answer.body);
      })
      .catch(next);
  };
}

/** Yoga's result processor makes a fetch Response; this takes its body and init instead. */
class Captured {
  readonly body: string;
  readonly init: { status: number; headers: Record<string, string> };
  constructor(body: string, init: Captured['init']) {
    this.body = body;
    this.init = init;
  }
}
const CAPTURE = { Response: Captured } as unknown as Parameters<typeof processRegularResult>[1];

const PARAMS = new Set(['query', 'variables', 'operationName', 'extensions']);
/** Media types an Accept header may list for the JSON answer (yoga then answers `application/json`). */
const JSON_ACCEPTED = new Set(['*/*', 'application/*', 'application/json']);

/** The request's GraphQL parameters if it is the common case this path answers, else null. */
export function directParams(req: express.Request, endpoint: string): OperationParams | null {
  if (req.method !== 'POST' || req.originalUrl !== endpoint || req.headers.origin !== undefined) return null;
  if ((req as AuthedRequest).auth?.authError !== undefined) return null;
  const type = req.headers['content-type'];
  if (type === undefined || !/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type)) return null;
  const accept = req.headers.accept;
  if (accept !== undefined && !acceptsJsonOnly(accept)) return null;
  const body: unknown = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  for (const key of Object.keys(parsed)) if (!PARAMS.has(key)) return null;
  const { query, variables, operationName, extensions } = parsed as OperationParams;
  if (typeof query !== 'string') return null;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  if (extensions != null && (typeof extensions !== 'object' || Array.isArray(extensions))) return null;
  return parsed as OperationParams;
}

/** Whether every media type the header lists is one JSON answers, in UTF-8 (as yoga reads it). */
function acceptsJsonOnly(accept: string): boolean {
  for (const entry of accept.replace(/\s/g, '').toLowerCase().split(',')) {
    const [type, ...parameters] = entry.split(';');
    if (!JSON_ACCEPTED.has(type as string)) return false;
    const charset = parameters.find((p) => p.includes('charset='));
    if (charset !== undefined && charset !== 'charset=utf-8') return false;
  }
  return true;
}
