/**
 * The outbox relay: publishes the events committed with their state changes (see
 * ports/unit-of-work.port.ts), in batches, and removes them once the broker stored them. Every
 * process with the `relay` role runs one; they share the outbox without taking the same events
 * (the store claims rows with SKIP LOCKED). A commit wakes them at once (the store's notification);
 * they also look every `pollMs`, for postponed events and in case a notification was missed.
 *
 * An event is held back while a consumer the configuration enables for its type has no durable
 * consumer in the broker yet (its worker has not started): with interest retention the broker keeps
 * a message only for the consumers that exist when it is stored. Held events are left untouched
 * and their type is not claimed again for `retryAfterMs`. An event nobody is configured to receive
 * (`run.completed` with no consumer of it enabled) is published all the same, and dropped.
 *
 * Events are metered into the broker: of a type its consumers receive, the relay publishes only
 * while they have fewer waiting (delivered to nobody yet) than they have in flight, and at least
 * `minWaiting`. The rest waits here, where each claim takes users' events in turns (see
 * ports/outbox.port.ts), instead of in the stream, which is first-in-first-out across users: a
 * user's 3-lead run submitted behind another's 20,000 leads waits for about one round of the
 * consumers' work at each stage, not for the 20,000. The consumers never starve: the waiting
 * events cover at least what they have in hand, and a metered relay looks again every `meterPollMs`.
 */
import { eventId, type EventType } from '../../../domain/campaigns/events.ts';
import type { EventPublisher, EventSubscriptions } from '../../../ports/event-publisher.port.ts';
import type { Log } from '../../../ports/logger.port.ts';
import type { OutboxStore, RelayOutcome, StoredEvent } from '../../../ports/outbox.port.ts';
import { delay } from './delay.ts';

export interface OutboxRelayOptions {
  readonly outbox: OutboxStore;
  readonly publisher: EventPublisher;
  readonly subscriptions: EventSubscriptions;
  /** For each event type, the enabled consumers that receive it (kernel/assemble.ts consumedEvents). */
  readonly consumed: ReadonlyMap<EventType, readonly string[]>;
  readonly log: Log;
  /** Events per claim (default 1,000). */
  readonly batchSize?: number;
  /** How often an idle relay looks anyway (default 1 s). */
  readonly pollMs?: number;
  /** How long an event waits before it is tried again after it could not be published (default 2 s). */
  readonly retryAfterMs?: number;
  /** The clock of the held-back types' next look (default Date.now; tests pass their fake clock's). */
  readonly now?: () => number;
  /** Events of a type its consumers may have waiting in the broker, at least (default 100; see the module comment). */
  readonly minWaiting?: number;
  /** How often a relay that is holding events back for room looks again (default 100 ms). */
  readonly meterPollMs?: number;
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
  readonly #now: () => number;
  readonly #minWaiting: number;
  readonly #meterPollMs: number;
  readonly #stopped = new AbortController();
  readonly #heldLoggedAt = new Map<EventType, number>();
  /** Event types held back (a consumer of them does not exist yet), and when to look again. */
  readonly #heldUntil = new Map<EventType, number>();
  #wake: (() => void) | undefined;
  #pending = false;
  #loop: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #failing = false;
  /** Whether the last claim stopped at a type's room: events wait for the consumers, look again soon. */
  #metered = false;

  constructor(options: OutboxRelayOptions) {
    this.#options = options;
    this.#batchSize = options.batchSize ?? 1_000;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#retryAfterMs = options.retryAfterMs ?? 2_000;
    this.#now = options.now ?? Date.now;
    this.#minWaiting = options.minWaiting ?? 100;
    this.#meterPollMs = options.meterPollMs ?? 100;
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
  async relayOnce(): Promise<number> {
    const now = this.#now();
    const skipTypes = [...this.#heldUntil].filter(([, until]) => until > now).map(([type]) => type);
    const room = await this.#room(skipTypes);
    const claimed = new Map<EventType, number>();
    const count = await this.#options.outbox.relay(
      this.#batchSize,
      (events) => {
        for (const { event } of events) claimed.set(event.type, (claimed.get(event.type) ?? 0) + 1);
        return this.#publish(events);
      },
      { skipTypes, room },
    );
    this.#metered = [...room].some(([type, free]) => (claimed.get(type) ?? 0) >= free);
    return count;
  }

  /** For each type some consumer receives, how many more events the broker should take now. */
  async #room(skipTypes: readonly EventType[]): Promise<Map<EventType, number>> {
    const room = new Map<EventType, number>();
    const types = [...this.#options.consumed.keys()].filter((type) => !skipTypes.includes(type));
    await Promise.all(
      types.map(async (type) => {
        const backlog = await this.#options.subscriptions.backlog(type);
        if (backlog !== null) room.set(type, Math.max(0, Math.max(this.#minWaiting, backlog.inFlight) - backlog.waiting));
      }),
    );
    return room;
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
      // A full batch: there is more.
      if (claimed >= this.#batchSize) continue;
      // Held for room: the consumers free it at their pace, whatever is committed meanwhile (each
      // claim ranks every waiting row, so it is not repeated on every commit of a busy system).
      if (this.#metered) {
        await delay(this.#meterPollMs, this.#stopped.signal);
        continue;
      }
      // A commit during the batch: look again.
      if (this.#pending) continue;
      await this.#idle();
    }
  }

  async #publish(events: readonly StoredEvent[]): Promise<RelayOutcome> {
    const { publisher, subscriptions, consumed } = this.#options;
    const held = new Set<EventType>();
    for (const type of new Set(events.map((stored) => stored.event.type))) {
      const missing = await Promise.all((consumed.get(type) ?? []).map(async (consumer) => !(await subscriptions.hasConsumer(type, consumer))));
      if (missing.some(Boolean)) held.add(type);
      // Held events stay as they are (no write per look), and their type is not claimed for a while.
      if (held.has(type)) this.#heldUntil.set(type, this.#now() + this.#retryAfterMs);
      else this.#heldUntil.delete(type);
    }
    const ready = events.filter((stored) => !held.has(stored.event.type));
    const results = await publisher.publishAll(
      ready.map((stored) => ({ event: stored.event, trace: stored.trace, ...(stored.msgId === eventId(stored.event) ? {} : { msgId: stored.msgId }) })),
    );
    const published: string[] = [];
    const postponed: string[] = [];
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
