/**
 * The sandbox provider as an HTTP server: its protocol edges (auth, routes, bad bodies), its
 * stats and test hooks, and the standalone `npm run sandbox` script.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { startTestSandbox, spawnSandboxScript } from '../support/sandbox.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox();
});
afterAll(() => sandbox.close());
beforeEach(() => sandbox.reset());

function post(path: string, body: unknown, headers: Record<string, string> = { authorization: 'Bearer anything' }) {
  return fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const researchBody = { model: 'perplexity/sonar', input: 'Research this lead.\n\n<lead_data>\n{"lead":{"company":"Initech"}}\n</lead_data>' };

describe('sandbox provider over HTTP', () => {
  it('answers the same prompt with the same research', async () => {
    const first = (await (await post('/responses', researchBody)).json()) as { output_text: string; model: string };
    const second = (await (await post('/responses', researchBody)).json()) as { output_text: string };
    expect(first.model).toBe('sandbox/research-1');
    expect(first.output_text.startsWith('[sandbox research] ')).toBe(true);
    expect(first.output_text).toContain('Initech');
    expect(second.output_text).toBe(first.output_text);
  });

  it('counts every request per endpoint, 401s included, and records recent bodies', async () => {
    expect((await post('/responses', researchBody, {})).status).toBe(401);
    expect((await post('/responses', researchBody, { authorization: 'Basic abc' })).status).toBe(401);
    expect((await post('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    expect(sandbox.stats.requests).toEqual({ responses: 2, chatCompletions: 1 });
    expect(sandbox.stats.lastRequests.map((record) => record.endpoint)).toEqual(['responses', 'responses', 'chatCompletions']);
    expect(sandbox.stats.lastRequests[0]?.body).toEqual(researchBody);
  });

  it('keeps only the 50 most recent requests', async () => {
    for (let index = 0; index < 55; index += 1) await post('/chat/completions', { model: `m${index}`, messages: [{ role: 'user', content: 'hi' }] });
    expect(sandbox.stats.requests.chatCompletions).toBe(55);
    expect(sandbox.stats.lastRequests).toHaveLength(50);
    expect(sandbox.stats.lastRequests[0]?.body?.model).toBe('m5');
  });

  it('answers bad requests like a provider: 400, 404, 405', async () => {
    expect((await post('/responses', '{not json')).status).toBe(400);
    expect((await post('/responses', { input: 'no model' })).status).toBe(400);
    expect((await post('/chat/completions', { model: 'm', messages: [] })).status).toBe(400);
    expect((await post('/embeddings', { model: 'm' })).status).toBe(404);
    expect((await fetch(`${sandbox.url}/responses`)).status).toBe(405);
  });

  it('applies queued faults in order and only to the endpoint asked', async () => {
    sandbox.failNext(503, 1, { endpoint: 'chatCompletions' });
    expect((await post('/responses', researchBody)).status).toBe(200);
    const failed = await post('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(failed.status).toBe(503);
    expect(await failed.json()).toMatchObject({ error: { code: 'sandbox_fault' } });
    expect((await post('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
  });

  it('runs interceptors after the bearer check, letting them answer instead', async () => {
    const limited = await startTestSandbox({
      interceptors: [(request) => (request.endpoint === 'responses' ? { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'slow down' } } } : undefined)],
    });
    try {
      const response = await fetch(`${limited.url}/responses`, { method: 'POST', headers: { authorization: 'Bearer x' }, body: JSON.stringify(researchBody) });
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('1');
      const anonymous = await fetch(`${limited.url}/responses`, { method: 'POST', body: JSON.stringify(researchBody) });
      expect(anonymous.status).toBe(401);
    } finally {
      await limited.close();
    }
  });
});

describe('npm run sandbox', () => {
  it('prints its URL, serves both endpoints and stops cleanly on SIGTERM', async () => {
    const sandbox = await spawnSandboxScript(['--port', '0']);
    const { child, url } = sandbox;

    const response = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer any', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ object: 'chat.completion', model: 'sandbox/writer-1' });

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
