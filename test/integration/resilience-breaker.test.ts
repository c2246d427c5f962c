/**
 * The circuit breaker over real HTTP against the sandbox: an outage (injected 500s) opens it and
 * a successful trial after the reset timeout closes it; failures that do not say the API is
 * unhealthy (4xx, 429, account failures, malformed answers) never open it; an open breaker
 * refuses calls without sending them, with the time until its trial; the consumer's gate stays
 * shut while it is open and lets one trial message through when it turns half-open; and the
 * status the edge reads says so, through NATS KV.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { ApiBreaker, type BreakerSettings, type BreakerState } from '../../adapters/outside-api/breaker.ts';
import { ResilientApi } from '../../adapters/outside-api/resilient-api.ts';
import { ResilientResearchProvider } from '../../adapters/providers/resilient.ts';
import { NatsApiStatusReader, NatsPauseBoard } from '../../adapters/nats/api-status.ts';
import { PROVIDER_APIS } from '../../adapters/providers/apis.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { ApiPaused, OutsideApiError } from '../../ports/outside-api.port.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames } from '../support/nats.ts';
import { adaptersFor, startTestSandbox, testLead, TEST_PROVIDER_KEY, type SandboxAdapters } from '../support/sandbox.ts';

const lead = testLead();
const bucket = testNames().bucket;
/** Reset long enough to observe the refusal's delay, short enough for a quick test. */
const RESET_MS = 1_500;

let sandbox: Sandbox;
let adapters: SandboxAdapters;
let nc: NatsConnection;
let board: NatsPauseBoard;
let breaker: ApiBreaker;
let states: BreakerState[];

beforeAll(async () => {
  sandbox = await startTestSandbox({ apiKey: TEST_PROVIDER_KEY });
  adapters = adaptersFor(sandbox, { timeoutMs: 2_000 });
  nc = await connectTestNats();
  board = await NatsPauseBoard.open(nc, { bucket, apis: PROVIDER_APIS, log: new RecordingLog() });
});

afterAll(async () => {
  board.close();
  await deleteStreams(nc, `KV_${bucket}`);
  await nc.close();
  await sandbox.close();
});

const BREAKER: Partial<BreakerSettings> = { volumeThreshold: 4, errorThresholdPercentage: 50, rollingCountTimeoutMs: 10_000, resetTimeoutMs: RESET_MS };

beforeEach(() => {
  sandbox.reset();
  breaker = new ApiBreaker('research', BREAKER);
  states = [];
  breaker.onStateChange((state) => states.push(state));
});

afterEach(() => breaker.close());

const call = () => breaker.fire((signal) => adapters.research.research({ lead }, signal), new AbortController().signal);

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}

describe('ApiBreaker', () => {
  it('opens on an outage, refuses calls without sending them, and closes after a successful trial', async () => {
    sandbox.failNext(500, 100, { endpoint: 'responses' });
    for (let i = 0; i < 4; i += 1) {
      expect(await failureOf(call())).toMatchObject({ name: 'OutsideApiError', failure: 'unavailable' });
    }
    expect(breaker.state).toBe('open');
    expect(states).toEqual(['open']);
    expect(sandbox.stats.requests.responses).toBe(4);

    const refused = await failureOf(call());
    expect(refused).toBeInstanceOf(ApiPaused);
    const paused = refused as ApiPaused;
    expect(paused).toMatchObject({ failure: 'unavailable', message: 'research: circuit open' });
    // The wait is the time left until the trial call.
    expect(paused.retryAfterMs).toBeGreaterThan(1_000);
    expect(paused.retryAfterMs).toBeLessThanOrEqual(RESET_MS);
    expect(sandbox.stats.requests.responses).toBe(4);

    await eventually('the breaker to turn half-open', () => breaker.state === 'half_open', RESET_MS + 1_000);
    expect(breaker.awaitingTrial).toBe(true);
    sandbox.reset(); // the outage is over
    const research = await call();
    expect(research.text).toContain('Acme Robotics');
    expect(breaker.state).toBe('closed');
    expect(states).toEqual(['open', 'half_open', 'closed']);
  });

  it('opens again when the trial call fails', async () => {
    sandbox.failNext(503, 100, { endpoint: 'responses' });
    for (let i = 0; i < 4; i += 1) await failureOf(call());
    await eventually('the breaker to turn half-open', () => breaker.state === 'half_open', RESET_MS + 1_000);
    expect(await failureOf(call())).toMatchObject({ failure: 'unavailable', message: 'perplexity 503: unavailable (sandbox_fault)' });
    expect(breaker.state).toBe('open');
    expect(states).toEqual(['open', 'half_open', 'open']);
  });

  it('is not opened by 4xx, 429, account failures (402, 401, 404) or malformed answers: the API answered', async () => {
    sandbox.failNext(400, 5, { endpoint: 'responses' });
    sandbox.failNext(429, 5, { endpoint: 'responses' });
    sandbox.failNext(402, 5, { endpoint: 'responses' });
    sandbox.failNext(401, 5, { endpoint: 'responses' });
    sandbox.failNext(404, 5, { endpoint: 'responses' });
    sandbox.malformNext(5, { endpoint: 'responses' });
    const failures: string[] = [];
    for (let i = 0; i < 30; i += 1) {
      const error = await failureOf(call());
      expect(error).toBeInstanceOf(OutsideApiError);
      failures.push((error as OutsideApiError).failure);
    }
    expect(failures).toEqual([
      ...Array<string>(5).fill('rejected'),
      ...Array<string>(5).fill('rate_limited'),
      ...Array<string>(5).fill('out_of_credit'),
      ...Array<string>(5).fill('unauthorized'),
      ...Array<string>(5).fill('unknown_model'),
      ...Array<string>(5).fill('malformed'),
    ]);
    expect(breaker.state).toBe('closed');
    expect(states).toEqual([]);
    expect(sandbox.stats.requests.responses).toBe(30);
  });

  it('does not count calls their caller aborted', async () => {
    sandbox.delayNext(5_000, 4, { endpoint: 'responses' });
    const aborts = Array.from({ length: 4 }, () => new AbortController());
    const calls = aborts.map((abort) => failureOf(breaker.fire((signal) => adapters.research.research({ lead }, signal), abort.signal)));
    await eventually('four requests at the sandbox', () => sandbox.stats.requests.responses === 4);
    for (const abort of aborts) abort.abort();
    for (const error of await Promise.all(calls)) expect(error).toMatchObject({ failure: 'unavailable' });
    expect(breaker.state).toBe('closed');
  });
});

/** The research API as the pipeline wraps it, with this file's breaker settings. */
function researchApi(log: RecordingLog): { api: ResilientApi; breaker: ApiBreaker } {
  const api = new ResilientApi({ spec: { name: 'research', timeoutMs: 5_000, breaker: BREAKER, probeIntervalMs: 1_000 }, board, log });
  return { api, breaker: api.breakerOf()! };
}

describe('the gate and the status while the circuit is open', () => {
  it('shuts the gate until half-open, lets one trial message through, and shows circuit_open to the edge', async () => {
    const log = new RecordingLog();
    const { api: resilience, breaker } = researchApi(log);
    const provider = new ResilientResearchProvider(adapters.research, resilience);
    const edge = await connectTestNats();
    const reader = await NatsApiStatusReader.open(edge, { bucket, apis: PROVIDER_APIS });
    const signal = new AbortController().signal;
    try {
      expect(await resilience.gate.wait(signal)).toBe(Infinity);

      sandbox.failNext(500, 100, { endpoint: 'responses' });
      for (let i = 0; i < 4; i += 1) await failureOf(provider.research({ lead }, signal));
      expect(breaker.state).toBe('open');
      // Refused before the limiter and the sandbox.
      expect(await failureOf(provider.research({ lead }, signal))).toBeInstanceOf(ApiPaused);
      expect(sandbox.stats.requests.responses).toBe(4);

      await eventually('the edge to see the open circuit', async () => (await reader.current())[0]?.state === 'circuit_open');
      const [research, personalization] = await reader.current();
      expect(research).toMatchObject({ api: 'research', state: 'circuit_open', reason: 'provider unavailable' });
      expect(Date.parse(research?.since ?? '')).toBeLessThanOrEqual(Date.now());
      expect(personalization).toEqual({ api: 'personalization', state: 'ok', reason: null, since: null, heldUntil: null, pacedUntil: null, rpm: null });

      const halfOpenAt = breaker.halfOpenAt;
      expect(halfOpenAt).toBeGreaterThan(Date.now());
      const trialPermits = await resilience.gate.wait(signal);
      expect(trialPermits).toBe(1);
      expect(breaker.state).toBe('half_open');
      expect(Date.now()).toBeGreaterThanOrEqual(halfOpenAt);

      // A second pull waits while the trial is granted and not yet decided.
      const stopWaiting = new AbortController();
      const second = resilience.gate.wait(stopWaiting.signal);
      sandbox.reset();
      await provider.research({ lead }, signal);
      expect(breaker.state).toBe('closed');
      expect(await second).toBe(Infinity);

      await eventually('the edge to see the closed circuit', async () => (await reader.current())[0]?.state === 'ok');
      expect(log.entries.map((entry) => entry.message)).toEqual(
        expect.arrayContaining(['circuit opened: calls to the API stop for a while', 'circuit closed: API answers again']),
      );
    } finally {
      resilience.close();
      await edge.close();
    }
  });

  it('rejects a wait at a shut gate when its signal aborts', async () => {
    const { api: resilience } = researchApi(new RecordingLog());
    try {
      sandbox.failNext(500, 4, { endpoint: 'responses' });
      for (let i = 0; i < 4; i += 1) await failureOf(resilience.call((signal) => adapters.research.research({ lead }, signal), new AbortController().signal));
      const stop = new AbortController();
      const waiting = resilience.gate.wait(stop.signal);
      stop.abort(new Error('stopping'));
      await expect(waiting).rejects.toThrow('stopping');
    } finally {
      resilience.close();
    }
  });
});

describe("the caller's last check before a call (beforeCall)", () => {
  it('runs once the call has its turn; a refusal sends nothing and counts for nothing, neither as a failure nor towards the circuit', async () => {
    const { api: resilience, breaker } = researchApi(new RecordingLog());
    const provider = new ResilientResearchProvider(adapters.research, resilience);
    const refused = new Error('the run was cancelled');
    const signal = new AbortController().signal;

    for (let attempt = 0; attempt < 10; attempt += 1) {
      await expect(provider.research({ lead }, signal, { beforeCall: () => Promise.reject(refused) })).rejects.toBe(refused);
    }
    expect(sandbox.stats.requests.responses).toBe(0);
    expect(breaker.isOpen).toBe(false);
    expect(resilience.limiter.inFlight).toBe(0);

    let checked = 0;
    await expect(provider.research({ lead }, signal, { beforeCall: () => Promise.resolve(void (checked += 1)) })).resolves.toMatchObject({ model: expect.any(String) as string });
    expect(checked).toBe(1);
    expect(sandbox.stats.requests.responses).toBe(1);
  });
});
