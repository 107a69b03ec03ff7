import { SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('parametric-cover/background');

/**
 * Runs background work in a span of its own (OpenTelemetry, when configured): a pass of a
 * watcher loop, a lease heartbeat, the database clock's sync. Its database calls nest under
 * it. These are root spans by design: no request asked for the work.
 */
export function inBackgroundSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, (span) =>
    work().then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        span.end();
        throw err;
      },
    ),
  );
}
