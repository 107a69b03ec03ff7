import { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import { type DocumentNode, type ExecutionResult, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { operationLabel } from './graphql-metrics.ts';
import { routeOf } from './routes.ts';
import { clientCode } from './errors.ts';
import { traceOf } from '../app/request-context.ts';

const tracer = trace.getTracer('parametric-cover/http');

/**
 * The request's server span (OpenTelemetry's HTTP conventions), a child of the caller's
 * `traceparent` when it sends one. It ends when the response does. With no tracer provider
 * registered (the exporter off) it does not record, and the caller's trace is still continued
 * in the logs (request-context.ts).
 */
export function startServerSpan(req: IncomingMessage, res: ServerResponse): { span: Span; context: Context; parentId: string | null } {
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  // Span names that do not grow with every URL: a dashboard file is `GET /*`.
  const route = routeOf(path, '/*');
  const span = tracer.startSpan(
    `${req.method} ${route}`,
    {
      kind: SpanKind.SERVER,
      attributes: { [ATTR_HTTP_REQUEST_METHOD]: req.method ?? 'GET', [ATTR_URL_PATH]: path, [ATTR_HTTP_ROUTE]: route },
    },
    parent,
  );
  if (span.isRecording())
    res.once('close', () => {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (res.statusCode >= 500 || !res.writableFinished) {
        span.setAttribute(ATTR_ERROR_TYPE, res.writableFinished ? String(res.statusCode) : 'aborted');
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
  return { span, context: trace.setSpan(parent, span), parentId: trace.getSpanContext(parent)?.spanId ?? null };
}

/**
 * A server span for a graphql-ws step, which no HTTP request carries: the connection's
 * session check, and each operation's (its session check, rate limit and preparation; the
 * operation's own span nests under it). A root span by design: a socket has no caller span.
 * The ids are the span's when it records, else new ones for the logs (as for HTTP).
 */
export function startSocketSpan(name: string): { span: Span; context: Context; ids: { traceId: string; spanId: string } } {
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, ROOT_CONTEXT);
  const ids = span.isRecording() ? { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId } : traceOf(undefined);
  return { span, context: trace.setSpan(ROOT_CONTEXT, span), ids: { traceId: ids.traceId, spanId: ids.spanId } };
}

/**
 * A span per GraphQL operation ("query risks"), inside the request's, with the database calls
 * it makes inside it; on whatever transport it came (HTTP, SSE, WebSocket). Errors in the
 * result mark it failed, with the code its client got for the first error.
 */
export function useOperationSpans(): Plugin {
  const start = (document: DocumentNode, operationName: string | null | undefined) => {
    const op = getOperationAST(document, operationName);
    const span = tracer.startSpan(op ? operationLabel(op) : 'graphql', {
      attributes: { 'graphql.operation.type': op?.operation ?? '', ...(op?.name ? { 'graphql.operation.name': op.name.value } : {}) },
    });
    return { span, active: trace.setSpan(context.active(), span) };
  };
  const finish = (span: Span, result: ExecutionResult | AsyncIterable<unknown>) => {
    const errors = 'errors' in result ? (result.errors ?? []) : [];
    if (errors.length > 0) {
      span.setAttribute(ATTR_ERROR_TYPE, clientCode(errors[0]));
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${errors.length} error(s)` });
    }
    span.end();
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const { span, active } = start(args.document, args.operationName);
      if (!span.isRecording()) return;
      setExecuteFn((a) => context.with(active, () => executeFn(a)));
      return { onExecuteDone: ({ result }) => finish(span, result as ExecutionResult) };
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const { span, active } = start(args.document, args.operationName);
      if (!span.isRecording()) return;
      setSubscribeFn((a) => context.with(active, () => subscribeFn(a)));
      // The span covers starting the subscription; events are the request's, not the span's.
      return { onSubscribeResult: ({ result }) => finish(span, result as ExecutionResult) };
    },
  };
}
