/**
 * The broker losing the topology while the process runs, on the real NATS (this file's own stream,
 * consumers and buckets, deleted as a server restarted on an empty store would lose them): the
 * keeper says what is missing, is not ready meanwhile, provisions it all again, and the consumer
 * directory sees the stream's new identity and no consumer of the old one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { openApiBucket } from '../../adapters/nats/api-status.ts';
import { NatsConsumerDirectory } from '../../adapters/nats/consumer-directory.ts';
import { NatsObjectLeadFileStore } from '../../adapters/nats/file-store.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { deadLetterStreamName, planConsumers, provisionTopology, type TopologyOptions } from '../../adapters/nats/topology.ts';
import { kvStreamName, objectStreamName, TopologyKeeper } from '../../adapters/nats/topology-keeper.ts';
import type { ConsumerSettings } from '../../ports/event-consumer.port.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames } from '../support/nats.ts';

const names = testNames();
const apiBucket = `${names.bucket}-api`;
const settings: ConsumerSettings = { ackWaitMs: 5_000, maxDeliver: 3, backoffMs: [100], maxAckPending: 10, maxHandlerMs: 10_000, concurrency: 1 };
const topology: TopologyOptions = { streamName: names.streamName, prefix: names.prefix, consumers: [{ name: 'research', events: ['lead.extracted'], settings }] };
const everyStream = [names.streamName, deadLetterStreamName(names.streamName), kvStreamName(apiBucket), objectStreamName(names.bucket)];
let nc: NatsConnection;
let keeper: TopologyKeeper;
const log = new RecordingLog();

beforeAll(async () => {
  nc = await connectTestNats();
  const provision = async () => {
    await provisionTopology(nc, topology);
    await openApiBucket(nc, apiBucket);
    await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket });
  };
  await provision();
  keeper = new TopologyKeeper(
    nc,
    { streams: everyStream, consumers: new Map([[names.streamName, planConsumers(topology.consumers, names.prefix).map((consumer) => consumer.name)]]), provision },
    { log, intervalMs: 60_000 },
  );
});

afterAll(async () => {
  await keeper.stop();
  await deleteStreams(nc, ...everyStream);
  await nc.close();
});

const check = () => keeper.check(AbortSignal.timeout(5_000));

describe('TopologyKeeper', () => {
  it('is ready while everything is there', async () => {
    expect(await keeper.missing()).toEqual([]);
    await expect(check()).resolves.toBeUndefined();
  });

  it('says what the broker lost, is not ready meanwhile, and provisions it all again', async () => {
    const directory = new NatsConsumerDirectory(nc, names);
    const epoch = await directory.streamEpoch();
    expect(await directory.hasConsumer('lead.extracted', 'research')).toBe(true);

    await deleteStreams(nc, ...everyStream);
    expect(await directory.streamEpoch()).toBeNull();
    expect(await keeper.missing()).toEqual([...everyStream.map((name) => `stream ${name}`), 'consumer research']);

    // The check fails, naming what is missing, and starts the repair.
    await expect(check()).rejects.toThrow(`the broker lost stream ${names.streamName}`);
    await keeper.keep();
    expect(await keeper.missing()).toEqual([]);
    await expect(check()).resolves.toBeUndefined();
    expect(log.entries.some((entry) => entry.message.includes('provisioning it again'))).toBe(true);

    // A new stream: a new identity; the directory takes no consumer of the old stream for one of the new.
    const renewed = await directory.streamEpoch();
    expect(renewed).not.toBeNull();
    expect(renewed).not.toBe(epoch);
    expect(await directory.hasConsumer('lead.extracted', 'research')).toBe(true);

    // The buckets work again through handles opened before the loss.
    const kv = await new Kvm(nc).open(apiBucket);
    await kv.put('probe', 'ok');
    expect((await kv.get('probe'))?.string()).toBe('ok');
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    expect(await publisher.publishAll([{ event: { type: 'lead.extracted', run_id: crypto.randomUUID(), lead_id: crypto.randomUUID() }, trace: null }])).toEqual([{ ok: true }]);
    // The backlog is read from a listing at most 200 ms old.
    await eventually('the backlog to show the event', async () => (await directory.backlog('lead.extracted'))?.waiting === 1);
    expect(await directory.backlog('lead.extracted')).toEqual({ waiting: 1, inFlight: 0 });
    expect(await directory.backlog('run.completed')).toBeNull(); // nobody receives it
  });

  it('repairs only part of the topology when only part is lost (a consumer deleted)', async () => {
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
    await jsm.consumers.delete(names.streamName, 'research');
    expect(await keeper.keep()).toEqual(['consumer research']);
    expect(await keeper.missing()).toEqual([]);
  });
});
