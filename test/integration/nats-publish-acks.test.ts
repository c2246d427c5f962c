// Pipelined JetStream publishes on one reply subscription: every publish learns its own outcome.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamPublishAcks, PublishError } from '../../adapters/nats/publish-acks.ts';
import { connectTestNats, deleteStreams, testNames, type TestNames } from '../support/nats.ts';

let nc: NatsConnection;
let jsm: JetStreamManager;
let names: TestNames;
const encoder = new TextEncoder();

beforeAll(async () => {
  nc = await connectTestNats();
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  await deleteStreams(nc, names.streamName);
});

afterAll(async () => {
  await nc.close();
});

function message(id: string) {
  const h = headers();
  h.set('Nats-Msg-Id', id);
  return h;
}

describe('JetStreamPublishAcks', () => {
  it('resolves each publish once its stream stored it, in the order sent', async () => {
    names = testNames();
    await jsm.streams.add({ name: names.streamName, subjects: [`${names.prefix}>`] });
    const acks = new JetStreamPublishAcks(nc);
    const sent = Array.from({ length: 300 }, (_, index) => String(index));
    await Promise.all(sent.map((id) => acks.send(`${names.prefix}x`, encoder.encode(id), message(id))));
    const info = await jsm.streams.info(names.streamName);
    expect(info.state.messages).toBe(300);
    const last = await jsm.streams.getMessage(names.streamName, { seq: 300 });
    expect(last?.string()).toBe('299');
  });

  it('rejects only the publishes the stream refused', async () => {
    names = testNames();
    await jsm.streams.add({ name: names.streamName, subjects: [`${names.prefix}>`], max_msgs: 2, discard: DiscardPolicy.New });
    const acks = new JetStreamPublishAcks(nc);
    const outcomes = await Promise.allSettled(
      ['a', 'b', 'c'].map((id) => acks.send(`${names.prefix}x`, encoder.encode(id), message(id))),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    const refused = (outcomes[2] as PromiseRejectedResult).reason as Error;
    expect(refused).toBeInstanceOf(PublishError);
    expect(refused.message).toContain(`JetStream did not store a publish to ${names.prefix}x`);
  });

  it('rejects a publish no stream stores', async () => {
    names = testNames();
    const acks = new JetStreamPublishAcks(nc);
    await expect(acks.send(`${names.prefix}x`, encoder.encode('a'), message('a'))).rejects.toThrow(
      `no JetStream stream stores ${names.prefix}x`,
    );
  });

  it('rejects a publish nobody acknowledges within the timeout', async () => {
    names = testNames();
    // A core subscriber takes the message and never answers: no stream, no 503 either.
    const silent = nc.subscribe(`${names.prefix}x`);
    const acks = new JetStreamPublishAcks(nc, { timeoutMs: 100 });
    await expect(acks.send(`${names.prefix}x`, encoder.encode('a'), message('a'))).rejects.toThrow(
      `no acknowledgement of a publish to ${names.prefix}x within 100 ms`,
    );
    silent.unsubscribe();
  });
});
