// Each provider request is a GenAI CLIENT span (real tracing SDK, in-memory exporter), over real
// HTTP to the sandbox: the model and tokens on success, the failure kind on error, never the lead,
// the prompt, the answer or the key.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox, SandboxReply } from '../../adapters/sandbox/server.ts';
import { withSpan } from '../../adapters/telemetry/tracing.ts';
import { adaptersFor, startTestSandbox, testLead, TEST_PROVIDER_KEY, type SandboxAdapters } from '../support/sandbox.ts';
import { startTestTelemetry, type TestTelemetry } from '../support/tracing.ts';

let telemetry: TestTelemetry;
let sandbox: Sandbox;
let adapters: SandboxAdapters;
let scripted: SandboxReply | undefined;
const lead = testLead({ email: 'wilhelmina.frost@glacier-works.example', firstName: 'Wilhelmina', company: 'Glacier Works' });
const PROMPT = 'Mention their narwhal-grade cold storage.';

beforeAll(async () => {
  telemetry = startTestTelemetry();
  sandbox = await startTestSandbox({
    apiKey: TEST_PROVIDER_KEY,
    interceptors: [
      () => {
        const reply = scripted;
        scripted = undefined;
        return reply;
      },
    ],
  });
  adapters = adaptersFor(sandbox, { timeoutMs: 5_000 });
});
beforeEach(() => telemetry.exporter.reset());
afterAll(async () => {
  await sandbox.close();
  await telemetry.shutdown();
});

function calls(): ReadableSpan[] {
  return telemetry.exporter.getFinishedSpans().filter((span) => span.attributes['gen_ai.system'] !== undefined);
}

describe('provider call spans', () => {
  it('are CLIENT children of the active span with the GenAI attributes, and hold no lead data, prompt or answer', async () => {
    const signal = new AbortController().signal;
    const { research, draft } = await withSpan('consumer', {}, async () => {
      const research = await adapters.research.research({ lead, prompt: PROMPT }, signal);
      const draft = await adapters.writer.write({ lead, research, prompt: PROMPT }, signal);
      return { research, draft };
    });
    const [consumer] = telemetry.spans('consumer');
    const [researchSpan, writerSpan] = calls();
    expect(calls()).toHaveLength(2);
    for (const [span, system, answer] of [
      [researchSpan, 'perplexity', research],
      [writerSpan, 'openrouter', draft],
    ] as const) {
      expect(span!.kind).toBe(SpanKind.CLIENT);
      expect(span!.parentSpanContext?.spanId).toBe(consumer!.spanContext().spanId);
      expect(span!.attributes).toMatchObject({
        'gen_ai.system': system,
        'gen_ai.operation.name': 'chat',
        'gen_ai.response.model': answer.model,
        'gen_ai.usage.input_tokens': answer.usage?.inputTokens,
        'gen_ai.usage.output_tokens': answer.usage?.outputTokens,
        'server.address': '127.0.0.1',
      });
      expect(span!.name).toBe(`chat ${String(span!.attributes['gen_ai.request.model'])}`);
      expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    }
    const recorded = JSON.stringify(telemetry.exporter.getFinishedSpans().map((span) => [span.name, span.attributes, span.events, span.status]));
    for (const secret of [lead.email, 'Wilhelmina', 'Glacier Works', 'narwhal', TEST_PROVIDER_KEY, research.text.slice(0, 40), draft.message.slice(0, 40)]) {
      expect(recorded).not.toContain(secret);
    }
  });

  it('record a failure as an error with its kind and status, not the provider\'s text', async () => {
    scripted = { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'slow down, Wilhelmina', type: 'rate_limit_exceeded' } } };
    await expect(adapters.research.research({ lead }, new AbortController().signal)).rejects.toThrow();
    const [span] = calls();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes).toMatchObject({ 'error.type': 'rate_limited', 'http.response.status_code': 429 });
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
    expect(JSON.stringify([span!.attributes, span!.status])).not.toMatch(/Wilhelmina|slow down/);
  });
});
