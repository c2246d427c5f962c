/**
 * Deliveries to the outside world a consumer makes for a run (a webhook, a CRM push): one record
 * per run and consumer, which the run's status shows under the consumer's name. Writes are
 * changes, committed through the unit of work like any other.
 */
import type { Change } from './unit-of-work.port.ts';

export interface DeliveryRecord {
  readonly attempts: number;
  /** Why the last attempt failed (no secret, no response body); null after a success. */
  readonly lastError: string | null;
  /** ISO time of the successful attempt; null until then. */
  readonly deliveredAt: string | null;
  /** ISO time the consumer gave up; null unless it did. */
  readonly failedAt: string | null;
}

export interface DeliveryLog {
  /** The record of `consumer`'s delivery for the run; null before its first attempt. */
  delivery(runId: string, consumer: string): Promise<DeliveryRecord | null>;
  /** One attempt: delivered (`error` null) or failed with `error`. Counted once per call. */
  recordAttempt(run: { readonly runId: string; readonly userId: string }, consumer: string, error: string | null): Change<void>;
  /** The consumer stopped trying, with the reason. */
  recordGivenUp(run: { readonly runId: string; readonly userId: string }, consumer: string, reason: string): Change<void>;
}
