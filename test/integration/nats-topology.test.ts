import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DomainEvent, EventType } from '../../domain/campaigns/events.ts';
import type { ConsumerSettings, ConsumerTopology } from '../../ports/event-consumer.port.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import { connectTestNats, deleteStreams, testNames, type TestNames } from '../support/nats.ts';

const NANOS_PER_MS = 1_000_000;
const settings: ConsumerSettings = { ackWaitMs: 30_000, maxDeliver: 5, backoffMs: [1_000, 5_000], maxAckPending: 50, maxHandlerMs: 60_000, concurrency: 8 };

function declaration(name: string, events: EventType[], overrides: Partial<ConsumerSettings> = {}): ConsumerTopology {
  return { name, events, settings: { ...settings, ...overrides } };
}

let nc: NatsConnection;
let jsm: JetStreamManager;
let names: TestNames;

beforeAll(async () => {
  nc = await connectTestNats();
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName));
});

afterAll(async () => {
  await nc.close();
});

/** Where this test's topology lives. */
function topology() {
  return { streamName: names.streamName, prefix: names.prefix };
}

describe('provisionTopology', () => {
  it('creates the event stream, the dead-letter stream and one durable pull consumer per declared event', async () => {
    names = testNames();
    const consumers = [
      declaration('research', ['lead.extracted']),
      declaration('projection', ['lead.personalized', 'lead.failed']),
    ];
    await provisionTopology(nc, { ...topology(), consumers });
    // A second start changes nothing and does not fail.
    await provisionTopology(nc, { ...topology(), consumers });

    const stream = await jsm.streams.info(names.streamName);
    expect(stream.config.subjects.sort()).toEqual(
      [
        'campaign.v1.submitted',
        'lead.v1.extracted',
        'lead.v1.failed',
        'lead.v1.needs_review',
        'lead.v1.personalized',
        'lead.v1.researched',
        'run.v1.completed',
      ].map((subject) => `${names.prefix}${subject}`),
    );
    expect(stream.config).toMatchObject({
      retention: 'interest',
      storage: 'file',
      discard: 'new',
      max_age: 7 * 24 * 3_600_000 * NANOS_PER_MS,
      duplicate_window: 120_000 * NANOS_PER_MS,
    });
    const deadLetters = await jsm.streams.info(deadLetterStreamName(names.streamName));
    expect(deadLetters.config).toMatchObject({ subjects: [`${names.prefix}deadletter.v1.>`], retention: 'limits' });

    const listed = await jsm.consumers.list(names.streamName).next();
    const consumerNames = listed.map((info) => info.name).sort();
    expect(consumerNames).toEqual(['projection-lead-failed', 'projection-lead-personalized', 'research']);
    const research = await jsm.consumers.info(names.streamName, 'research');
    expect(research.config).toMatchObject({
      durable_name: 'research',
      filter_subject: `${names.prefix}lead.v1.extracted`,
      ack_policy: 'explicit',
      deliver_policy: 'all',
      ack_wait: 30_000 * NANOS_PER_MS,
      max_deliver: 5,
      max_ack_pending: 50,
    });
    // Retry delays are the runner's nak(delay): a server-side backoff would replace ack_wait.
    expect(research.config.backoff).toBeUndefined();
  });

  it('applies changed settings to the existing consumers on the next start', async () => {
    names = testNames();
    const options = topology();
    await provisionTopology(nc, { ...options, consumers: [declaration('research', ['lead.extracted'])] });
    await provisionTopology(nc, {
      ...options,
      consumers: [declaration('research', ['lead.extracted'], { ackWaitMs: 90_000, maxDeliver: 8, maxAckPending: 7 })],
    });
    const research = await jsm.consumers.info(names.streamName, 'research');
    expect(research.config).toMatchObject({ ack_wait: 90_000 * NANOS_PER_MS, max_deliver: 8, max_ack_pending: 7 });
  });

  it('refuses declarations it cannot provision faithfully', async () => {
    names = testNames();
    const provision = (consumers: ConsumerTopology[], prefix = names.prefix) =>
      provisionTopology(nc, { ...topology(), prefix, consumers });
    await expect(provision([declaration('research', ['lead.extracted']), declaration('research', ['lead.researched'])])).rejects.toThrow(
      'two consumers are named "research"',
    );
    await expect(provision([declaration('bad.name', ['lead.extracted'])])).rejects.toThrow('consumer declaration "bad.name"');
    await expect(provision([declaration('x', ['lead.extracted'], { maxDeliver: 0 })])).rejects.toThrow('maxDeliver');
    await expect(provision([], 'no-dot')).rejects.toThrow('invalid NATS subject prefix');
  });
});

describe('JetStreamEventPublisher', () => {
  it('stores an event published twice once (its event id is the de-duplication id)', async () => {
    names = testNames();
    await provisionTopology(nc, { ...topology(), consumers: [declaration('research', ['lead.extracted'])] });
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    const event: DomainEvent = { type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() };

    const results = await publisher.publishAll([event, { ...event }, { ...event, lead_id: randomUUID() }].map((item) => ({ event: item, trace: null })));
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);

    const research = await jsm.consumers.info(names.streamName, 'research');
    expect(research.num_pending).toBe(2);
    const stored = await jsm.streams.getMessage(names.streamName, { seq: 1 });
    expect(stored?.header.get('Nats-Msg-Id')).toBe(`lead.extracted:${event.run_id}:${event.lead_id}`);
    expect(stored?.json()).toEqual(event);
  });

  it('publishes many events pipelined, stored in order', async () => {
    names = testNames();
    await provisionTopology(nc, { ...topology(), consumers: [declaration('research', ['lead.extracted'])] });
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    const runId = randomUUID();
    const events: DomainEvent[] = Array.from({ length: 600 }, () => ({
      type: 'lead.extracted',
      run_id: runId,
      lead_id: randomUUID(),
    }));

    expect((await publisher.publishAll(events.map((event) => ({ event, trace: null })))).every((result) => result.ok)).toBe(true);

    const consumer = await jetstream(nc).consumers.get(names.streamName, 'research');
    const received: string[] = [];
    const batch = await consumer.fetch({ max_messages: events.length, expires: 5_000 });
    for await (const msg of batch) {
      received.push((msg.json<{ lead_id: string }>()).lead_id);
      msg.ack();
    }
    expect(received).toEqual(events.map((event) => ('lead_id' in event ? event.lead_id : '')));
  });

  it('refuses, for good, to publish an event its consumers would reject; the others of the batch go', async () => {
    names = testNames();
    await provisionTopology(nc, { ...topology(), consumers: [declaration('research', ['lead.extracted'])] });
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    const results = await publisher.publishAll([
      { event: { type: 'lead.extracted', run_id: 'not-a-uuid', lead_id: randomUUID() }, trace: null },
      { event: { type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() }, trace: null },
    ]);
    expect(results).toEqual([{ ok: false, permanent: true, reason: expect.stringMatching(/^refusing to publish lead.extracted: run_id expected/) as string }, { ok: true }]);
    expect((await jsm.consumers.info(names.streamName, 'research')).num_pending).toBe(1);
  });

  it('says, for that event, when the broker does not store it (to be tried again)', async () => {
    names = testNames();
    // No stream listens on this prefix: JetStream has no responder for the subject.
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    const [result] = await publisher.publishAll([{ event: { type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() }, trace: null }]);
    expect(result).toMatchObject({ ok: false, permanent: false });
  });
});
