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
   * Claims up to `limit` events that are due, oldest first, and hands them to `publish`; then
   * applies its outcome, all in one transaction, so no other relay takes the same events
   * meanwhile and a relay that dies mid-way leaves them for the next. Events of `skipTypes` are
   * not claimed. Resolves with how many were claimed. If `publish` throws, nothing changes.
   */
  relay(
    limit: number,
    publish: (events: readonly StoredEvent[]) => Promise<RelayOutcome>,
    options?: { readonly skipTypes?: readonly EventType[] },
  ): Promise<number>;
  /** Calls `listener` soon after events are committed (best effort: the relay also polls). Resolves with the unsubscribe. */
  onCommitted(listener: () => void): Promise<() => Promise<void>>;
}
