import { type Span, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';

const tracer = trace.getTracer('parametric-cover/db');

/** What every span of one database carries: PostgreSQL, its name and, for a server, its host. */
export interface DatabaseSpanAttributes {
  namespace: string;
  server?: string;
}

/** The statement's first keyword (SELECT, INSERT, WITH, ...): the span's name and operation. */
const operationOf = (text: string) => /^\s*([a-zA-Z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';

/**
 * Runs one statement or one transaction in a client span (OpenTelemetry's database
 * conventions), a child of whatever span is active (the GraphQL operation, the HTTP request).
 * With no tracer provider registered (exporter off) the span does not record: nothing is
 * computed, and `run` runs as it is. The statement's text is taken only for a recording span.
 */
export function inDatabaseSpan<T>(db: DatabaseSpanAttributes, name: string | (() => string), run: () => Promise<T>): Promise<T> {
  const span = tracer.startSpan('db', { kind: SpanKind.CLIENT });
  if (!span.isRecording()) return run();
  const text = typeof name === 'function' ? name() : name;
  const operation = text === 'transaction' ? 'transaction' : operationOf(text);
  span.updateName(`${operation} ${db.namespace}`);
  span.setAttributes({
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_NAMESPACE]: db.namespace,
    [ATTR_DB_OPERATION_NAME]: operation,
    ...(text === 'transaction' ? {} : { [ATTR_DB_QUERY_TEXT]: text.slice(0, 2_000) }),
    ...(db.server ? { [ATTR_SERVER_ADDRESS]: db.server } : {}),
  });
  return context.with(trace.setSpan(context.active(), span), run).then(
    (result) => {
      span.end();
      return result;
    },
    (error: unknown) => {
      failed(span, error);
      throw error;
    },
  );
}

function failed(span: Span, error: unknown): void {
  const e = error as { code?: string; name?: string; message?: string };
  span.setAttribute(ATTR_ERROR_TYPE, e.code ?? e.name ?? 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message?.slice(0, 200) ?? String(error) });
  span.end();
}
