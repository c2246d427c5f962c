/**
 * Test double (never used in production code): the transactional outbox in memory, the
 * counterpart of adapters/postgres/unit-of-work.ts.
 *
 * The in-memory stores describe their writes as `FakeChange`s: a `Change` carrying an `apply()`
 * closure over the store's state and the store's `atomically` (all or nothing). `FakeUnitOfWork`
 * commits one by applying it and the events that follow from its result together: if the change or
 * its `events` function throws, the store is left as it was and no event is stored. The events go
 * to an `InMemoryOutbox`, which a test inspects (`outbox.events()`) or relays (it is an
 * `OutboxStore`). Like the PostgreSQL unit of work, it refuses a change some other store made.
 */
import { eventOf, type Change, type Decision, type Outgoing, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import type { DomainEvent } from '../../../domain/campaigns/events.ts';
import { InMemoryOutbox } from './outbox.ts';

/** A change of an in-memory store. */
export interface FakeChange<R> extends Change<R> {
  /** Makes the write on the store's state and reports its result. */
  readonly apply: () => R;
  /** Runs `work` on the store's state all or nothing: when it throws, the state is restored. */
  readonly atomically: <T>(work: () => T) => T;
}

/** A change applied by `apply`, on a state that `atomically` can roll back (default: nothing to roll back). */
export function fakeChange<R>(name: string, apply: () => R, atomically: <T>(work: () => T) => T = (work) => work()): Change<R> {
  const change: FakeChange<R> = { name, apply, atomically };
  return change;
}

/** The change as an in-memory store made it; throws for any other (a wiring mistake, as in production). */
export function asFakeChange<R>(change: Change<R>): FakeChange<R> {
  const candidate = change as Partial<FakeChange<R>>;
  if (typeof candidate.apply !== 'function' || typeof candidate.atomically !== 'function') {
    throw new TypeError(`change ${change.name} was not made by an in-memory store`);
  }
  return change as FakeChange<R>;
}

/** One commit the unit of work made: the change's name, its result and the events stored with it. */
export interface CommitRecord {
  readonly name: string;
  readonly result: unknown;
  readonly events: readonly DomainEvent[];
}

export class FakeUnitOfWork implements UnitOfWork {
  readonly outbox: InMemoryOutbox;
  readonly #commits: CommitRecord[] = [];
  #failure: ((name: string) => Error | undefined) | undefined;

  constructor(outbox: InMemoryOutbox = new InMemoryOutbox()) {
    this.outbox = outbox;
  }

  /** Every successful commit, in order (`enqueue` included, under the name `enqueue`). */
  get commits(): readonly CommitRecord[] {
    return this.#commits;
  }

  /** The results of the successful commits of changes named `name`, in order. */
  resultsOf(name: string): unknown[] {
    return this.#commits.filter((commit) => commit.name === name).map((commit) => commit.result);
  }

  /**
   * Makes commits fail like a database that is down or refuses them: before each commit, `failure`
   * gets the change's name (`enqueue` for an enqueue) and returns the error to reject with, or
   * undefined to let it through. Nothing of a failed commit is applied.
   */
  failCommits(failure: ((name: string) => Error | undefined) | undefined): void {
    this.#failure = failure;
  }

  async commit<R>(change: Change<R>, events?: (result: R) => readonly Outgoing[], options: { readonly redrive?: string } = {}): Promise<R> {
    const fake = asFakeChange(change);
    // Asynchronous like a database: whatever else is in flight may run before this commit.
    await Promise.resolve();
    this.#failIfAsked(change.name);
    let outgoing: readonly Outgoing[] = [];
    const result = fake.atomically(() => {
      const value = fake.apply();
      outgoing = events?.(value) ?? [];
      return value;
    });
    this.outbox.append(outgoing, options.redrive);
    this.#commits.push({ name: change.name, result, events: outgoing.map(eventOf) });
    return result;
  }

  async enqueue(events: readonly Outgoing[], options: { readonly redrive?: string } = {}): Promise<void> {
    await Promise.resolve();
    this.#failIfAsked('enqueue');
    this.outbox.append(events, options.redrive);
    this.#commits.push({ name: 'enqueue', result: undefined, events: events.map(eventOf) });
  }

  #failIfAsked(name: string): void {
    const error = this.#failure?.(name);
    if (error !== undefined) throw error;
  }
}

/**
 * Commits a handler's decision as the kernel does (src/app/kernel/assemble.ts): its change with its
 * events, then its `after`. Resolves with the change's result, or `undefined` for no decision.
 */
export async function commitDecision(uow: UnitOfWork, decision: Decision | null): Promise<unknown> {
  if (decision === null) return undefined;
  const result = await uow.commit(decision.change, decision.events);
  decision.after(result);
  return result;
}
