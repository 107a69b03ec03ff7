import { type Attributes, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
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

/** A statement's span: named by its first keyword (SELECT, INSERT, WITH, ...), with its text. The text is read only for a recording span. */
export function inStatementSpan<T>(db: DatabaseSpanAttributes, text: () => string, run: () => Promise<T>): Promise<T> {
  return inSpan(db, run, () => {
    const sql = text();
    const operation = /^\s*([a-zA-Z]+)/.exec(sql)?.[1]?.toUpperCase() ?? 'QUERY';
    return { operation, attributes: { [ATTR_DB_QUERY_TEXT]: sql.slice(0, 2_000) } };
  });
}

/** A transaction's span: its statements are its children. */
export function inTransactionSpan<T>(db: DatabaseSpanAttributes, run: () => Promise<T>): Promise<T> {
  return inSpan(db, run, () => ({ operation: 'transaction', attributes: {} }));
}

/**
 * Runs a statement or a transaction in a client span (OpenTelemetry's database conventions),
 * a child of whatever span is active (the GraphQL operation, the HTTP request, a watcher pass).
 * With no tracer provider registered (exporter off) the span does not record: `describe` is
 * not called, and `run` runs as it is.
 */
function inSpan<T>(
  db: DatabaseSpanAttributes,
  run: () => Promise<T>,
  describe: () => { operation: string; attributes: Attributes },
): Promise<T> {
  const span = tracer.startSpan('db', { kind: SpanKind.CLIENT });
  if (!span.isRecording()) return run();
  const { operation, attributes } = describe();
  span.updateName(`${operation} ${db.namespace}`);
  span.setAttributes({
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_NAMESPACE]: db.namespace,
    [ATTR_DB_OPERATION_NAME]: operation,
    ...attributes,
    ...(db.server ? { [ATTR_SERVER_ADDRESS]: db.server } : {}),
  });
  return context.with(trace.setSpan(context.active(), span), run).then(
    (result) => {
      span.end();
      return result;
    },
    (error: unknown) => {
      const e = error as { code?: string; name?: string; message?: string };
      span.setAttribute(ATTR_ERROR_TYPE, e.code ?? e.name ?? 'Error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.message?.slice(0, 200) ?? String(error) });
      span.end();
      throw error;
    },
  );
}
