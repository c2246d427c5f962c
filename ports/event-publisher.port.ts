import type { DomainEvent } from '../domain/campaigns/events.ts';

/**
 * Publishes events durably (JetStream): resolves once the broker has stored the event. Each event
 * is published with its `eventId` as the de-duplication id, and with the active trace context.
 */
export interface EventPublisher {
  publish(event: DomainEvent): Promise<void>;
  /** Publishes in order, pipelined: resolves when every event is stored. */
  publishAll(events: readonly DomainEvent[]): Promise<void>;
}
