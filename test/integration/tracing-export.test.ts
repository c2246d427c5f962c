// OTLP export is driven by the standard OTEL_* variables; a local HTTP server plays the collector.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTelemetry, withSpan } from '../../adapters/telemetry/tracing.ts';

interface Received {
  readonly path: string;
  readonly body: string;
}

const received: Received[] = [];
let collector: Server;
let endpoint: string;

beforeAll(async () => {
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});

afterEach(() => {
  vi.unstubAllEnvs();
  received.length = 0;
});

afterAll(async () => {
  await new Promise((resolve) => collector.close(resolve));
});

describe('startTelemetry', () => {
  it('exports spans over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, with the service name', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', endpoint);
    const telemetry = startTelemetry({ serviceName: 'aga-export-test' });
    await withSpan('exported work', { 'aga.run_id': 'run-1' }, () => Promise.resolve());
    await telemetry.shutdown();

    expect(received.map((request) => request.path)).toEqual(['/v1/traces']);
    expect(received[0]?.body).toContain('exported work');
    expect(received[0]?.body).toContain('aga-export-test');
  });

  it('exports nothing, but still makes trace ids, when no endpoint is set', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', '');
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', '');
    const telemetry = startTelemetry({ serviceName: 'aga-export-test' });
    const span = await withSpan('local work', {}, (span) => Promise.resolve(span));
    await telemetry.shutdown();

    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    // Sampled out: nothing would read what a recording span keeps.
    expect(span.isRecording()).toBe(false);
    expect(received).toEqual([]);
  });

  it('installs nothing when OTEL_SDK_DISABLED=true', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', endpoint);
    vi.stubEnv('OTEL_SDK_DISABLED', 'true');
    const telemetry = startTelemetry({ serviceName: 'aga-export-test' });
    const recording = await withSpan('disabled work', {}, (span) => Promise.resolve(span.isRecording()));
    await telemetry.shutdown();

    expect(recording).toBe(false);
    expect(received).toEqual([]);
  });
});
