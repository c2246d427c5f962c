/**
 * The sandbox's injected faults over real HTTP: a rejected key and an unknown model (set and
 * restored at runtime), rate limits with retry-after, credit, errors, timeouts, malformed answers
 * the real adapters reject, lines that invent a specific, seeded latency, and the CLI flags.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LATENCY_SIGMA, faultInterceptors, logNormal, sandboxFaults, stream, type FaultSettings } from '../../adapters/sandbox/faults.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { INVENTIONS } from '../../adapters/sandbox/answers.ts';
import { OutsideApiError } from '../../ports/outside-api.port.ts';
import { adaptersFor, startTestSandbox, testLead, spawnSandboxScript } from '../support/sandbox.ts';

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((sandbox) => sandbox.close()));
});

async function sandboxWith(settings: FaultSettings): Promise<Sandbox> {
  const sandbox = await startTestSandbox({ interceptors: faultInterceptors(settings) });
  open.push(sandbox);
  return sandbox;
}

const WRITER_BODY = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
const RESEARCH_BODY = { model: 'm', input: 'Research this lead.' };

function post(url: string, path: '/responses' | '/chat/completions', init: { signal?: AbortSignal } = {}) {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: 'Bearer any', 'content-type': 'application/json' },
    body: JSON.stringify(path === '/responses' ? RESEARCH_BODY : WRITER_BODY),
    ...init,
  });
}

async function statuses(url: string, path: '/responses' | '/chat/completions', count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let index = 0; index < count; index += 1) seen.push((await post(url, path)).status);
  return seen;
}

describe('sandbox faults', () => {
  it('answers 429 with retry-after beyond n requests in the minute, per endpoint', async () => {
    const sandbox = await sandboxWith({ rpm: 3, rpmBurst: true });
    expect(await statuses(sandbox.url, '/chat/completions', 3)).toEqual([200, 200, 200]);
    const limited = await post(sandbox.url, '/chat/completions');
    expect(limited.status).toBe(429);
    // The oldest of the three leaves the 60 s window in just under a minute: rounded up, 60.
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    // The other endpoint has its own window.
    expect((await post(sandbox.url, '/responses')).status).toBe(200);
  });

  it('spreads the minute over its seconds unless bursts are allowed, and honours per-endpoint limits', async () => {
    const sandbox = await sandboxWith({ rpm: { responses: 120 } });
    // 120 a minute is 2 a second; the writer endpoint has no limit.
    expect(await statuses(sandbox.url, '/responses', 3)).toEqual([200, 200, 429]);
    const limited = await post(sandbox.url, '/responses');
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await statuses(sandbox.url, '/chat/completions', 5)).toEqual([200, 200, 200, 200, 200]);
  });

  it('answers 402 once an endpoint has spent its credit, and again 200 after a top-up', async () => {
    const faults = sandboxFaults({ credit: 2 });
    const sandbox = await startTestSandbox({ interceptors: faults.interceptors });
    open.push(sandbox);
    expect(await statuses(sandbox.url, '/responses', 3)).toEqual([200, 200, 402]);
    expect(await statuses(sandbox.url, '/chat/completions', 3)).toEqual([200, 200, 402]);
    expect(faults.counts.outOfCredit).toBe(2);

    faults.addCredit(1, 'responses');
    expect(await statuses(sandbox.url, '/responses', 2)).toEqual([200, 402]);
    expect((await post(sandbox.url, '/chat/completions')).status).toBe(402);
  });

  it('answers 401 invalid_api_key while the key is rejected, per endpoint, until it is restored', async () => {
    const faults = sandboxFaults({ unauthorized: { responses: true }, credit: 5, rpm: 60, rpmBurst: true });
    const sandbox = await startTestSandbox({ interceptors: faults.interceptors });
    open.push(sandbox);
    const rejected = await post(sandbox.url, '/responses');
    expect(rejected.status).toBe(401);
    expect(await rejected.json()).toMatchObject({ error: { code: 'invalid_api_key', type: 'invalid_request_error' } });
    expect(await statuses(sandbox.url, '/responses', 2)).toEqual([401, 401]);
    expect(await statuses(sandbox.url, '/chat/completions', 1)).toEqual([200]);
    expect(faults.counts.unauthorized).toBe(3);

    // The adapters see an account failure, not a rejected request.
    const { research } = adaptersFor(sandbox);
    const failure = await research.research({ lead: testLead() }, AbortSignal.timeout(5_000)).catch((error: unknown) => error);
    expect(failure).toMatchObject({ failure: 'unauthorized', status: 401 });

    // Turned away at the door: no credit spent, no rate window filled.
    faults.restoreKey();
    expect(await statuses(sandbox.url, '/responses', 5)).toEqual([200, 200, 200, 200, 200]);
    expect((await post(sandbox.url, '/responses')).status).toBe(402);
    faults.rejectKey('chatCompletions');
    expect(await statuses(sandbox.url, '/chat/completions', 1)).toEqual([401]);
    expect(faults.counts).toMatchObject({ unauthorized: 5, outOfCredit: 1, rateLimited: 0 });
  });

  it('answers 404 model_not_found while the model is unknown, until it is restored', async () => {
    const faults = sandboxFaults({});
    const sandbox = await startTestSandbox({ interceptors: faults.interceptors });
    open.push(sandbox);
    expect(await statuses(sandbox.url, '/chat/completions', 1)).toEqual([200]);
    faults.retireModel();
    const unknown = await post(sandbox.url, '/chat/completions');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'model_not_found' } });
    const { writer } = adaptersFor(sandbox);
    const research = { text: 'Acme Robotics opened a new office in Lisbon in March 2026.', citations: [], model: 'sandbox/research-1' };
    const failure = await writer.write({ lead: testLead(), research }, AbortSignal.timeout(5_000)).catch((error: unknown) => error);
    expect(failure).toMatchObject({ failure: 'unknown_model', status: 404, api: 'personalization' });
    faults.restoreModel('chatCompletions');
    expect(await statuses(sandbox.url, '/chat/completions', 1)).toEqual([200]);
    expect(await statuses(sandbox.url, '/responses', 1)).toEqual([404]);
    expect(faults.counts.unknownModel).toBe(3);
  });

  it('answers 500 or 503 at an error rate of 1', async () => {
    const sandbox = await sandboxWith({ errorRate: 1, seed: 7 });
    const seen = await statuses(sandbox.url, '/responses', 20);
    expect(seen.every((status) => status === 500 || status === 503)).toBe(true);
    // Both kinds of server error show up in 20 draws.
    expect(new Set(seen).size).toBe(2);
  });

  it('leaves a request unanswered at a timeout rate of 1, until the client gives up', async () => {
    const sandbox = await sandboxWith({ timeoutRate: 1 });
    const started = Date.now();
    await expect(post(sandbox.url, '/responses', { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('gives malformed answers that both adapters reject as malformed', async () => {
    const sandbox = await sandboxWith({ malformedRate: 1 });
    const { research, writer } = adaptersFor(sandbox);
    const lead = testLead();
    const signal = AbortSignal.timeout(5_000);

    const researchFailure = await research.research({ lead }, signal).catch((error: unknown) => error);
    expect(researchFailure).toBeInstanceOf(OutsideApiError);
    expect((researchFailure as OutsideApiError).failure).toBe('malformed');

    const researched = { text: 'Acme Robotics opened a new office in Lisbon in March 2026.', citations: [], model: 'sandbox/research-1' };
    const writerFailure = await writer.write({ lead, research: researched }, signal).catch((error: unknown) => error);
    expect(writerFailure).toBeInstanceOf(OutsideApiError);
    expect((writerFailure as OutsideApiError).failure).toBe('malformed');
  });

  it('writes lines that invent a specific at a fabricate rate of 1, rewrites too, and leaves research alone', async () => {
    const sandbox = await sandboxWith({ fabricateRate: 1 });
    const { research, writer } = adaptersFor(sandbox);
    const lead = testLead();
    const signal = AbortSignal.timeout(5_000);
    const researched = await research.research({ lead }, signal);
    expect(researched.text.startsWith('[sandbox research]')).toBe(true);

    const first = await writer.write({ lead, research: researched }, signal);
    const rewrite = await writer.write({ lead, research: researched, feedback: { draft: first.message, problems: ['unsupported specific: "x" (y)'] } }, signal);
    for (const draft of [first, rewrite]) {
      expect(INVENTIONS.some((invention) => draft.message.includes(invention)), draft.message).toBe(true);
      // Its basis is a true fact of the research: only the specifics are made up.
      expect(researched.text).toContain(draft.basis);
    }
  });

  it('fabricates a share of writer answers at a fabricate rate below 1, counted', async () => {
    const faults = sandboxFaults({ fabricateRate: 0.5, seed: 7 });
    const sandbox = await startTestSandbox({ interceptors: faults.interceptors });
    open.push(sandbox);
    const { research, writer } = adaptersFor(sandbox);
    const signal = AbortSignal.timeout(10_000);
    let fabricated = 0;
    for (let index = 0; index < 40; index += 1) {
      const lead = testLead({ company: `Share Co ${index}` });
      const researched = await research.research({ lead }, signal);
      const draft = await writer.write({ lead, research: researched }, signal);
      if (INVENTIONS.some((invention) => draft.message.includes(invention))) fabricated += 1;
    }
    expect(faults.counts.fabricated).toBe(fabricated);
    expect(fabricated).toBeGreaterThan(8);
    expect(fabricated).toBeLessThan(32);
    expect(() => sandboxFaults({ fabricateRate: 1.5 })).toThrow(/fabricateRate must be a number from 0 to 1/);
  });

  it('draws log-normal latencies around the median, the same draws for the same seed', () => {
    const draws = (seed: number) => {
      const draw = stream(seed, 1);
      return Array.from({ length: 2_000 }, () => logNormal(draw, 100, DEFAULT_LATENCY_SIGMA));
    };
    const sorted = draws(42).sort((a, b) => a - b);
    const median = ((sorted[999] ?? 0) + (sorted[1000] ?? 0)) / 2;
    expect(median).toBeGreaterThan(90);
    expect(median).toBeLessThan(110);
    // A spread, not a constant delay: sigma 0.35 puts the fastest and slowest tenth far apart.
    expect((sorted[1800] ?? 0) / (sorted[200] ?? 1)).toBeGreaterThan(1.5);
    expect(draws(42)).toEqual(draws(42));
    expect(draws(43)).not.toEqual(draws(42));
  });

  it('delays answers by the drawn latency', async () => {
    const sandbox = await sandboxWith({ latencyMs: 100, seed: 42 });
    const timings = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const started = performance.now();
        expect((await post(sandbox.url, '/chat/completions')).status).toBe(200);
        return performance.now() - started;
      }),
    );
    const sorted = timings.sort((a, b) => a - b);
    // A lower bound only: a loaded machine can make answers slower, never faster than the delay.
    expect(((sorted[9] ?? 0) + (sorted[10] ?? 0)) / 2).toBeGreaterThan(75);
  });

  it('rejects settings out of range', () => {
    expect(() => faultInterceptors({ unauthorized: { responses: 'yes' as unknown as boolean } })).toThrow(RangeError);
    expect(() => faultInterceptors({ errorRate: 1.5 })).toThrow(RangeError);
    expect(() => faultInterceptors({ rpm: 0 })).toThrow(RangeError);
    expect(() => faultInterceptors({ credit: -1 })).toThrow(RangeError);
    expect(() => faultInterceptors({ latencyMs: -5 })).toThrow(RangeError);
  });
});

describe('npm run sandbox with fault flags', () => {
  it('prints its URL, applies --rpm, and prints what it injected when stopped', async () => {
    const sandbox = await spawnSandboxScript(['--port', '0', '--rpm', '5', '--seed', '1']);
    const { child, url } = sandbox;
    try {
      // 5 a minute is at most 1 a second.
      expect(await statuses(url, '/chat/completions', 2)).toEqual([200, 429]);
      expect(await statuses(url, '/responses', 1)).toEqual([200]);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    const summary = /sandbox summary: (\{.*\})/.exec(sandbox.output)?.[1];
    expect(JSON.parse(summary ?? 'null')).toMatchObject({ requests: { responses: 1, chatCompletions: 2 }, faults: { rateLimited: 1 } });
  });

  it('--unauthorized answers 401 until SIGUSR2 restores the key', async () => {
    const sandbox = await spawnSandboxScript(['--port', '0', '--unauthorized'], 'restores the key');
    const { child, url } = sandbox;
    try {
      expect(await statuses(url, '/responses', 1)).toEqual([401]);
      child.kill('SIGUSR2');
      await new Promise<void>((resolve) => {
        const check = () => (sandbox.output.includes('key and model restored') ? resolve() : setTimeout(check, 20));
        check();
      });
      expect(await statuses(url, '/responses', 1)).toEqual([200]);
    } finally {
      child.kill('SIGTERM');
    }
    await once(child, 'exit');
    const summary = /sandbox summary: (\{.*\})/.exec(sandbox.output)?.[1];
    expect(JSON.parse(summary ?? 'null')).toMatchObject({ faults: { unauthorized: 1 } });
  });

  it('--fabricate-rate 1 answers every writer request with a line that invents a specific', async () => {
    const sandbox = await spawnSandboxScript(['--port', '0', '--fabricate-rate', '1']);
    const { child, url } = sandbox;
    try {
      const answer = (await (await post(url, '/chat/completions')).json()) as { choices: { message: { content: string } }[] };
      const { message } = JSON.parse(answer.choices[0]!.message.content) as { message: string };
      expect(INVENTIONS.some((invention) => message.includes(invention)), message).toBe(true);
      expect(await statuses(url, '/responses', 1)).toEqual([200]);
    } finally {
      child.kill('SIGTERM');
    }
    await once(child, 'exit');
    const summary = /sandbox summary: (\{.*\})/.exec(sandbox.output)?.[1];
    expect(JSON.parse(summary ?? 'null')).toMatchObject({ faults: { fabricated: 1 } });
  });

  it('refuses a bad flag value with a message', async () => {
    const script = fileURLToPath(new URL('../../scripts/sandbox.ts', import.meta.url));
    const child = spawn(process.execPath, [script, '--port', '0', '--error-rate', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(errors).toContain('errorRate must be a number from 0 to 1');
  });
});
