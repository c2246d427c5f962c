/**
 * How provider failures reach the pipeline: real HTTP errors from the sandbox, a real timeout,
 * a refused connection, each mapped to the port's ProviderError kinds, with exactly one HTTP
 * request per call (the SDK's own retries are off) and nothing secret in the message.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retryAfterFrom } from '../../adapters/providers/errors.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { ProviderError } from '../../ports/providers.port.ts';
import { adaptersFor, startTestSandbox, testLead, TEST_PROVIDER_KEY, type SandboxAdapters } from '../support/sandbox.ts';

let sandbox: Sandbox;
let adapters: SandboxAdapters;
const lead = testLead();
/** Every message a ProviderError carried in this file, checked for secrets at the end. */
const messages: string[] = [];

beforeAll(async () => {
  sandbox = await startTestSandbox({ apiKey: TEST_PROVIDER_KEY });
  adapters = adaptersFor(sandbox, { timeoutMs: 2_000 });
});
afterAll(() => sandbox.close());
beforeEach(() => sandbox.reset());

async function failure(call: Promise<unknown>): Promise<ProviderError> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ProviderError);
  messages.push((error as ProviderError).message);
  return error as ProviderError;
}

const research = (adapter = adapters.research, signal = new AbortController().signal) => adapter.research({ lead }, signal);
const write = () =>
  adapters.writer.write({ lead, research: { text: '[sandbox research] x\n- Acme Robotics opened a new office in Lisbon in May 2026. [1]', citations: [], model: 'm' } }, new AbortController().signal);

describe('provider errors', () => {
  it.each([
    [500, 'unavailable'],
    [503, 'unavailable'],
    [402, 'out_of_credit'],
    [400, 'rejected'],
    [403, 'rejected'],
    [422, 'rejected'],
  ] as const)('HTTP %i from either provider is %s, after one request', async (status, kind) => {
    sandbox.failNext(status, 2);
    const fromResearch = await failure(research());
    const fromWriter = await failure(write());
    expect(fromResearch).toMatchObject({ failure: kind, provider: 'perplexity' });
    expect(fromWriter).toMatchObject({ failure: kind, provider: 'openrouter' });
    expect(fromResearch.message).toMatch(new RegExp(`^perplexity ${status}: [a-z ]+( \\([a-z_ ]+\\))?$`));
    expect(sandbox.stats.requests).toEqual({ responses: 1, chatCompletions: 1 });
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

  it('a wrong API key is rejected (401)', async () => {
    const { research: badKey, writer } = adaptersFor(sandbox, { apiKey: 'sk-wrong-key-0000' });
    const error = await failure(research(badKey));
    expect(error).toMatchObject({ failure: 'rejected' });
    expect(error.message).toContain('401');
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
