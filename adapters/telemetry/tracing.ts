/**
 * OpenTelemetry tracing. The provider and the W3C trace-context propagator are always installed
 * (unless `OTEL_SDK_DISABLED=true`), so trace ids exist in logs and travel in NATS headers even
 * when nothing is exported; spans leave the process over OTLP/HTTP only when the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set. With nothing to
 * export, spans are sampled out: they keep their ids but record nothing (an import starts two
 * spans per lead, which would otherwise be built only to be dropped).
 *
 * Span attributes hold ids and counts only: never an email, a name, a prompt or a token.
 */
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { TraceCarrier, Tracing } from '../../ports/tracing.port.ts';

const TRACER_NAME = 'ai-growth-accelerator';

export interface TelemetryOptions {
  readonly serviceName: string;
  /** Receives every span as it ends (tests pass an InMemorySpanExporter); replaces OTLP export. */
  readonly exporter?: SpanExporter;
}

export interface Telemetry {
  /** Exports what is buffered, then uninstalls the provider, propagator and context manager. */
  shutdown(): Promise<void>;
}

/** Installs tracing for the process; an injected exporter works even when OTEL_SDK_DISABLED is set. */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (options.exporter === undefined && process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    return { shutdown: async () => {} };
  }
  const spanProcessors: SpanProcessor[] = [];
  if (options.exporter !== undefined) {
    spanProcessors.push(new SimpleSpanProcessor(options.exporter));
  } else if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    // The exporter reads the endpoint, headers and timeout from the same OTEL_* variables.
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME || options.serviceName }),
    spanProcessors,
    ...(spanProcessors.length === 0 ? { sampler: new AlwaysOffSampler() } : {}),
  });
  // The default context manager is AsyncLocalStorage: the active span follows async calls.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The service's tracer (a no-op until startTelemetry runs). */
export function getTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Runs `fn` in a child span of the active one: for adapters' database writes and provider calls.
 * A failure marks the span as an error (with the error's message, which must hold no lead data).
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  return getTracer().startActiveSpan(name, { kind, attributes }, (span) => runInSpan(span, () => fn(span)));
}

/** Ends the span when `work` settles, recording a failure on it. */
export async function runInSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

export class OtelTracing implements Tracing {
  /** A root span linked to the active one (the new trace points back at what started it), ended at once; its context as a carrier. */
  startTrace(name: string, attributes: Readonly<Record<string, string>>): TraceCarrier {
    const current = trace.getActiveSpan()?.spanContext();
    const links = current !== undefined && trace.isSpanContextValid(current) ? [{ context: current }] : [];
    const span = getTracer().startSpan(name, { root: true, links, attributes: { ...attributes } });
    span.end();
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), carrier);
    return carrier;
  }
}
