/**
 * An outside API with one breaker per key (`breakerScope: 'key'`), as a webhook sender keys its
 * calls by destination host: two real HTTP destinations, one failing (every request a 5xx) and
 * one healthy. The failing host's breaker opens and its calls are refused without a request,
 * while the healthy host's calls go through; the consumer's gate stays open and the status shows
 * the API ok, since no key's circuit is the API's. The breakers kept are bounded (least recently
 * used first out).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsRateBudget } from '../../adapters/nats/api-budget.ts';
import { NatsPauseBoard } from '../../adapters/nats/api-status.ts';
import { MAX_KEY_BREAKERS, ResilientApi } from '../../adapters/outside-api/resilient-api.ts';
import { faultInterceptors } from '../../adapters/sandbox/faults.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { ApiPaused, OutsideApiError } from '../../ports/outside-api.port.ts';
import { connectTestNats, deleteStreams, RecordingLog, testNames } from '../support/nats.ts';
import { startTestSandbox } from '../support/sandbox.ts';

const bucket = testNames().bucket;
let failing: Sandbox;
let healthy: Sandbox;
let nc: NatsConnection;
let board: NatsPauseBoard;

beforeAll(async () => {
  failing = await startTestSandbox({ interceptors: faultInterceptors({ errorRate: 1, seed: 1 }) });
  healthy = await startTestSandbox();
  nc = await connectTestNats();
  board = await NatsPauseBoard.open(nc, { bucket, apis: ['webhook'], log: new RecordingLog() });
});

afterAll(async () => {
  board.close();
  await deleteStreams(nc, `KV_${bucket}`);
  await nc.close();
  await failing.close();
  await healthy.close();
});

function webhookApi(log = new RecordingLog(), budget?: NatsRateBudget): ResilientApi {
  return new ResilientApi({
    spec: { name: 'webhook', timeoutMs: 2_000, breakerScope: 'key', breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 30_000 } },
    board,
    ...(budget === undefined ? {} : { budget }),
    log,
  });
}

/** Posts to a destination as a webhook sender would, keyed by its host; a 5xx is `unavailable`. */
function send(api: ResilientApi, destination: Sandbox): Promise<unknown> {
  const url = `${destination.url}/chat/completions`;
  return api
    .call(
      async (signal) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { authorization: 'Bearer any', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'event' }] }),
          signal,
        });
        await response.body?.cancel();
        if (response.status >= 500) throw new OutsideApiError('webhook', 'unavailable', `webhook ${response.status}: unavailable`, { status: response.status });
        return response.status;
      },
      new AbortController().signal,
      { key: new URL(url).host },
    )
    .catch((error: unknown) => error);
}

describe('one breaker per key', () => {
  it("opens the failing host's breaker while the healthy host's calls go through", async () => {
    const log = new RecordingLog();
    const api = webhookApi(log);
    try {
      const failingHost = new URL(failing.url).host;
      const healthyHost = new URL(healthy.url).host;
      for (let i = 0; i < 3; i += 1) expect(await send(api, healthy)).toBe(200);
      for (let i = 0; i < 2; i += 1) expect(await send(api, failing)).toMatchObject({ name: 'OutsideApiError', failure: 'unavailable' });
      // The third failure opens the host's breaker: an outage of that host, not the event's fault.
      expect(await send(api, failing)).toBeInstanceOf(ApiPaused);
      expect(api.breakerOf(failingHost)?.state).toBe('open');
      expect(api.breakerOf(healthyHost)?.state).toBe('closed');

      // Refused at once, no request sent; the healthy host is not held back.
      expect(await send(api, failing)).toMatchObject({ name: 'ApiPaused', message: 'webhook: circuit open' });
      expect(failing.stats.requests.chatCompletions).toBe(3);
      for (let i = 0; i < 5; i += 1) expect(await send(api, healthy)).toBe(200);
      expect(healthy.stats.requests.chatCompletions).toBe(8);

      // The consumer is not gated on one key, and no key's circuit is shown as the API's.
      expect(await api.gate.wait(AbortSignal.timeout(1_000))).toBe(Infinity);
      expect(await board.current()).toEqual([{ api: 'webhook', state: 'ok', reason: null, since: null, heldUntil: null, pacedUntil: null, rpm: null }]);
      const opened = log.entries.find((entry) => entry.message === "one key's circuit opened: calls with that key stop for a while");
      expect(opened).toBeDefined();
      // The key may be a customer's host: never logged.
      expect(JSON.stringify(log.entries)).not.toContain(failingHost);
    } finally {
      api.close();
    }
  });

  it("lets one key's 429 hold back neither the other keys nor the API's concurrency, and pauses nothing", async () => {
    const budget = await NatsRateBudget.open(nc, { bucket, apis: ['webhook'], log: new RecordingLog() });
    const api = webhookApi(new RecordingLog(), budget);
    const signal = new AbortController().signal;
    try {
      const concurrency = api.limiter.concurrency;
      const refused = await api
        .call(() => Promise.reject(new OutsideApiError('webhook', 'rate_limited', 'webhook 429: rate limited', { retryAfterMs: 86_400_000, status: 429 })), signal, { key: 'busy.example' })
        .catch((error: unknown) => error);
      expect(refused).toMatchObject({ failure: 'rate_limited' });
      const unauthorized = await api
        .call(() => Promise.reject(new OutsideApiError('webhook', 'unauthorized', 'webhook 401: unauthorized', { status: 401 })), signal, { key: 'locked.example' })
        .catch((error: unknown) => error);
      expect(unauthorized).not.toBeInstanceOf(ApiPaused);
      // Another receiver is called at once: no shared hold of a day, no halved concurrency, no pause.
      const started = Date.now();
      expect(await api.call(() => Promise.resolve('sent'), signal, { key: 'quiet.example' })).toBe('sent');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(budget.heldUntil('webhook')).toBe(0);
      expect(api.limiter.concurrency).toBe(concurrency);
      expect(await board.current()).toEqual([{ api: 'webhook', state: 'ok', reason: null, since: null, heldUntil: null, pacedUntil: null, rpm: null }]);
    } finally {
      api.close();
      budget.close();
    }
  });

  it('keeps the breakers of the keys used last, at most MAX_KEY_BREAKERS', async () => {
    const api = webhookApi();
    const signal = new AbortController().signal;
    try {
      const failure = () => Promise.reject(new OutsideApiError('webhook', 'unavailable', 'webhook 503: unavailable'));
      for (let i = 0; i < 3; i += 1) await api.call(failure, signal, { key: 'first.example' }).catch(() => undefined);
      expect(api.breakerOf('first.example')?.state).toBe('open');
      for (let i = 0; i < MAX_KEY_BREAKERS; i += 1) await api.call(() => Promise.resolve(i), signal, { key: `host-${i}.example` });
      // The least recently used key was dropped (with its open circuit); the newest are kept.
      expect(api.breakerOf('first.example')).toBeUndefined();
      expect(api.breakerOf('host-0.example')?.state).toBe('closed');
      expect(api.breakerOf(`host-${MAX_KEY_BREAKERS - 1}.example`)?.state).toBe('closed');
      expect(await api.call(() => Promise.resolve('sent'), signal, { key: 'first.example' })).toBe('sent');
      // That call made `first` the newest and dropped `host-0`.
      expect(api.breakerOf('host-0.example')).toBeUndefined();
    } finally {
      api.close();
    }
  });
});
