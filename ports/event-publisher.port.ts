/**
 * The broker's side of the relay (see outbox.port.ts): publishing stored events durably, and
 * knowing whether anyone consumes an event type yet.
 */
import type { DomainEvent, EventType } from '../domain/campaigns/events.ts';
import type { TraceCarrier } from './tracing.port.ts';

export interface EventToPublish {
  readonly event: DomainEvent;
  /** The trace the event continues; null for none. */
  readonly trace: TraceCarrier | null;
  /** The de-duplication id, when not the event's own `eventId` (a re-drive after the stream was lost). */
  readonly msgId?: string;
}

/** Per event: stored by the broker (or recognised as a duplicate of its id), or why not. */
export type PublishResult =
  | { readonly ok: true }
  /** `permanent`: the event can never be published (it does not encode); else try again later. */
  | { readonly ok: false; readonly permanent: boolean; readonly reason: string };

export interface EventPublisher {
  /**
   * Publishes the events pipelined, each with its `eventId` as the de-duplication id and its trace
   * context; resolves with one result per event, in order, once the broker answered for each.
   */
  publishAll(events: readonly EventToPublish[]): Promise<readonly PublishResult[]>;
}

export interface EventSubscriptions {
  /**
   * Whether the named consumer (a declaration's name) has its durable consumer of this event type
   * in the broker. With interest retention a message is kept only for the consumers that exist
   * when it is stored, so the relay holds back events that a consumer enabled by the
   * configuration will want until its durable consumer is provisioned.
   */
  hasConsumer(type: EventType, consumer: string): Promise<boolean>;
  /**
   * How much of `type` the broker holds for its consumers now: the most any consumer receiving it
   * has waiting (not yet delivered) and in flight (delivered, not yet acknowledged); null when no
   * consumer receives it. The relay meters events by it, so that a backlog waits in the outbox,
   * where it can be taken fairly across users, not in the broker's first-in-first-out stream.
   */
  backlog(type: EventType): Promise<Backlog | null>;
}

export interface Backlog {
  readonly waiting: number;
  readonly inFlight: number;
}
