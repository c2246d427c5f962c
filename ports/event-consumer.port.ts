/**
 * A consumer is a declaration: a durable name, the events it subscribes to, its delivery
 * settings and a handler. The messaging adapter provisions a durable JetStream consumer for it
 * and runs the handler for each message; adding a consumer for a new API is one declaration.
 */
import type { EventOf, EventType } from '../domain/campaigns/events.ts';
import type { Log } from './logger.port.ts';

export interface HandlerContext {
  /** 1 on the first delivery of this message. */
  readonly deliveryCount: number;
  readonly maxDeliver: number;
  /** Carries the trace id, the consumer and the event's run and lead ids. */
  readonly log: Log;
  /** Aborted when the process stops: give the message back rather than finish a long call. */
  readonly signal: AbortSignal;
}

export interface EventHandler<T extends EventType> {
  /**
   * Handles one event. Returning acknowledges it. Throwing `PermanentFailure` calls `giveUp` at
   * once; any other error is retried with the consumer's backoff (or the error's `retryAfterMs`)
   * until `maxDeliver`, then `giveUp` is called with the last error's message. An outside API's
   * pushback (`isPushback` in outside-api.port.ts: paused, circuit open, rate limited) is retried
   * and never given up: the event is not at fault.
   */
  handle(event: EventOf<T>, context: HandlerContext): Promise<void>;
  /** Settles the event for good after its retries (e.g. the lead becomes `failed` with the reason). */
  giveUp?(event: EventOf<T>, reason: string, context: HandlerContext): Promise<void>;
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
}

/**
 * What the runner waits at before each pull. Declared here, by what the runner needs, so that
 * the runner knows no outside API: an `ApiGate` (outside-api.port.ts) is one.
 */
export interface PullGate {
  /** Resolves with the most messages to pull now (`Infinity`: no limit); rejects with the signal's reason on abort. */
  wait(signal: AbortSignal): Promise<number>;
}

/** What the broker needs to know of a consumer: enough to provision it, without its handler. */
export interface ConsumerTopology<T extends EventType = EventType> {
  /** Durable name, e.g. `research`. */
  readonly name: string;
  readonly events: readonly T[];
  readonly settings: ConsumerSettings;
}

export interface ConsumerDeclaration<T extends EventType = EventType> extends ConsumerTopology<T> {
  readonly handler: EventHandler<T>;
  /**
   * The outside API's gate, when the handler calls one (`OutsideApi.gate`): the runner waits at
   * it before each pull, so no message is taken while the API is paused or its circuit is open.
   */
  readonly gate?: PullGate;
  /**
   * Handlers at once for this consumer in one process, when it should differ from the runner's
   * default; `maxAckPending` still caps it. A consumer whose calls a provider limiter paces wants
   * more handlers than calls: a handler waiting for its turn holds a slot without making a call.
   */
  readonly concurrency?: number;
}

/**
 * Declares a consumer so that declarations of different events can share one list. Sound because
 * the runner hands a handler only the events its declaration names, which TypeScript cannot see.
 */
export function declareConsumer<T extends EventType>(declaration: ConsumerDeclaration<T>): ConsumerDeclaration {
  return declaration as unknown as ConsumerDeclaration;
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

/** A failure to retry after a given delay (e.g. a provider's retry-after). */
export class RetryLater extends Error {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.name = 'RetryLater';
    this.retryAfterMs = retryAfterMs;
  }
}
