import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import type { OperationDefinitionNode } from 'graphql';

/**
 * What every log line of one request carries, whatever code writes it (a resolver, the
 * database layer, the error mask): the request id (x-request-id, echoed), the W3C trace it
 * belongs to (from the caller's `traceparent`, or a new one) and, once parsed, the GraphQL
 * operation. Kept in an AsyncLocalStorage for the request's whole asynchronous life; the logger
 * adds it to each line (pino's mixin).
 */
export interface RequestContext {
  requestId: string;
  traceId: string;
  /** This server's span in the trace (the `parent-id` of the traceparent it answers). */
  spanId: string;
  /** "query risks", "mutation purchasePolicy", or the operation's own name. */
  operation?: string;
  /** The operation being run, once parsed: a refused variable's path is found from it (http/errors.ts). */
  operationNode?: OperationDefinitionNode;
}

const store = new AsyncLocalStorage<RequestContext>();

export function runInRequest<T>(context: RequestContext, fn: () => T): T {
  return store.run(context, fn);
}

export function currentRequest(): RequestContext | undefined {
  return store.getStore();
}

/** The fields a log line written during a request gets (none outside one). */
export function requestLogFields(): Record<string, string> {
  const c = store.getStore();
  if (!c) return {};
  return c.operation ? { reqId: c.requestId, traceId: c.traceId, operation: c.operation } : { reqId: c.requestId, traceId: c.traceId };
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The trace a request belongs to: the caller's (a valid W3C `traceparent`, version 00, ids not
 * all zeros) or a new one; and this server's own span id in it.
 */
export function traceOf(traceparent: string | undefined): { traceId: string; spanId: string; parentId: string | null } {
  const m = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
  const valid = m && !/^0+$/.test(m[1] as string) && !/^0+$/.test(m[2] as string);
  return {
    traceId: valid ? (m[1] as string) : randomHex(16),
    spanId: randomHex(8),
    parentId: valid ? (m[2] as string) : null,
  };
}

/**
 * Random bytes for ids as hex, drawn from a pool refilled 4 KiB at a time: one trip to the
 * system's generator per ~170 requests instead of two per request. Never all zeros (W3C).
 */
const entropy = Buffer.alloc(4096);
let drawn = entropy.length;
function randomHex(bytes: number): string {
  if (drawn + bytes > entropy.length) {
    randomFillSync(entropy);
    drawn = 0;
  }
  const hex = entropy.toString('hex', drawn, (drawn += bytes));
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}
