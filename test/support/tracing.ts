/** Tracing for tests: the real SDK with an in-memory exporter the test reads. */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTelemetry } from '../../adapters/telemetry/tracing.ts';

export interface TestTelemetry {
  readonly exporter: InMemorySpanExporter;
  /** Finished spans named `name` (several when a span repeats). */
  spans(name: string): ReadableSpan[];
  shutdown(): Promise<void>;
}

export function startTestTelemetry(): TestTelemetry {
  const exporter = new InMemorySpanExporter();
  const telemetry = startTelemetry({ serviceName: 'aga-test', exporter });
  return {
    exporter,
    spans: (name) => exporter.getFinishedSpans().filter((span) => span.name === name),
    shutdown: () => telemetry.shutdown(),
  };
}
