import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type express from 'express';
import type { Deps } from '../app/deps.ts';
import { REDACTED_LOG_PATHS } from './redaction.ts';
import { type RequestContext, runInRequest, traceOf } from '../app/request-context.ts';
import { startServerSpan } from './tracing.ts';
import { context as otel } from '@opentelemetry/api';

const REQUEST_ID = /^[\w.-]{1,64}$/;
const LOGGED_REQUEST_HEADERS = ['user-agent', 'content-length', 'x-forwarded-for', 'authorization', 'cookie', 'x-api-key'];

function pickHeaders(headers: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of names) if (headers[name] !== undefined) picked[name] = headers[name];
  return picked;
}

/**
 * The access log: one short line per request when its response ends (pino-http's shape and
 * messages: `req`, `res`, `responseTime`; "request completed", or "request errored" at error
 * level for a 5xx or a broken response), with a request id that is echoed to the client. What
 * an operator reads (who, what, how it ended), not every header both ways. Credentials keep
 * their place in the line so the redaction shows that they were sent.
 *
 * Written on pino directly rather than through pino-http: pino-http builds a child logger per
 * request (serialising the request into its bindings) and keeps lists of loggers on the
 * request and the response; one log call when the response ends writes the same line.
 */
export function requestLogging(deps: Deps): express.RequestHandler {
  const log = deps.log.child(
    {},
    {
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: IncomingMessage & { id: string; originalUrl?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.originalUrl ?? req.url,
          remoteAddress: req.socket?.remoteAddress,
          headers: pickHeaders(req.headers, LOGGED_REQUEST_HEADERS),
        }),
        res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
      },
    },
  );
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    (req as express.Request & { id: string }).id = id;
    res.setHeader('x-request-id', id);
    // W3C trace context: the caller's trace continued (or a new one), this server's span in it.
    // With tracing on (OpenTelemetry, docs/operations.md) that span is the exported one.
    const traced = startServerSpan(req, res);
    const span = traced.span.spanContext();
    const trace = traced.span.isRecording()
      ? { traceId: span.traceId, spanId: span.spanId, parentId: traced.parentId }
      : traceOf(typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined);
    res.setHeader('traceparent', `00-${trace.traceId}-${trace.spanId}-01`);
    const context: RequestContext = { requestId: id, traceId: trace.traceId, spanId: trace.spanId };
    const proceed = () => otel.with(traced.context, () => runInRequest(context, next));
    if (req.url === '/metrics' || req.url === '/healthz' || req.url === '/livez') return proceed();
    const started = Date.now();
    // A response emits 'close' once it is done, written or not (after 'finish' when written).
    res.once('close', () => {
      const responseTime = Date.now() - started;
      const fields = {
        req,
        res,
        responseTime,
        traceId: trace.traceId,
        ...(trace.parentId ? { parentSpanId: trace.parentId } : {}),
        ...(context.operation ? { operation: context.operation } : {}),
      };
      if (res.errored || res.statusCode >= 500)
        log.error({ ...fields, err: res.errored ?? new Error(`failed with status code ${res.statusCode}`) }, 'request errored');
      // Closed before the response was written: the client went away.
      else log.info(fields, res.writableFinished ? 'request completed' : 'request aborted');
    });
    // Everything the request does from here logs with its id, trace and operation.
    proceed();
  };
}
