/**
 * What the runner's middleware see of a message: the consumer it was delivered to, the message,
 * how to settle it, and what earlier middleware learnt about it. Middleware know no broker SDK and
 * no other adapter: the pull loop (../pull-loop.ts) supplies the message and its settlement.
 */
import type { DomainEvent } from '../../../../domain/campaigns/events.ts';
import type { HandlerContext, RunnableConsumer } from '../../../../ports/event-consumer.port.ts';
import type { Log } from '../../../../ports/logger.port.ts';

export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  header(name: string): string | undefined;
  headerNames(): string[];
}

/** Settles the message once: the first call wins, later ones do nothing. */
export interface Settlement {
  readonly settled: boolean;
  ack(): void;
  /** Redelivers after `delayMs`. */
  nak(delayMs: number): void;
  /** Never redelivered. */
  term(): void;
  /** Resets the broker's ack timer: the handler is still at work. */
  working(): void;
  /**
   * Publishes a fresh copy of the message (its deliveries count from one again) and acks this one;
   * if the copy cannot be published, terminates this one. Resolves with whether the copy was published.
   */
  requeue(): Promise<boolean>;
  /** Keeps the message's bytes, with `reason`, where an operator finds them; resolves with whether that worked. */
  deadLetter(reason: string): Promise<boolean>;
}

export interface MessageContext {
  readonly consumer: RunnableConsumer;
  /** The durable consumer on the broker that delivered it: the consumer's name, or one of its per-event consumers. */
  readonly durableName: string;
  readonly message: InboundMessage;
  readonly settle: Settlement;
  /** Aborted when the process stops, and by the timeout middleware when the handler runs too long. */
  signal: AbortSignal;
  log: Log;
  /** Set by the decode middleware. */
  event: DomainEvent | undefined;
  /** Set by the tracing middleware. */
  traceId: string | undefined;
  /** Why the handler failed, when it did (for the span's status). */
  failure: unknown;
}

export type Middleware = (context: MessageContext, next: () => Promise<void>) => Promise<void>;

/** What the handler (and its giveUp) receive. */
export function handlerContext(context: MessageContext): HandlerContext {
  return {
    deliveryCount: context.message.deliveryCount,
    maxDeliver: context.consumer.settings.maxDeliver,
    ackWaitMs: context.consumer.settings.ackWaitMs,
    log: context.log,
    signal: context.signal,
  };
}

/** The delay before redelivery n+1 after delivery n failed; the last value repeats. */
export function backoffDelay(backoffMs: readonly number[], deliveryCount: number): number {
  return backoffMs[deliveryCount - 1] ?? backoffMs.at(-1) ?? 0;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
