/**
 * How provider failures reach the pipeline: real HTTP errors from the sandbox, a real timeout,
 * a refused connection, each mapped to the port's OutsideApiError kinds (account-level ones
 * included: 402, 401/403, an unknown model), with exactly one HTTP request per call (the SDK's
 * own retries are off) and nothing secret in the message.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retryAfterFrom } from '../../adapters/outside-api/retry-after.ts';
import type { Sandbox, SandboxReply } from '../../adapters/sandbox/server.ts';
import { OutsideApiError } from '../../ports/outside-api.port.ts';
import { adaptersFor, startTestSandbox, testLead, TEST_PROVIDER_KEY, type SandboxAdapters } from '../support/sandbox.ts';

let sandbox: Sandbox;
let adapters: SandboxAdapters;
/** A sandbox that answers the next request with `scripted` (a provider's own error body), once. */
let scriptedSandbox: Sandbox;
let scripted: SandboxReply | undefined;
const lead = testLead();
/** Every message an OutsideApiError carried in this file, checked for secrets at the end. */
const messages: string[] = [];

beforeAll(async () => {
  sandbox = await startTestSandbox({ apiKey: TEST_PROVIDER_KEY });
  adapters = adaptersFor(sandbox, { timeoutMs: 2_000 });
  scriptedSandbox = await startTestSandbox({
    interceptors: [
      () => {
        const reply = scripted;
        scripted = undefined;
        return reply;
      },
    ],
  });
});
afterAll(async () => {
  await sandbox.close();
  await scriptedSandbox.close();
});
beforeEach(() => sandbox.reset());

async function failure(call: Promise<unknown>): Promise<OutsideApiError> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OutsideApiError);
  messages.push((error as OutsideApiError).message);
  return error as OutsideApiError;
}

const research = (adapter = adapters.research, signal = new AbortController().signal) => adapter.research({ lead }, signal);
const write = () =>
  adapters.writer.write({ lead, research: { text: '[sandbox research] x\n- Acme Robotics opened a new office in Lisbon in May 2026. [1]', citations: [], model: 'm' } }, new AbortController().signal);

describe('provider errors', () => {
  it.each([
    [500, 'unavailable'],
    [503, 'unavailable'],
    [402, 'out_of_credit'],
    [401, 'unauthorized'],
    [403, 'unauthorized'],
    [404, 'unknown_model'],
    [400, 'rejected'],
    [422, 'rejected'],
  ] as const)('HTTP %i from either provider is %s, after one request', async (status, kind) => {
    sandbox.failNext(status, 2);
    const fromResearch = await failure(research());
    const fromWriter = await failure(write());
    // The API is the pipeline's name (the wrapper's, under which a pause is recorded); the message names the provider.
    expect(fromResearch).toMatchObject({ failure: kind, api: 'research', status });
    expect(fromWriter).toMatchObject({ failure: kind, api: 'personalization', status });
    expect(fromResearch.message).toMatch(new RegExp(`^perplexity ${status}: [A-Za-z ]+( \\([a-z_ ]+\\))?$`));
    expect(fromWriter.message.startsWith(`openrouter ${status}: `)).toBe(true);
    expect(sandbox.stats.requests).toEqual({ responses: 1, chatCompletions: 1 });
  });

  it('reads an unknown model from the 400s Perplexity and OpenRouter answer for one', async () => {
    const { research: perplexity, writer: openrouter } = adaptersFor(scriptedSandbox);
    // Perplexity: 400 with the type `invalid_model`.
    scripted = {
      status: 400,
      body: { error: { message: "Invalid model 'sonar-x'. Permitted models can be found in the documentation.", type: 'invalid_model', code: 400 } },
    };
    expect(await failure(research(perplexity))).toMatchObject({ failure: 'unknown_model', status: 400, message: 'perplexity 400: unknown model (invalid_model)' });
    // OpenRouter: 400 whose message says the id is not a valid model ID (no code but the status).
    scripted = { status: 400, body: { error: { message: 'anthropic/claude-x is not a valid model ID', code: 400 } } };
    const fromWriter = await failure(openrouter.write({ lead, research: { text: 'x', citations: [], model: 'm' } }, new AbortController().signal));
    expect(fromWriter).toMatchObject({ failure: 'unknown_model', status: 400, message: 'openrouter 400: unknown model' });
    // OpenAI's own shape: 404 with the code `model_not_found`.
    scripted = { status: 404, body: { error: { message: 'The model does not exist', type: 'invalid_request_error', code: 'model_not_found' } } };
    expect(await failure(research(perplexity))).toMatchObject({ failure: 'unknown_model', message: 'perplexity 404: unknown model (model_not_found)' });
    // Any other 400 is about the input.
    scripted = { status: 400, body: { error: { message: 'messages must not be empty', code: 400 } } };
    expect(await failure(research(perplexity))).toMatchObject({ failure: 'rejected' });
  });

  it("keeps OpenRouter's moderation 403 (flagged input) rejected, and its key-limit 403 unauthorized", async () => {
    const { writer: openrouter } = adaptersFor(scriptedSandbox);
    const write403 = () => openrouter.write({ lead, research: { text: 'x', citations: [], model: 'm' } }, new AbortController().signal);
    scripted = {
      status: 403,
      body: { error: { code: 403, message: 'Your chosen model requires moderation', metadata: { reasons: ['harassment'], flagged_input: 'Ana Lima ...' } } },
    };
    const flagged = await failure(write403());
    expect(flagged).toMatchObject({ failure: 'rejected', status: 403 });
    expect(flagged.message).not.toContain('Ana');
    scripted = { status: 403, body: { error: { code: 403, message: 'Key limit exceeded (total limit).' } } };
    expect(await failure(write403())).toMatchObject({ failure: 'unauthorized', status: 403 });
  });

  it('429 is rate_limited with retry-after seconds turned into milliseconds', async () => {
    sandbox.failNext(429, 1, { headers: { 'retry-after': '2' } });
    const error = await failure(research());
    expect(error).toMatchObject({ failure: 'rate_limited', retryAfterMs: 2000 });
    expect(sandbox.stats.requests.responses).toBe(1);
  });

  it('429 prefers retry-after-ms, and reads an HTTP date', async () => {
    sandbox.failNext(429, 1, { headers: { 'retry-after-ms': '1500', 'retry-after': '9' } });
    expect(await failure(write())).toMatchObject({ failure: 'rate_limited', retryAfterMs: 1500 });

    const inTenSeconds = new Date(Math.ceil(Date.now() / 1000) * 1000 + 10_000).toUTCString();
    sandbox.failNext(429, 1, { headers: { 'retry-after': inTenSeconds } });
    const dated = await failure(write());
    expect(dated.retryAfterMs).toBeGreaterThan(8_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(11_000);

    sandbox.failNext(429);
    expect(await failure(write())).toMatchObject({ failure: 'rate_limited', retryAfterMs: undefined });
  });

  it('a call slower than the adapter timeout is unavailable, and does not wait for the answer', async () => {
    const { research: impatient } = adaptersFor(sandbox, { timeoutMs: 200 });
    sandbox.delayNext(3_000);
    const started = performance.now();
    const error = await failure(research(impatient));
    expect(error).toMatchObject({ failure: 'unavailable' });
    expect(error.message).toContain('timed out');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(sandbox.stats.requests.responses).toBe(1);
  });

  it('an aborted signal (shutdown) is unavailable', async () => {
    const controller = new AbortController();
    sandbox.delayNext(3_000);
    const call = research(adapters.research, controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect(await failure(call)).toMatchObject({ failure: 'unavailable' });
  });

  it('a refused connection is unavailable', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const { research: nowhere } = adaptersFor({ ...sandbox, url: `http://127.0.0.1:${closedPort}/v1` });
    expect(await failure(research(nowhere))).toMatchObject({ failure: 'unavailable' });
  });

  it('a wrong API key is unauthorized (401): an account failure, not the lead\'s', async () => {
    const { research: badKey, writer } = adaptersFor(sandbox, { apiKey: 'sk-wrong-key-0000' });
    const error = await failure(research(badKey));
    expect(error).toMatchObject({ failure: 'unauthorized', status: 401, message: 'perplexity 401: API key rejected (invalid_api_key)' });
    const fromWriter = await failure(writer.write({ lead, research: { text: 'x', citations: [], model: 'm' } }, new AbortController().signal));
    expect(fromWriter.message).not.toContain('sk-wrong-key-0000');
  });

  it('a request without an Authorization header gets 401 and an OpenAI-style error body', async () => {
    const response = await fetch(`${sandbox.url}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'perplexity/sonar', input: 'hi' }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
  });

  it('no error message holds the API key or the lead’s email address', () => {
    expect(messages.length).toBeGreaterThan(10);
    for (const message of messages) {
      expect(message).not.toContain(TEST_PROVIDER_KEY);
      expect(message).not.toContain(lead.email);
      expect(message).not.toContain('Acme');
    }
  });
});

describe('retryAfterFrom', () => {
  it('ignores values it cannot read', () => {
    const headers = (values: Record<string, string>) => new Headers(values);
    expect(retryAfterFrom(headers({}))).toBeUndefined();
    expect(retryAfterFrom(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterFrom(headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }), Date.parse('2015-10-21T07:28:30Z'))).toBe(0);
    expect(retryAfterFrom(headers({ 'retry-after': '0.5' }))).toBe(500);
  });
});
