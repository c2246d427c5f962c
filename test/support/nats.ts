/**
 * The real NATS server for messaging tests. Each test file takes its own random subject prefix,
 * stream and bucket names, so files running in parallel never see each other's messages, and
 * deletes what it created.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { inject } from 'vitest';

export function natsUrl(): string {
  return inject('natsUrl') ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
}

export function connectTestNats(): Promise<NatsConnection> {
  return connect({ servers: natsUrl(), name: 'aga-test' });
}

export interface TestNames {
  /** e.g. `t1a2b3c4d.` */
  readonly prefix: string;
  /** e.g. `T_1A2B3C4D` */
  readonly streamName: string;
  /** e.g. `t-1a2b3c4d` */
  readonly bucket: string;
}

export function testNames(): TestNames {
  const id = randomBytes(4).toString('hex');
  return { prefix: `t${id}.`, streamName: `T_${id.toUpperCase()}`, bucket: `t-${id}` };
}

/** Deletes streams (an object store bucket is the stream `OBJ_<bucket>`), ignoring missing ones. */
export async function deleteStreams(nc: NatsConnection, ...names: string[]): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of names) await jsm.streams.delete(name).catch(() => false);
}

/** Polls until `check` holds; fails with `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The recording log now lives with the other test doubles; re-exported for the tests that import it from here. */
export { RecordingLog, type LogEntry } from './fakes/log.ts';
