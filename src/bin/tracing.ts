import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { RuntimeConfig } from './load-config.ts';
import { SERVICE_VERSION } from './service-version.ts';

export interface Tracing {
  /** Exports the spans still buffered, then stops (a stopping process calls it last). */
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry tracing for one process (docs/operations.md): with an exporter configured, a
 * tracer provider that batches spans to it, W3C trace context propagation and async context;
 * the spans come from the HTTP server (src/http/tracing.ts), each GraphQL operation and each
 * database statement and transaction (src/db/tracing.ts). Without one (the default) nothing
 * is registered, and every span the code starts is a no-op that costs next to nothing.
 * The OTLP exporter reads the SDK's own variables: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT and
 * _HEADERS; the batch's delay is OTEL_BSP_SCHEDULE_DELAY; the resource adds OTEL_RESOURCE_ATTRIBUTES.
 */
export function startTracing(config: RuntimeConfig['tracing'], process: string): Tracing {
  if (!config.exporter) return { shutdown: async () => {} };
  const exporter = config.exporter === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName ?? process, [ATTR_SERVICE_VERSION]: SERVICE_VERSION }).merge(
      detectResources({ detectors: [envDetector] }),
    ),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: config.scheduledDelayMs })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}
