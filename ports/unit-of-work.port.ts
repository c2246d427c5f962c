/**
 * How a state change and the events that follow from it become durable together: the
 * transactional outbox.
 *
 * Store ports describe their writes as `Change`s instead of running them. A handler decides:
 * it reads, calls what it must, and returns the change it wants and the events that follow from
 * the change's result (Watermill's "message in, messages out"). A `UnitOfWork` commits the change
 * and those events in one database transaction; a relay publishes the stored events to the
 * broker afterwards and again after any crash, each with its deterministic id. So no event implied
 * by a commit is ever lost, and none is published for a change that did not commit.
 */
import type { DomainEvent } from '../domain/campaigns/events.ts';
import type { TraceCarrier } from './tracing.port.ts';

/**
 * A write a store port describes; only a `UnitOfWork` of the same store applies it. `R` is what
 * the write reports, e.g. whether its guarded transition applied.
 */
export interface Change<R> {
  /** The store operation, for traces and logs, e.g. `saveResearch`. */
  readonly name: string;
  /** Never set: carries the result type. */
  readonly __result?: R;
}

/** An event to publish, in the trace of the code that committed it, or starting a trace of its own. */
export type Outgoing = DomainEvent | { readonly event: DomainEvent; readonly trace: TraceCarrier };

export interface UnitOfWork {
  /**
   * Applies `change` and stores the events `events` returns for its result, in one transaction;
   * resolves with the result once committed. `events` runs inside the transaction: keep it pure.
   * `redrive` (see `enqueue`) publishes the events under ids of their own: events that carry work
   * on again (a resumed run's leads) whose usual ids the broker may have seen within its
   * de-duplication window, and would drop as duplicates.
   */
  commit<R>(change: Change<R>, events?: (result: R) => readonly Outgoing[], options?: { readonly redrive?: string }): Promise<R>;
  /**
   * Stores events with no change of state: a re-drive of work whose events the broker lost.
   * `redrive` names a re-drive after the broker lost its whole stream: the events are published
   * under ids of their own (`<event id>@<redrive>`), because the new stream may have seen (and,
   * with no consumer yet, dropped) their usual ids, and would drop them again as duplicates.
   */
  enqueue(events: readonly Outgoing[], options?: { readonly redrive?: string }): Promise<void>;
}

/** What a handler returns: its change, the events that follow, and what to do once committed. */
export interface Decision {
  readonly change: Change<unknown>;
  readonly events: (result: unknown) => readonly Outgoing[];
  /** Best-effort work after the commit (e.g. waking a live progress stream); must not throw. */
  readonly after: (result: unknown) => void;
}

/**
 * A decision: `change`, with the events that follow from its result and an optional step after
 * the commit. (The result type is erased so that decisions of different changes share one type;
 * sound because both functions are only ever called with this change's result.)
 */
export function decide<R>(
  change: Change<R>,
  then: { readonly events?: (result: R) => readonly Outgoing[]; readonly after?: (result: R) => void } = {},
): Decision {
  return {
    change,
    events: (then.events ?? noEvents) as (result: unknown) => readonly Outgoing[],
    after: (then.after ?? nothing) as (result: unknown) => void,
  };
}

/** The event an `Outgoing` carries. */
export function eventOf(outgoing: Outgoing): DomainEvent {
  return 'event' in outgoing ? outgoing.event : outgoing;
}

function noEvents(): readonly Outgoing[] {
  return [];
}

function nothing(): void {}
