/**
 * The relay's side of the transactional outbox (see unit-of-work.port.ts): events committed with
 * their state change, waiting to be published.
 */
import type { DomainEvent, EventType } from '../domain/campaigns/events.ts';
import type { TraceCarrier } from './tracing.port.ts';

export interface StoredEvent {
  /** The outbox row's id (a decimal string). */
  readonly id: string;
  readonly event: DomainEvent;
  /** The trace context the event was committed in; null when none was active. */
  readonly trace: TraceCarrier | null;
  /** The de-duplication id it is published under. */
  readonly msgId: string;
}

/** What the relay did with each claimed event; an event in none of the lists is left as it was. */
export interface RelayOutcome {
  /** Stored by the broker: removed from the outbox. */
  readonly published: readonly string[];
  /** Not published now (no consumer for it yet, the broker refused it): tried again after `retryAfterMs`. */
  readonly postponed: readonly string[];
  readonly retryAfterMs: number;
  /** Can never be published (it does not encode): kept, never tried again, for an operator. */
  readonly parked: readonly string[];
}

export interface OutboxStore {
  /**
   * Claims up to `limit` events that are due and hands them to `publish`; then applies its
   * outcome, all in one transaction, so no other relay takes the same events meanwhile and a relay
   * that dies mid-way leaves them for the next. Events of `skipTypes` are not claimed, and at most
   * `room` of a type that has an entry there. Resolves with how many were claimed. If `publish`
   * throws, nothing changes.
   *
   * The order is fair across users: each user's events of a type, oldest first, take turns with
   * every other user's (the first event of each user, then the second of each, ...), so one user's
   * backlog does not stand in front of another user's first events.
   */
  relay(limit: number, publish: (events: readonly StoredEvent[]) => Promise<RelayOutcome>, options?: RelayClaim): Promise<number>;
  /** Calls `listener` soon after events are committed (best effort: the relay also polls). Resolves with the unsubscribe. */
  onCommitted(listener: () => void): Promise<() => Promise<void>>;
}

export interface RelayClaim {
  readonly skipTypes?: readonly EventType[];
  /** The most events of each listed type to claim now (a type not listed: up to the claim's limit). */
  readonly room?: ReadonlyMap<EventType, number>;
}
