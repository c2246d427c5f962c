/**
 * OpenTelemetry metrics. `startMetrics` installs the process's meter provider (the global one, so
 * adapters record through `instruments()` without being handed anything): Prometheus's text
 * format at `/metrics` on its own listener (METRICS_PORT, apart from the API, so it is never public
 * by accident), and OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set, like traces (tracing.ts).
 *
 * Names follow OpenTelemetry's semantic conventions where there is one (messaging, GenAI, error.type)
 * and `aga.*` otherwise. Cardinality is bounded: attributes are consumer and subject names, API
 * names, outcomes, error kinds, models and user classes; never a lead, run or user id, never
 * personal data.
 */
import { metrics, type Attributes, type Counter, type Histogram, type Meter, type MeterProvider, type ObservableResult } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider as SdkMeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { LeadOutcome, PipelineMetrics, UserClass } from '../../ports/metrics.port.ts';

const METER_NAME = 'ai-growth-accelerator';

/** Seconds: a message handled in milliseconds up to a provider call of a minute or two. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds: a run of a few leads up to one of hours. */
const RUN_SECONDS_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200, 21_600, 86_400];
/** Tokens per call (GenAI conventions' advice). */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576];

export interface MetricsOptions {
  readonly serviceName: string;
  /** The Prometheus listener's port; 0: none (OTLP may still export). */
  readonly port: number;
  /** Default: every interface, as Prometheus scrapes from elsewhere. */
  readonly host?: string;
  /** Extra readers (tests pass an in-memory one). */
  readonly readers?: readonly IMetricReader[];
}

export interface RunningMetrics {
  /** The Prometheus listener's port; null when there is none. */
  readonly port: number | null;
  /** Exports what is left, stops the listener and uninstalls the provider. */
  shutdown(): Promise<void>;
}

/** Installs metrics for the process; nothing when `OTEL_SDK_DISABLED=true` and no reader is injected. */
export async function startMetrics(options: MetricsOptions): Promise<RunningMetrics> {
  const readers: IMetricReader[] = [...(options.readers ?? [])];
  if (readers.length === 0 && process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    return { port: null, shutdown: async () => {} };
  }
  let prometheus: PrometheusExporter | undefined;
  if (options.port > 0) {
    prometheus = new PrometheusExporter({ port: options.port, host: options.host ?? '0.0.0.0', preventServerStart: true });
    readers.push(prometheus);
  }
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) {
    // The exporter reads the endpoint, headers and timeout from the same OTEL_* variables.
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() }));
  }
  // Nowhere to send them: nothing installed, every instrument a no-op.
  if (readers.length === 0) return { port: null, shutdown: async () => {} };
  const provider = new SdkMeterProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME || options.serviceName }),
    readers,
  });
  metrics.setGlobalMeterProvider(provider);
  try {
    await prometheus?.startServer();
  } catch (error) {
    await provider.shutdown().catch(() => undefined);
    metrics.disable();
    throw new Error(`METRICS_PORT ${options.port}: cannot listen (${error instanceof Error ? error.message : String(error)}); set another port, or 0 to serve no metrics`, { cause: error });
  }
  return {
    port: prometheus === undefined ? null : options.port,
    async shutdown() {
      await provider.shutdown();
      metrics.disable();
    },
  };
}

/** The service's instruments, on the installed provider (no-ops before startMetrics). */
export interface Instruments {
  readonly meter: Meter;
  readonly consumedMessages: Counter;
  readonly processDuration: Histogram;
  readonly leadsSettled: Counter;
  readonly runDuration: Histogram;
  readonly providerCalls: Counter;
  readonly providerDuration: Histogram;
  readonly providerCost: Counter;
  readonly rateLimitWait: Histogram;
  readonly tokenUsage: Histogram;
}

const cache = new WeakMap<MeterProvider, Instruments>();

export function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  let found = cache.get(provider);
  if (found === undefined) {
    found = createInstruments(provider.getMeter(METER_NAME));
    cache.set(provider, found);
  }
  return found;
}

function createInstruments(meter: Meter): Instruments {
  return {
    meter,
    consumedMessages: meter.createCounter('messaging.client.consumed.messages', {
      description: 'Messages delivered to a consumer, by consumer and subject (error.type when handling failed).',
      unit: '{message}',
    }),
    processDuration: meter.createHistogram('messaging.process.duration', {
      description: 'How long a consumer took to handle a message.',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    leadsSettled: meter.createCounter('aga.leads.settled', {
      description: 'Leads settled, by outcome and user class (each lead once, when its run counts it).',
      unit: '{lead}',
    }),
    runDuration: meter.createHistogram('aga.run.duration', {
      description: 'From a run created to its end, by final status and user class.',
      unit: 's',
      advice: { explicitBucketBoundaries: RUN_SECONDS_BUCKETS },
    }),
    providerCalls: meter.createCounter('aga.provider.calls', {
      description: 'Calls to an outside API, by API and outcome (ok or the error.type).',
      unit: '{call}',
    }),
    providerDuration: meter.createHistogram('aga.provider.duration', {
      description: 'How long a call to an outside API took, once it had its turn.',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    providerCost: meter.createCounter('aga.provider.cost', {
      description: 'What provider calls cost, in US dollars, by API and model.',
      unit: 'USD',
    }),
    rateLimitWait: meter.createHistogram('aga.provider.rate_limit.wait', {
      description: 'How long a call waited for its turn under the shared rate budget and concurrency.',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    tokenUsage: meter.createHistogram('gen_ai.client.token.usage', {
      description: 'Tokens used per model call (GenAI semantic conventions), by gen_ai.token.type.',
      unit: '{token}',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
  };
}

/** The pipeline's own metrics (ports/metrics.port.ts) on the installed provider. */
export class OtelPipelineMetrics implements PipelineMetrics {
  leadsSettled(outcome: LeadOutcome, userClass: UserClass, count = 1): void {
    if (count > 0) instruments().leadsSettled.add(count, { outcome, 'user.class': userClass });
  }

  runCompleted(status: string, userClass: UserClass, durationSeconds: number): void {
    instruments().runDuration.record(Math.max(0, durationSeconds), { status, 'user.class': userClass });
  }
}

/**
 * Registers observable gauges read at each collection. `observe` is called per collection and
 * must answer from a cache (never a broker or database round trip per scrape beyond what it caches).
 */
export function observeGauge(
  name: string,
  description: string,
  observe: () => Promise<readonly (readonly [number, Attributes])[]> | readonly (readonly [number, Attributes])[],
  unit = '1',
): void {
  const gauge = instruments().meter.createObservableGauge(name, { description, unit });
  gauge.addCallback(async (result: ObservableResult) => {
    try {
      for (const [value, attributes] of await observe()) result.observe(value, attributes);
    } catch {
      // Nothing observed this time: a gauge missing from one scrape says the source was unreachable.
    }
  });
}
