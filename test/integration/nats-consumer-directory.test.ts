/** What the broker knows of each event type's consumers, on the real NATS: which exist, and whether they hold any work. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsConsumerDirectory } from '../../adapters/nats/consumer-directory.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import type { ConsumerSettings } from '../../ports/event-consumer.port.ts';
import { connectTestNats, deleteStreams, testNames } from '../support/nats.ts';

const names = testNames();
const settings: ConsumerSettings = { ackWaitMs: 5_000, maxDeliver: 3, backoffMs: [100], maxAckPending: 10, maxHandlerMs: 10_000, concurrency: 1 };
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectTestNats();
  await provisionTopology(nc, {
    streamName: names.streamName,
    prefix: names.prefix,
    consumers: [
      { name: 'research', events: ['lead.extracted'], settings },
      // Several events: one durable consumer per event, named after the declaration and the event.
      { name: 'projection', events: ['lead.personalized', 'lead.failed'], settings },
    ],
  });
});

afterAll(async () => {
  await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName));
  await nc.close();
});

describe('NatsConsumerDirectory', () => {
  it("knows each declaration's durable consumer of each type, and no other", async () => {
    const directory = new NatsConsumerDirectory(nc, names);
    expect(await directory.hasConsumer('lead.extracted', 'research')).toBe(true);
    expect(await directory.hasConsumer('lead.failed', 'projection')).toBe(true);
    expect(await directory.hasConsumer('lead.personalized', 'projection')).toBe(true);
    expect(await directory.hasConsumer('lead.extracted', 'crm')).toBe(false);
    expect(await directory.hasConsumer('run.completed', 'webhook')).toBe(false);
  });

  it('says a type is idle only while every consumer of it has nothing waiting and nothing in flight', async () => {
    const directory = new NatsConsumerDirectory(nc, names);
    expect(await directory.idle('lead.extracted')).toBe(true);
    expect(await directory.idle('run.completed')).toBe(false); // nobody receives it: nothing to say it is idle
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    expect(await publisher.publishAll([{ event: { type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() }, trace: null }])).toEqual([{ ok: true }]);
    expect(await directory.idle('lead.extracted')).toBe(false); // waiting
    const consumer = await jetstream(nc).consumers.get(names.streamName, 'research');
    const message = await consumer.next({ expires: 2_000 });
    expect(message).not.toBeNull();
    expect(await directory.idle('lead.extracted')).toBe(false); // in flight
    message!.ack();
    await message!.ackAck?.().catch(() => undefined);
    for (let tries = 0; tries < 50 && !(await directory.idle('lead.extracted')); tries += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await directory.idle('lead.extracted')).toBe(true);
  });
});
