/**
 * Test double (never used in production code): the outbox in memory, the counterpart of
 * adapters/postgres/outbox-store.ts. `FakeUnitOfWork` appends the events it commits; the relay
 * claims them through `relay()` (as an `OutboxStore`), and tests read them (`events()`,
 * `committed()`).
 *
 * As in PostgreSQL: rows are claimed in turns across owners (each owner's oldest first), at most a type's room, only when due, and not by two relays at once
 * (a row claimed by a relay still publishing is skipped, like `FOR UPDATE SKIP LOCKED`); published
 * rows are removed, postponed ones become due `retryAfterMs` later on the clock, parked ones are
 * kept and never due again; when `publish` throws nothing changes. A commit with events wakes the
 * `onCommitted` listeners soon after (not synchronously, like a NOTIFY delivered after commit).
 */
import { eventId, type DomainEvent, type EventType } from '../../../domain/campaigns/events.ts';
import type { OutboxStore, RelayClaim, RelayOutcome, StoredEvent } from '../../../ports/outbox.port.ts';
import type { TraceCarrier } from '../../../ports/tracing.port.ts';
import type { Outgoing } from '../../../ports/unit-of-work.port.ts';
import { FakeClock, type Clock } from './clock.ts';

export interface OutboxRow {
  /** A decimal string, increasing with each event stored. */
  readonly id: string;
  readonly event: DomainEvent;
  readonly trace: TraceCarrier | null;
  /** The de-duplication id it is published under. */
  readonly msgId: string;
  /** When it may be claimed (epoch ms on the clock); Infinity once parked. */
  readonly availableAt: number;
}

export class InMemoryOutbox implements OutboxStore {
  readonly #clock: Clock;
  #rows: OutboxRow[] = [];
  #history: { event: DomainEvent; trace: TraceCarrier | null }[] = [];
  readonly #claimed = new Set<string>();
  readonly #listeners = new Set<() => void>();
  #sequence = 0;

  readonly #ownerOf: (runId: string) => string;

  /** `ownerOf` says whose run it is, for the claims' turns across users (default: each run its own owner). */
  constructor(clock: Clock = new FakeClock(), ownerOf: (runId: string) => string = (runId) => runId) {
    this.#clock = clock;
    this.#ownerOf = ownerOf;
  }

  /** Stores events as one commit does (a bare event has no trace: no span is active in a test). */
  append(outgoing: readonly Outgoing[], redrive?: string): void {
    if (outgoing.length === 0) return;
    for (const item of outgoing) {
      const [event, trace] = 'event' in item ? [item.event, item.trace] : [item, null];
      this.#sequence += 1;
      const msgId = redrive === undefined ? eventId(event) : `${eventId(event)}@${redrive}`;
      this.#rows.push({ id: String(this.#sequence), event, trace, msgId, availableAt: this.#clock.now() });
      this.#history.push({ event, trace });
    }
    for (const listener of this.#listeners) queueMicrotask(listener);
  }

  /** The events waiting in the outbox (parked ones included), oldest first; of one type when given. */
  events(type?: EventType): DomainEvent[] {
    return this.#rows.map((row) => row.event).filter((event) => type === undefined || event.type === type);
  }

  /** The rows waiting, oldest first. */
  rows(): readonly OutboxRow[] {
    return [...this.#rows];
  }

  /** Every event ever stored (published or not), in commit order; of one type when given. */
  committed(type?: EventType): DomainEvent[] {
    return this.#history.map((entry) => entry.event).filter((event) => type === undefined || event.type === type);
  }

  /** The trace each stored event was committed with, by its de-duplication id (the last one stored). */
  traceOf(event: DomainEvent): TraceCarrier | null | undefined {
    const id = eventId(event);
    return this.#history.findLast((entry) => eventId(entry.event) === id)?.trace;
  }

  /** Whether an event of the run waits in the outbox, as the reconciler's queries ask. */
  hasEventOfRun(runId: string): boolean {
    return this.hasEvent((event) => event.run_id === runId);
  }

  /** Whether an event that `matches` waits in the outbox (parked ones do not count). */
  hasEvent(matches: (event: DomainEvent) => boolean): boolean {
    return this.#rows.some((row) => row.availableAt !== Infinity && matches(row.event));
  }

  /** The rows parked for an operator. */
  parked(): readonly OutboxRow[] {
    return this.#rows.filter((row) => row.availableAt === Infinity);
  }

  /** Forgets every row and the history (a test's "from here on"). */
  clear(): void {
    this.#rows = [];
    this.#history = [];
  }

  async relay(limit: number, publish: (events: readonly StoredEvent[]) => Promise<RelayOutcome>, options: RelayClaim = {}): Promise<number> {
    await Promise.resolve();
    const now = this.#clock.now();
    const skip = new Set(options.skipTypes ?? []);
    const due = this.#rows.filter((row) => row.availableAt <= now && !skip.has(row.event.type));
    // Turns across owners per type, as PostgreSQL ranks them; rows another relay holds are ranked but not taken.
    const turns = new Map<string, number>();
    const ranked = due.map((row) => {
      const key = `${row.event.type} ${this.#ownerOf(row.event.run_id)}`;
      const turn = (turns.get(key) ?? 0) + 1;
      turns.set(key, turn);
      return { row, turn };
    });
    ranked.sort((a, b) => a.turn - b.turn || Number(a.row.id) - Number(b.row.id));
    const places = new Map<EventType, number>();
    const claimed = ranked
      .filter(({ row }) => {
        const place = (places.get(row.event.type) ?? 0) + 1;
        places.set(row.event.type, place);
        return place <= (options.room?.get(row.event.type) ?? limit);
      })
      .map(({ row }) => row)
      .filter((row) => !this.#claimed.has(row.id))
      .slice(0, limit)
      .sort((a, b) => Number(a.id) - Number(b.id));
    if (claimed.length === 0) return 0;
    for (const row of claimed) this.#claimed.add(row.id);
    try {
      const outcome = await publish(claimed.map((row) => ({ id: row.id, event: row.event, trace: row.trace, msgId: row.msgId })));
      const published = new Set(outcome.published);
      const postponed = new Set(outcome.postponed);
      const parked = new Set(outcome.parked);
      const later = this.#clock.now() + outcome.retryAfterMs;
      this.#rows = this.#rows
        .filter((row) => !published.has(row.id))
        .map((row) => (postponed.has(row.id) ? { ...row, availableAt: later } : parked.has(row.id) ? { ...row, availableAt: Infinity } : row));
      return claimed.length;
    } finally {
      for (const row of claimed) this.#claimed.delete(row.id);
    }
  }

  onCommitted(listener: () => void): Promise<() => Promise<void>> {
    // A listener of its own per call, so that one function registered twice unsubscribes once each.
    const own = () => listener();
    this.#listeners.add(own);
    return Promise.resolve(() => {
      this.#listeners.delete(own);
      return Promise.resolve();
    });
  }
}
