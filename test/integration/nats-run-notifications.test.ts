import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsRunNotifications } from '../../adapters/nats/run-notifications.ts';
import { connectTestNats, testNames } from '../support/nats.ts';

const { prefix } = testNames();
// The edge and the projection are separate processes: one connection each.
let notifierConnection: NatsConnection;
let watcherConnection: NatsConnection;
let notifier: NatsRunNotifications;
let watcher: NatsRunNotifications;

beforeAll(async () => {
  [notifierConnection, watcherConnection] = await Promise.all([connectTestNats(), connectTestNats()]);
  notifier = new NatsRunNotifications(notifierConnection, { prefix });
  watcher = new NatsRunNotifications(watcherConnection, { prefix });
});

afterAll(async () => {
  await Promise.all([notifierConnection.close(), watcherConnection.close()]);
});

/** Resolves with `next` or with "pending" when it has not settled after `ms`. */
function within<T>(next: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([next, sleep(ms, 'pending' as const)]);
}

describe('NatsRunNotifications', () => {
  it("wakes a watcher on its run's notifications only, coalesced, until the signal aborts", async () => {
    const runId = randomUUID();
    const abort = new AbortController();
    const changes = watcher.watch(runId, abort.signal)[Symbol.asyncIterator]();

    // The subscription is in place once the watcher is waiting: notify until it hears one.
    const first = changes.next();
    while ((await within(first, 50)) === 'pending') notifier.notify(runId);
    expect(await first).toEqual({ done: false, value: undefined });
    await sleep(100); // let the extra notifications of the loop above arrive

    // Five signals while the watcher is busy make one wake-up.
    for (let index = 0; index < 5; index += 1) notifier.notify(runId);
    notifier.notify(randomUUID());
    await notifierConnection.flush();
    await sleep(100);
    expect(await within(changes.next(), 500)).toEqual({ done: false, value: undefined });
    const idle = changes.next();
    expect(await within(idle, 300)).toBe('pending');

    abort.abort();
    expect(await idle).toEqual({ done: true, value: undefined });
  });

  it('ends at once for an aborted signal', async () => {
    const changes = watcher.watch(randomUUID(), AbortSignal.abort())[Symbol.asyncIterator]();
    expect(await changes.next()).toEqual({ done: true, value: undefined });
  });
});
