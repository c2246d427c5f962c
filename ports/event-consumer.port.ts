/**
 * What the messaging adapter runs: a durable consumer of some events, its delivery settings, how
 * it classifies failures, and its handler. Use cases never see the broker; the kernel
 * (src/app/kernel/) builds these from the consumers' declarations.
 */
import type { EventOf, EventType } from '../domain/campaigns/events.ts';
import type { Log } from './logger.port.ts';
import type { Decision } from './unit-of-work.port.ts';

export interface HandlerContext {
  /** 1 on the first delivery of this message. */
  readonly deliveryCount: number;
  readonly maxDeliver: number;
  /**
   * The consumer's ack wait as the broker applies it (configuration may change the declared one):
   * a message whose handler stops sending heartbeats comes back after this long.
   */
  readonly ackWaitMs: number;
  /** Carries the trace id, the consumer and the event's run and lead ids. */
  readonly log: Log;
  /**
   * Aborted when the process stops (give the message back rather than finish a long call) or the
   * handler ran past its consumer's `maxHandlerMs`.
   */
  readonly signal: AbortSignal;
}

/**
 * A consumer's handler: message in, decision out. It reads what it needs, makes its outside calls,
 * and returns the state change it wants with the events that follow (see unit-of-work.port.ts),
 * or null when the event asks for nothing (a redelivery of work already done). The kernel commits
 * the decision; the message is acknowledged only after that.
 */
export interface Handler<T extends EventType> {
  /** Throwing fails the delivery; the consumer's classification says what follows (FailureVerdict). */
  handle(event: EventOf<T>, context: HandlerContext): Promise<Decision | null>;
  /** Settles the event for good once it is given up (e.g. the lead becomes `failed` with the reason). */
  giveUp?(event: EventOf<T>, reason: string, context: HandlerContext): Promise<Decision | null>;
}

export interface ConsumerSettings {
  /** Longer than the slowest expected handler; long calls also send "working" heartbeats. */
  readonly ackWaitMs: number;
  /** Deliveries before `giveUp`. */
  readonly maxDeliver: number;
  /** Delay before redelivery n (the last value repeats). */
  readonly backoffMs: readonly number[];
  /** In-flight ceiling: messages handed out and not yet acknowledged, across all processes. */
  readonly maxAckPending: number;
  /**
   * The longest a handler may run on one delivery, heartbeats or not: past it the handler is
   * aborted and the delivery fails (and is retried). A hung socket or a bug never holds a slot,
   * and the message, for ever.
   */
  readonly maxHandlerMs: number;
  /** Handlers at once in one process (`maxAckPending` caps it). */
  readonly concurrency: number;
}

/** What the broker needs to know of a consumer: enough to provision it, without its handler. */
export interface ConsumerTopology<T extends EventType = EventType> {
  /** Durable name, e.g. `research`. */
  readonly name: string;
  readonly events: readonly T[];
  readonly settings: ConsumerSettings;
}

/**
 * What the runner waits at before each pull. Declared here, by what the runner needs, so that the
 * runner knows no outside API: an `ApiGate` (outside-api.port.ts) is one.
 */
export interface PullGate {
  /** Resolves with the most messages to pull now (`Infinity` while open); rejects with the signal's reason on abort. */
  wait(signal: AbortSignal): Promise<number>;
}

/** A consumer as the runner runs it. */
export interface RunnableConsumer<T extends EventType = EventType> extends ConsumerTopology<T> {
  /** Handles and commits; resolving means the message may be acknowledged. */
  handle(event: EventOf<T>, context: HandlerContext): Promise<void>;
  /** Settles a given-up event for good; resolving means the message may be acknowledged. */
  giveUp(event: EventOf<T>, reason: string, context: HandlerContext): Promise<void>;
  /** What a failure of `handle` means for the message. */
  classify(error: unknown): FailureVerdict;
  /** The consumer's outside API: no message is pulled while it cannot take work. */
  readonly gate?: PullGate;
}

/**
 * What the runner does with a message whose handler failed, as the consumer's declaration
 * classifies the error (the runner itself knows no error class of any outside API):
 * - `retry`: redeliver after `afterMs` (default: the consumer's backoff); it counts towards
 *   `maxDeliver`, after which the handler's `giveUp` settles the event.
 * - `give_up`: retrying cannot help; `giveUp` runs now.
 * - `wait`: the message is not at fault (an outside API paused, rate limited or unavailable as a
 *   whole): redeliver after `afterMs`, never giving up for it.
 */
export type FailureVerdict =
  | { readonly action: 'retry'; readonly afterMs?: number }
  | { readonly action: 'give_up' }
  | { readonly action: 'wait'; readonly afterMs: number };

/** A failure that retrying cannot fix: the handler's `giveUp` runs immediately. */
export class PermanentFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentFailure';
  }
}

/** A failure to retry after a given delay. */
export class RetryLater extends Error {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.name = 'RetryLater';
    this.retryAfterMs = retryAfterMs;
  }
}

/** The handler ran past its consumer's `maxHandlerMs`. */
export class HandlerTimeout extends Error {
  constructor(ms: number) {
    super(`handler ran past its ${ms} ms limit`);
    this.name = 'HandlerTimeout';
  }
}

/** The classification of a consumer that calls no outside API: permanent failures give up, the rest retry. */
export function defaultVerdict(error: unknown): FailureVerdict {
  if (error instanceof PermanentFailure) return { action: 'give_up' };
  if (error instanceof RetryLater) return { action: 'retry', afterMs: error.retryAfterMs };
  return { action: 'retry' };
}

/** How busy the consumers of an event type are, as the reconciler asks before re-driving work. */
export interface ConsumerActivity {
  /**
   * True when at least one durable consumer receives `type` and none of them has a message of it
   * waiting or in flight: work of that stage that made no progress was lost, not queued.
   */
  idle(type: EventType): Promise<boolean>;
  /**
   * The identity of the broker's event stream (its creation time): it changes when the stream was
   * created anew because the broker lost it, with every message in it; null while it is missing.
   */
  streamEpoch(): Promise<string | null>;
}
