/**
 * The JetStream topology, provisioned idempotently at start-up: the event stream and a
 * dead-letter stream by every process, and one durable pull consumer per (declaration, event type)
 * by the processes that run that consumer. Settings changed in a declaration are applied to the
 * existing consumers on the next start of a process that runs them.
 *
 * With interest retention an event published while no consumer receives its subject is dropped at
 * once; the outbox relay therefore holds back the events of a consumer the configuration enables
 * until that consumer exists (src/app/kernel/outbox-relay.ts).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { EVENT_TYPES, type EventType } from '../../domain/campaigns/events.ts';
import type { ConsumerTopology } from '../../ports/event-consumer.port.ts';
import { assertSubjectPrefix, consumerName, deadLetterSubjects, eventSubject } from './subjects.ts';

export const DEFAULT_STREAM_NAME = 'AGA';

const DAY_MS = 24 * 60 * 60 * 1_000;
/** A backstop, not a queue length: work normally leaves the stream within minutes. */
const STREAM_MAX_AGE_MS = 7 * DAY_MS;
/** JetStream's default, stated: a republished event id within this window is stored once. */
const DUPLICATE_WINDOW_MS = 2 * 60 * 1_000;
const DEAD_LETTER_MAX_AGE_MS = 30 * DAY_MS;
const DEAD_LETTER_MAX_MESSAGES = 100_000;

export interface TopologyOptions {
  /** Default `AGA`. */
  readonly streamName?: string;
  /** Subject prefix, empty or ending with a dot (see subjects.ts). */
  readonly prefix?: string;
  /** The consumers this process runs (see the module comment); handlers are not needed here. */
  readonly consumers: readonly ConsumerTopology[];
  /** Stream replicas; 1 on a single server, 3 on a production cluster. */
  readonly replicas?: number;
}

/** One durable JetStream consumer: a declaration narrowed to one event type. */
export interface PlannedConsumer<D extends ConsumerTopology = ConsumerTopology> {
  readonly name: string;
  readonly type: EventType;
  readonly subject: string;
  readonly declaration: D;
}

/** Undecodable messages are kept here for inspection (see consumer-runner.ts). */
export function deadLetterStreamName(streamName: string): string {
  return `${streamName}_DEADLETTER`;
}

/** The consumers a set of declarations needs; throws on a name clash or an unusable setting. */
export function planConsumers<D extends ConsumerTopology>(declarations: readonly D[], prefix = ''): PlannedConsumer<D>[] {
  const planned = declarations.flatMap((declaration) => {
    assertSettings(declaration);
    return declaration.events.map((type) => ({
      name: consumerName(declaration, type),
      type,
      subject: eventSubject(type, prefix),
      declaration,
    }));
  });
  const seen = new Set<string>();
  for (const { name } of planned) {
    if (seen.has(name)) throw new Error(`two consumers are named "${name}"`);
    seen.add(name);
  }
  return planned;
}

export async function provisionTopology(nc: NatsConnection, options: TopologyOptions): Promise<void> {
  const prefix = options.prefix ?? '';
  assertSubjectPrefix(prefix);
  const streamName = options.streamName ?? DEFAULT_STREAM_NAME;
  const replicas = options.replicas ?? 1;
  const consumers = planConsumers(options.consumers, prefix);
  const jsm = await jetstreamManager(nc);

  await upsertStream(jsm, {
    name: streamName,
    subjects: EVENT_TYPES.map((type) => eventSubject(type, prefix)),
    // A message stays while a consumer on its subject has not acknowledged it, so any number of
    // consumers can read any subject (a work queue allows one consumer per subject).
    retention: RetentionPolicy.Interest,
    storage: StorageType.File,
    max_age: nanos(STREAM_MAX_AGE_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    // Should a size limit ever be set, a full stream refuses new events (the publisher's caller
    // sees the error and its own message is redelivered) instead of silently dropping queued work.
    discard: DiscardPolicy.New,
    num_replicas: replicas,
  });
  await upsertStream(jsm, {
    name: deadLetterStreamName(streamName),
    subjects: [deadLetterSubjects(prefix)],
    // Nobody consumes dead letters: they are kept for an operator, the oldest making room.
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(DEAD_LETTER_MAX_AGE_MS),
    max_msgs: DEAD_LETTER_MAX_MESSAGES,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
  });

  for (const consumer of consumers) {
    const { ackWaitMs, maxDeliver, maxAckPending } = consumer.declaration.settings;
    // No server-side `backoff`: JetStream then replaces ack_wait with backoff[n-1] for delivery n,
    // so a slow handler would be redelivered while it runs. Retry delays are the runner's nak(delay).
    const settings = { ack_wait: nanos(ackWaitMs), max_deliver: maxDeliver, max_ack_pending: maxAckPending };
    await upsertConsumer(jsm, streamName, {
      durable_name: consumer.name,
      filter_subject: consumer.subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...settings,
    }, settings);
  }
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  if (await exists(() => jsm.streams.info(config.name))) {
    // Retention and storage cannot change on a live stream; the server says so if they differ.
    const { name, ...update } = config;
    await jsm.streams.update(name, update);
  } else {
    await jsm.streams.add(config);
  }
}

async function upsertConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
  changeable: Partial<ConsumerConfig>,
): Promise<void> {
  if (await exists(() => jsm.consumers.info(stream, config.durable_name))) {
    await jsm.consumers.update(stream, config.durable_name, changeable);
  } else {
    await jsm.consumers.add(stream, config);
  }
}

async function exists(info: () => Promise<unknown>): Promise<boolean> {
  try {
    await info();
    return true;
  } catch (error) {
    const notFound: number[] = [JetStreamApiCodes.StreamNotFound, JetStreamApiCodes.ConsumerNotFound];
    if (error instanceof JetStreamApiError && notFound.includes(error.code)) return false;
    throw error;
  }
}

function assertSettings(declaration: ConsumerTopology): void {
  const { name, events, settings } = declaration;
  const problem =
    !/^[A-Za-z0-9_-]+$/.test(name) ? 'the name may hold only letters, digits, "_" and "-"'
    : events.length === 0 ? 'it subscribes to no event'
    : !(settings.ackWaitMs >= 1) ? 'ackWaitMs must be positive'
    : !Number.isInteger(settings.maxDeliver) || settings.maxDeliver < 1 ? 'maxDeliver must be a positive integer'
    : !Number.isInteger(settings.maxAckPending) || settings.maxAckPending < 1 ? 'maxAckPending must be a positive integer'
    : settings.backoffMs.some((ms) => !(ms >= 0)) ? 'backoffMs must hold non-negative delays'
    : !(settings.maxHandlerMs >= 1) ? 'maxHandlerMs must be positive'
    : !Number.isInteger(settings.concurrency) || settings.concurrency < 1 ? 'concurrency must be a positive integer'
    : undefined;
  if (problem !== undefined) throw new Error(`consumer declaration "${name}": ${problem}`);
}
