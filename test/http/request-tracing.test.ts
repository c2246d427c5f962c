// The request's SERVER span, with the real tracing SDK (in-memory exporter) and a real Hono app.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requestTracing } from '../../adapters/http/middleware/tracing.ts';
import { getTracer, withSpan } from '../../adapters/telemetry/tracing.ts';
import { startTestTelemetry, type TestTelemetry } from '../support/tracing.ts';

let telemetry: TestTelemetry;
const app = new Hono();
app.use(requestTracing(getTracer));
app.use('/items/*', async (c, next) => {
  if (c.req.header('x-deny') !== undefined) return c.text('no', 401);
  await next();
});
app.get('/items/:id', (c) => withSpan('postgres readItem', {}, () => Promise.resolve(c.text(c.req.param('id')))));
app.get('/broken', () => {
  throw new Error('boom');
});
app.get('/down', (c) => c.text('down', 503));
app.onError((_error, c) => c.text('failed', 500));

beforeAll(() => {
  telemetry = startTestTelemetry();
});
beforeEach(() => telemetry.exporter.reset());
afterAll(() => telemetry.shutdown());

function only(): ReadableSpan {
  const servers = telemetry.exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER);
  expect(servers).toHaveLength(1);
  return servers[0]!;
}

describe('requestTracing', () => {
  it('names the span by the route pattern, never the query string, and makes the handler\'s spans its children', async () => {
    const res = await app.request('https://api.example.com/items/42?access_token=secret-token&email=ann@example.com', {
      headers: { 'user-agent': 'probe/1.0', authorization: 'Bearer secret-token' },
    });
    expect(res.status).toBe(200);
    const span = only();
    expect(span.name).toBe('GET /items/:id');
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes).toEqual({
      'http.request.method': 'GET',
      'http.route': '/items/:id',
      'http.response.status_code': 200,
      'url.scheme': 'https',
      'url.path': '/items/42',
      'server.address': 'api.example.com',
      'user_agent.original': 'probe/1.0',
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const [read] = telemetry.spans('postgres readItem');
    expect(read?.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
    expect(JSON.stringify(telemetry.exporter.getFinishedSpans().map((s) => s.attributes))).not.toMatch(/secret-token|access_token|example\.com\/|ann@/);
  });

  it('continues the caller\'s traceparent', async () => {
    await app.request('http://localhost:8080/items/7', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    const span = only();
    expect(span.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(span.attributes['server.port']).toBe(8080);
  });

  it('keeps the route of a request its middleware refused', async () => {
    const res = await app.request('http://localhost/items/7', { headers: { 'x-deny': '1' } });
    expect(res.status).toBe(401);
    expect(only().attributes).toMatchObject({ 'http.route': '/items/:id', 'http.response.status_code': 401 });
    expect(only().status.code).toBe(SpanStatusCode.UNSET);
  });

  it('marks a 5xx answer an error, thrown or returned', async () => {
    expect((await app.request('http://localhost/broken')).status).toBe(500);
    expect(only().status.code).toBe(SpanStatusCode.ERROR);
    expect(only().attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' });
    telemetry.exporter.reset();
    expect((await app.request('http://localhost/down')).status).toBe(503);
    expect(only().attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503' });
  });

  it('names an unmatched request by its method only', async () => {
    expect((await app.request('http://localhost/nowhere/123')).status).toBe(404);
    expect(only().name).toBe('GET');
    expect(only().attributes['http.route']).toBeUndefined();
  });
});
