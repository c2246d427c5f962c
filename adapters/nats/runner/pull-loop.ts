/**
 * The pull loop of one durable consumer: fetches exactly as many messages as it has free handler
 * slots, never more (no message waits in a client buffer while its ack_wait runs, and the in-flight
 * count is exact), and runs each through the delivery chain (chain.ts).
 *
 * A consumer with a gate (its outside API) waits at it before each pull and pulls no more than it
 * allows: nothing is taken, and no delivery spent, while the API is paused or its circuit is open,
 * and only a probe message when one is due. A pull already under way when the gate shuts can still
 * take messages until it expires, so gated pulls expire after a second; a message taken then is
 * refused by the API's breaker or pause and waits, never given up.
 *
 * On stop: no new pulls; in-flight handlers get a grace period to finish, then are aborted and
 * their messages handed back for immediate redelivery elsewhere.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { RunnableConsumer } from '../../../ports/event-consumer.port.ts';
import type { Log } from '../../../ports/logger.port.ts';
import { Delivery } from './delivery.ts';
import type { MessageContext } from './middleware/types.ts';

/** How long a pull waits for messages on an idle consumer before it is renewed. */
const FETCH_EXPIRES_MS = 10_000;
/** The same behind a gate: a pull under way still takes messages after the gate shuts. */
const GATED_FETCH_EXPIRES_MS = 1_000;
/** Pause after a failed pull (broker restarting, consumer missing) before the next one. */
const PULL_RETRY_MS = 1_000;
/** After the grace period, how long aborted handlers get to notice before stop() returns. */
const ABORT_SETTLE_MS = 1_000;

export interface PullLoopOptions {
  readonly js: JetStreamClient;
  readonly streamName: string;
  readonly prefix: string;
  /** The durable consumer's name on the broker (one per subscribed event type). */
  readonly durableName: string;
  readonly logger: Log;
  readonly chain: (context: MessageContext) => Promise<void>;
  readonly stopGraceMs: number;
}

export class PullLoop {
  readonly #consumer: Consumer;
  readonly #runnable: RunnableConsumer;
  readonly #options: PullLoopOptions;
  readonly #limit: number;
  readonly #inFlight = new Set<Delivery>();
  readonly #stopRequested = new AbortController();
  #batch: ConsumerMessages | undefined;
  #slotFreed: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();

  constructor(consumer: Consumer, runnable: RunnableConsumer, options: PullLoopOptions) {
    this.#consumer = consumer;
    this.#runnable = runnable;
    this.#options = options;
    this.#limit = Math.max(1, Math.min(runnable.settings.concurrency, runnable.settings.maxAckPending));
  }

  start(): void {
    this.#loop = this.#pull();
  }

  async stop(): Promise<void> {
    this.#stopRequested.abort();
    this.#batch?.stop();
    this.#slotFreed?.();
    await this.#loop;
    if (await settledWithin(this.#allDone(), this.#options.stopGraceMs)) return;
    this.#options.logger.warn(
      { consumer: this.#options.durableName, in_flight: this.#inFlight.size },
      'handlers still running after the stop grace period: releasing their messages',
    );
    for (const delivery of this.#inFlight) delivery.release();
    await settledWithin(this.#allDone(), ABORT_SETTLE_MS);
  }

  get #stopping(): boolean {
    return this.#stopRequested.signal.aborted;
  }

  #allDone(): Promise<unknown> {
    return Promise.all([...this.#inFlight].map((delivery) => delivery.done));
  }

  async #pull(): Promise<void> {
    const { gate } = this.#runnable;
    const expires = gate === undefined ? FETCH_EXPIRES_MS : GATED_FETCH_EXPIRES_MS;
    while (!this.#stopping) {
      if (this.#limit - this.#inFlight.size <= 0) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
        continue;
      }
      try {
        const allowed = gate === undefined ? Infinity : await gate.wait(this.#stopRequested.signal);
        // Handlers may have finished while the gate was shut.
        const free = this.#limit - this.#inFlight.size;
        const batch = await this.#consumer.fetch({ max_messages: Math.min(free, allowed), expires });
        this.#batch = batch;
        if (this.#stopping) batch.stop();
        for await (const msg of batch) this.#dispatch(msg);
      } catch (error) {
        if (this.#stopping) break;
        const message = error instanceof Error ? error.message : String(error);
        this.#options.logger.warn({ consumer: this.#options.durableName, error: message }, 'pulling messages failed; retrying');
        await sleep(PULL_RETRY_MS, undefined, { signal: this.#stopRequested.signal }).catch(() => {});
      } finally {
        this.#batch = undefined;
      }
    }
  }

  #dispatch(msg: JsMsg): void {
    // A message that arrives after stop() began goes straight back for another process.
    if (this.#stopping) {
      msg.nak();
      return;
    }
    const { js, streamName, prefix, durableName, logger, chain } = this.#options;
    const delivery = new Delivery(msg, { js, streamName, prefix, consumer: durableName });
    this.#inFlight.add(delivery);
    const context: MessageContext = {
      consumer: this.#runnable,
      durableName,
      message: delivery,
      settle: delivery,
      signal: delivery.signal,
      log: logger,
      event: undefined,
      traceId: undefined,
      failure: undefined,
    };
    delivery.done = chain(context).finally(() => {
      this.#inFlight.delete(delivery);
      const wake = this.#slotFreed;
      this.#slotFreed = undefined;
      wake?.();
    });
  }
}

/** True when `promise` settled within `ms`; the timer never outlives the wait. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timedOut = sleep(ms, false, { signal: timer.signal }).catch(() => false);
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    timer.abort();
  }
}
