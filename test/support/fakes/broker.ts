/**
 * Test doubles (never used in production code) of the broker's side: the event publisher the
 * outbox relay hands events to, the directory of durable consumers it asks before publishing an
 * event some consumer will want (`EventSubscriptions`), and how busy each stage's consumers are,
 * as the reconciler asks (`ConsumerActivity`). Each is set by the test and records what it was asked.
 */
import { EVENT_TYPES, type DomainEvent, type EventType } from '../../../domain/campaigns/events.ts';
import type { ConsumerActivity } from '../../../ports/event-consumer.port.ts';
import type { Backlog, EventPublisher, EventSubscriptions, EventToPublish, PublishResult } from '../../../ports/event-publisher.port.ts';

/**
 * Publishes into a list. Each event's result comes from `resultFor` (default: stored); a whole
 * batch can be made to reject (the broker unreachable). `nextBatch()` resolves when the next batch
 * arrives: a signal to wait on instead of a sleep.
 */
export class RecordingEventPublisher implements EventPublisher {
  /** Every batch handed over, in order, with each event's trace. */
  readonly batches: (readonly EventToPublish[])[] = [];
  readonly #stored: DomainEvent[] = [];
  #resultFor: (event: DomainEvent) => PublishResult = () => ({ ok: true });
  #failure: Error | undefined;
  #waiters: ((batch: readonly EventToPublish[]) => void)[] = [];

  /** The events the broker stored (result ok), in order. */
  get published(): readonly DomainEvent[] {
    return this.#stored;
  }

  /** Decides each event's result from now on. */
  resultFor(decide: (event: DomainEvent) => PublishResult): void {
    this.#resultFor = decide;
  }

  /** Makes every `publishAll` reject with `error` (undefined: stop). */
  failWith(error: Error | undefined): void {
    this.#failure = error;
  }

  /** Resolves with the next batch handed to `publishAll`. */
  nextBatch(): Promise<readonly EventToPublish[]> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async publishAll(events: readonly EventToPublish[]): Promise<readonly PublishResult[]> {
    await Promise.resolve();
    const batch = [...events];
    this.batches.push(batch);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake(batch);
    if (this.#failure !== undefined) throw this.#failure;
    return batch.map(({ event }) => {
      const result = this.#resultFor(event);
      if (result.ok) this.#stored.push(event);
      return result;
    });
  }
}

/** Which event types have a durable consumer in the broker: every type unless told otherwise. */
export class FakeEventSubscriptions implements EventSubscriptions {
  readonly #consumed: Set<EventType>;
  /** Every type asked about, in order. */
  readonly asked: EventType[] = [];

  constructor(consumed: Iterable<EventType> = EVENT_TYPES) {
    this.#consumed = new Set(consumed);
  }

  add(type: EventType): void {
    this.#consumed.add(type);
  }

  remove(type: EventType): void {
    this.#consumed.delete(type);
  }

  /** Consumers (by name) whose durable consumer is missing although their type has others. */
  readonly missing = new Set<string>();

  hasConsumer(type: EventType, consumer: string): Promise<boolean> {
    this.asked.push(type);
    return Promise.resolve(this.#consumed.has(type) && !this.missing.has(consumer));
  }

  readonly #backlogs = new Map<EventType, Backlog>();

  /** What the consumers of `type` hold from now on (unset: nothing reported, so nothing is metered). */
  setBacklog(type: EventType, backlog: Backlog): void {
    this.#backlogs.set(type, backlog);
  }

  backlog(type: EventType): Promise<Backlog | null> {
    return Promise.resolve(this.#backlogs.get(type) ?? null);
  }
}

/** Which stages' consumers have work waiting or in flight: none unless told otherwise. */
export class FakeConsumerActivity implements ConsumerActivity {
  readonly #busy = new Set<EventType>();
  /** Every type asked about, in order. */
  readonly asked: EventType[] = [];

  /** Says the consumers of `type` have messages waiting or in flight (`false`: idle again). */
  setBusy(type: EventType, busy = true): void {
    if (busy) this.#busy.add(type);
    else this.#busy.delete(type);
  }

  idle(type: EventType): Promise<boolean> {
    this.asked.push(type);
    return Promise.resolve(!this.#busy.has(type) && this.#epoch !== null);
  }

  #epoch: string | null = new Date(Date.UTC(2025, 0, 1)).toISOString();

  /** The broker lost its stream, which is not there again yet (`recreateStream` brings a new one). */
  loseStream(): void {
    this.#epoch = null;
  }

  /** The stream is created anew (empty) at `createdAt` (epoch ms; default a fixed past instant): its identity changes. */
  recreateStream(createdAt = Date.UTC(2025, 0, 2)): void {
    this.#epoch = new Date(createdAt).toISOString();
  }

  streamEpoch(): Promise<string | null> {
    return Promise.resolve(this.#epoch);
  }
}
