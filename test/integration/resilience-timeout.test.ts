/**
 * The wrapper's own timeout, over real HTTP against a sandbox that answers late: a call past
 * `timeoutMs` fails `unavailable` at once, its request is really ended (the sandbox sees the
 * client hang up), and it counts towards the breaker like any outage; a call its caller aborted
 * is not a timeout and counts for nothing; a call that ignores its signal still ends on time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsApiStatusReader, NatsPauseBoard } from '../../adapters/nats/api-status.ts';
import { ResilientApi } from '../../adapters/outside-api/resilient-api.ts';
import { PerplexityResearchProvider } from '../../adapters/providers/perplexity-research.ts';
import { ResilientResearchProvider } from '../../adapters/providers/resilient.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { ApiPaused, OutsideApiError } from '../../ports/outside-api.port.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames } from '../support/nats.ts';
import { startTestSandbox, testLead } from '../support/sandbox.ts';

const TIMEOUT_MS = 200;
const bucket = testNames().bucket;

/** How long the sandbox waits before answering; 0: at once. */
let slowMs = 0;
/** Requests whose client hung up while the sandbox made it wait. */
let hungUp = 0;
let answered = 0;
let sandbox: Sandbox;
let nc: NatsConnection;
let board: NatsPauseBoard;
let api: ResilientApi;

beforeAll(async () => {
  sandbox = await startTestSandbox({
    interceptors: [
      async ({ signal }) => {
        if (slowMs === 0) return undefined;
        await sleep(slowMs, undefined, { signal }).then(
          () => {
            answered += 1;
          },
          () => {
            hungUp += 1;
          },
        );
        return undefined;
      },
    ],
  });
  nc = await connectTestNats();
  board = await NatsPauseBoard.open(nc, { bucket, apis: ['research'], log: new RecordingLog() });
});

afterAll(async () => {
  board.close();
  await deleteStreams(nc, `KV_${bucket}`);
  await nc.close();
  await sandbox.close();
});

beforeEach(() => {
  sandbox.reset();
  slowMs = 0;
  hungUp = 0;
  answered = 0;
  api = new ResilientApi({
    spec: { name: 'research', timeoutMs: TIMEOUT_MS, breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 10_000 } },
    board,
    log: new RecordingLog(),
  });
});

afterEach(() => api.close());

/** The research adapter with an SDK timeout far longer than the wrapper's, so the wrapper's is the one that fires. */
function research(signal: AbortSignal = new AbortController().signal): Promise<unknown> {
  const inner = new PerplexityResearchProvider({ apiKey: 'sk-test', baseURL: sandbox.url, timeoutMs: 10_000 });
  return new ResilientResearchProvider(inner, api).research({ lead: testLead() }, signal).then(
    () => 'ok',
    (error: unknown) => error,
  );
}

describe('the wrapper timeout', () => {
  it('fails a late call as unavailable on time, ends its request, and counts it towards the breaker', async () => {
    slowMs = 2_000;
    const started = performance.now();
    const timedOut = await research();
    // Well before the slow answer would have come (generous: a busy 2-core machine stalls).
    expect(performance.now() - started).toBeLessThan(slowMs - 200);
    expect(timedOut).toBeInstanceOf(OutsideApiError);
    expect(timedOut).toMatchObject({ api: 'research', failure: 'unavailable', message: `research: timed out after ${TIMEOUT_MS} ms` });
    expect(timedOut).not.toBeInstanceOf(ApiPaused);
    // The call's signal was aborted: the request ended, and the sandbox never got to answer it.
    // It saw the hang-up while it waited; or, on a loaded machine where the request reached it
    // after the timeout, it never started waiting. Had the request stayed open, the slow answer
    // would have gone out at 2 s.
    await sleep(started + slowMs + 300 - performance.now());
    expect(answered).toBe(0);
    expect(hungUp).toBeLessThanOrEqual(1);

    // A second timeout reaches the breaker's volume at 100% failures: it opens, and this failure
    // is an outage, not the work's fault.
    expect(await research()).toMatchObject({ name: 'ApiPaused', failure: 'unavailable', message: `research: timed out after ${TIMEOUT_MS} ms; circuit open` });
    expect(api.breakerOf()?.state).toBe('open');
    // Refused without a request while open.
    expect(await research()).toMatchObject({ name: 'ApiPaused', message: 'research: circuit open' });
    expect(sandbox.stats.requests.responses).toBe(2);
    const reader = await NatsApiStatusReader.open(nc, { bucket, apis: ['research'] });
    await eventually('the edge to show the open circuit', async () => (await reader.current())[0]?.state === 'circuit_open');
  });

  it('does not count a call its caller aborted, which is no timeout', async () => {
    slowMs = 2_000;
    for (let i = 0; i < 3; i += 1) {
      const caller = new AbortController();
      setTimeout(() => caller.abort(new Error('shutting down')), 50);
      const aborted = await research(caller.signal);
      expect(aborted).toMatchObject({ failure: 'unavailable' });
      expect((aborted as Error).message).not.toContain('timed out');
    }
    expect(api.breakerOf()?.state).toBe('closed');
    slowMs = 0;
    expect(await research()).toBe('ok');
  });

  it('ends a call that ignores its signal on time, and aborts that signal with the timeout', async () => {
    let handed: AbortSignal | undefined;
    const started = performance.now();
    const failure = await api
      .call((signal) => {
        handed = signal;
        return new Promise<never>(() => {});
      }, new AbortController().signal)
      .catch((error: unknown) => error);
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 1_500);
    expect(failure).toMatchObject({ failure: 'unavailable', message: `research: timed out after ${TIMEOUT_MS} ms` });
    expect(handed?.aborted).toBe(true);
    expect(handed?.reason).toBe(failure);
    expect(api.limiter.inFlight).toBe(0);
  });
});
