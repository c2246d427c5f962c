// Traces as an operator reads them, from the real system (HTTP edge, JetStream consumers, sandbox
// provider over HTTP, PostgreSQL) and the real tracing SDK with an in-memory exporter: a request's
// SERVER span at the root, provider calls as GenAI CLIENT spans in each lead's trace, and no
// token, prompt or lead data in any span.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/nats.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

const RESEARCH_PROMPT = 'Look for news about their pelican logistics programme.';
const PERSONALIZATION_PROMPT = 'Open with a remark about their zebra-striped migration roadmap.';
const LEADS = [
  { email: 'ottilie.quarrington@tracing.example', name: 'Ottilie', company: 'Quarrington Mills' },
  { email: 'bartholomew.vexley@tracing.example', name: 'Bartholomew', company: 'Vexley Foundry' },
];
/** Words that must appear in no span: the leads' data, the prompts. */
const SECRETS = [...LEADS.flatMap((lead) => [lead.email, lead.name, lead.company]), 'pelican logistics', 'zebra-striped'];

interface Submitted {
  readonly run_id: string;
  readonly campaign_id: string;
}

describe('traces, end to end', () => {
  let system: E2ESystem;
  let user: TestUser;
  let submitted: Submitted;
  /** The W3C trace context the client sends with its submit. */
  const clientTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const clientSpanId = '00f067aa0ba902b7';

  beforeAll(async () => {
    system = await startE2ESystem();
    user = await testUser();
    const csv = ['Email,First Name,Company', ...LEADS.map((lead) => `${lead.email},${lead.name},${lead.company}`)].join('\n');
    const res = await postProcess(system.baseUrl, {
      token: user.token,
      content: csv,
      fields: { campaign_name: 'Traced', research_prompt: RESEARCH_PROMPT, personalization_prompt: PERSONALIZATION_PROMPT },
      headers: { traceparent: `00-${clientTraceId}-${clientSpanId}-01` },
    });
    expect(res.status).toBe(202);
    submitted = (await res.json()) as Submitted;
    await eventually('the run to complete', async () => {
      const status = await apiGet(system.baseUrl, `/api/campaigns/status/${submitted.run_id}`, user);
      return ((await status.json()) as { status: string }).status === 'completed';
    });
    await system.idle();
  });
  afterAll(() => system?.close());

  const spans = (): ReadableSpan[] => system.telemetry.exporter.getFinishedSpans();
  const server = (route: string): ReadableSpan[] =>
    spans().filter((span) => span.kind === SpanKind.SERVER && span.attributes['http.route'] === route);

  it('roots a submit in a SERVER span that continues the caller\'s traceparent, with createRun and the submit\'s publish under it', () => {
    const [request] = server('/api/campaigns/process');
    expect(request).toBeDefined();
    expect(request!.name).toBe('POST /api/campaigns/process');
    expect(request!.spanContext().traceId).toBe(clientTraceId);
    expect(request!.parentSpanContext?.spanId).toBe(clientSpanId);
    expect(request!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/campaigns/process',
      'http.response.status_code': 202,
      'url.scheme': 'http',
      'url.path': '/api/campaigns/process',
      'server.address': '127.0.0.1',
    });
    expect(request!.status.code).not.toBe(SpanStatusCode.ERROR);

    const createRun = spans().find((span) => span.name === 'postgres createRun' && span.attributes.run_id === submitted.run_id);
    expect(createRun?.parentSpanContext?.spanId).toBe(request!.spanContext().spanId);
    // The submit's event is published in the request's trace, and extraction consumes it there.
    const inRequestTrace = spans().filter((span) => span.spanContext().traceId === clientTraceId);
    expect(inRequestTrace.some((span) => span.kind === SpanKind.PRODUCER)).toBe(true);
    expect(
      inRequestTrace.some((span) => span.kind === SpanKind.CONSUMER && span.attributes['messaging.consumer.group.name'] === 'extraction'),
    ).toBe(true);
  });

  it('puts each lead\'s provider calls in its trace as GenAI CLIENT spans with model and tokens, under the consumer spans', async () => {
    const rows = await system.sql<{ id: string }[]>`select id from leads where run_id = ${submitted.run_id}`;
    expect(rows).toHaveLength(LEADS.length);
    for (const { id } of rows) {
      const [root] = spans().filter((span) => span.name === 'lead' && span.attributes.lead_id === id);
      expect(root, `the trace of lead ${id}`).toBeDefined();
      const traceId = root!.spanContext().traceId;
      const inTrace = spans().filter((span) => span.spanContext().traceId === traceId);
      const calls = inTrace.filter((span) => span.attributes['gen_ai.system'] !== undefined);
      expect(new Set(calls.map((span) => span.attributes['gen_ai.system']))).toEqual(new Set(['perplexity', 'openrouter']));
      for (const call of calls) {
        expect(call.kind).toBe(SpanKind.CLIENT);
        expect(call.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'server.address': '127.0.0.1' });
        expect(call.attributes['gen_ai.request.model']).toEqual(expect.any(String));
        // The sandbox answers as `sandbox/...` whatever model is asked for.
        expect(call.attributes['gen_ai.response.model']).toMatch(/^sandbox\//);
        expect(call.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
        expect(call.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
        expect(call.name).toBe(`chat ${String(call.attributes['gen_ai.request.model'])}`);
        const parent = inTrace.find((span) => span.spanContext().spanId === call.parentSpanContext?.spanId);
        expect(parent?.kind).toBe(SpanKind.CONSUMER);
        expect(parent?.attributes['messaging.consumer.group.name']).toBe(call.attributes['gen_ai.system'] === 'perplexity' ? 'research' : 'personalization');
        // The wait for a turn in the rate budget is an event on the consumer's span.
        expect(parent?.events.some((event) => event.name === 'outside_api.wait' && typeof event.attributes?.['aga.outside_api.wait_ms'] === 'number')).toBe(true);
      }
    }
  });

  it('records no lead data, prompt or token in any span', async () => {
    // The event stream takes its token from the query string, as a browser's EventSource sends it.
    const res = await fetch(`${system.baseUrl}/api/campaigns/events/${submitted.run_id}?access_token=${user.token}`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    await res.text();
    await eventually('the event stream\'s span', () => server('/api/campaigns/events/:runId').length > 0);
    const [stream] = server('/api/campaigns/events/:runId');
    expect(stream!.attributes['url.path']).toBe(`/api/campaigns/events/${submitted.run_id}`);

    const everything = JSON.stringify(
      spans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status, links: span.links })),
    );
    for (const secret of [...SECRETS, user.token, 'access_token', 'Bearer']) expect(everything).not.toContain(secret);
  });
});
