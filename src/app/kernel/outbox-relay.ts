/**
 * The outbox relay: publishes the events committed with their state changes (see
 * ports/unit-of-work.port.ts), in batches, and removes them once the broker stored them. Every
 * process with the `relay` role runs one; they share the outbox without taking the same events
 * (the store claims rows with SKIP LOCKED). A commit wakes them at once (the store's notification);
 * they also look every `pollMs`, for postponed events and in case a notification was missed.
 *
 * An event some enabled consumer will receive is held back while no consumer of its type exists
 * in the broker yet (a worker that has not started): with interest retention the broker would drop
 * it at once. An event nobody is configured to receive (`run.completed` with no consumer of it
 * enabled) is published all the same, and the broker drops it.
 */
import type { EventType } from '../../../domain/campaigns/events.ts';
import type { EventPublisher, EventSubscriptions } from '../../../ports/event-publisher.port.ts';
import type { Log } from '../../../ports/logger.port.ts';
import type { OutboxStore, RelayOutcome, StoredEvent } from '../../../ports/outbox.port.ts';
import { delay } from './delay.ts';

export interface OutboxRelayOptions {
  readonly outbox: OutboxStore;
  readonly publisher: EventPublisher;
  readonly subscriptions: EventSubscriptions;
  /** Event types some enabled consumer receives (kernel/assemble.ts consumedEvents). */
  readonly consumed: ReadonlySet<EventType>;
  readonly log: Log;
  /** Events per claim (default 1,000). */
  readonly batchSize?: number;
  /** How often an idle relay looks anyway (default 1 s). */
  readonly pollMs?: number;
  /** How long an event waits before it is tried again after it could not be published (default 2 s). */
  readonly retryAfterMs?: number;
}

/** How long a relay waits after the outbox itself failed (the database restarting). */
const FAILURE_PAUSE_MS = 1_000;
/** A held event type is logged at most this often. */
const HOLD_LOG_INTERVAL_MS = 60_000;

export class OutboxRelay {
  readonly #options: OutboxRelayOptions;
  readonly #batchSize: number;
  readonly #pollMs: number;
  readonly #retryAfterMs: number;
  readonly #stopped = new AbortController();
  readonly #heldLoggedAt = new Map<EventType, number>();
  #wake: (() => void) | undefined;
  #pending = false;
  #loop: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #failing = false;

  constructor(options: OutboxRelayOptions) {
    this.#options = options;
    this.#batchSize = options.batchSize ?? 1_000;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#retryAfterMs = options.retryAfterMs ?? 2_000;
  }

  /** Starts relaying; resolves once the relay listens for commits. */
  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    this.#unlisten = await this.#options.outbox.onCommitted(() => this.#signal());
    this.#loop = this.#run();
  }

  /** Stops after the batch in hand. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#signal();
    await this.#loop;
    await this.#unlisten?.().catch(() => {});
  }

  /** Relays one batch; resolves with how many events it claimed. */
  relayOnce(): Promise<number> {
    return this.#options.outbox.relay(this.#batchSize, (events) => this.#publish(events));
  }

  async #run(): Promise<void> {
    const { log } = this.#options;
    while (!this.#stopped.signal.aborted) {
      this.#pending = false;
      let claimed: number;
      try {
        claimed = await this.relayOnce();
        if (this.#failing) log.info({}, 'outbox relay works again');
        this.#failing = false;
      } catch (error) {
        if (!this.#failing) log.error({ error: error instanceof Error ? error.message : String(error) }, 'outbox relay failed; retrying');
        this.#failing = true;
        await delay(FAILURE_PAUSE_MS, this.#stopped.signal);
        continue;
      }
      // A full batch: there is more. A commit during the batch: look again.
      if (claimed >= this.#batchSize || this.#pending) continue;
      await this.#idle();
    }
  }

  async #publish(events: readonly StoredEvent[]): Promise<RelayOutcome> {
    const { publisher, subscriptions, consumed } = this.#options;
    const held = new Set<EventType>();
    for (const type of new Set(events.map((stored) => stored.event.type))) {
      if (consumed.has(type) && !(await subscriptions.hasConsumer(type))) held.add(type);
    }
    const ready = events.filter((stored) => !held.has(stored.event.type));
    const results = await publisher.publishAll(ready.map((stored) => ({ event: stored.event, trace: stored.trace })));
    const published: string[] = [];
    const postponed: string[] = events.filter((stored) => held.has(stored.event.type)).map((stored) => stored.id);
    const parked: string[] = [];
    results.forEach((result, index) => {
      const { id, event } = ready[index]!;
      if (result.ok) published.push(id);
      else if (result.permanent) {
        parked.push(id);
        this.#options.log.error({ event_type: event.type, run_id: event.run_id, outbox_id: id, reason: result.reason }, 'outbox event cannot be published: parked for an operator');
      } else postponed.push(id);
    });
    const failed = results.filter((result) => !result.ok && !result.permanent).length;
    if (failed > 0) this.#options.log.warn({ events: failed }, 'the broker did not take some events: they are tried again');
    this.#logHeld(held);
    return { published, postponed, parked, retryAfterMs: this.#retryAfterMs };
  }

  #logHeld(held: ReadonlySet<EventType>): void {
    const now = Date.now();
    for (const type of held) {
      if (now - (this.#heldLoggedAt.get(type) ?? 0) < HOLD_LOG_INTERVAL_MS) continue;
      this.#heldLoggedAt.set(type, now);
      this.#options.log.warn({ event_type: type }, 'events wait in the outbox: no consumer of them exists yet (start a process with its role)');
    }
  }

  #signal(): void {
    this.#pending = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #idle(): Promise<void> {
    if (this.#pending) return;
    const woken = new AbortController();
    this.#wake = () => woken.abort();
    await delay(this.#pollMs, AbortSignal.any([woken.signal, this.#stopped.signal]));
    this.#wake = undefined;
  }
}
