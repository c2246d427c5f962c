/**
 * How the PostgreSQL stores describe their writes (`Change`, see ports/unit-of-work.port.ts) and
 * commit them with the events that follow: each change knows the transaction it runs in and calls
 * `emit` inside it, before the commit, with its result; the unit of work's `emit` stores the
 * events in the outbox. A change made by one of these stores can only be committed by
 * PostgresUnitOfWork.
 *
 * Most changes are one lead's statement (read its work, save a result, count an attempt). Those
 * run in the shared statement lane: together with the others that arrived meanwhile, in one
 * transaction per batch, pipelined on one connection (group commit, see group-commit.ts). Each
 * statement is guarded by the lead's run and status as on its own, so batching changes what each
 * sees no more than running it a moment later would; what it saves is one commit and a few round
 * trips per batch instead of one of each per statement.
 */
import type { Attributes } from '@opentelemetry/api';
import type postgres from 'postgres';
import type { Change } from '../../ports/unit-of-work.port.ts';
import type { Sql } from './client.ts';
import { GroupCommit } from './group-commit.ts';

/** Writes the events that follow a change's result, inside the change's transaction. */
export type Emit<R> = (tx: postgres.TransactionSql, result: R) => Promise<void>;

/** The no-op `emit` of a change committed without events. */
export const NO_EVENTS: Emit<unknown> = () => Promise.resolve();

export interface PgChange<R> extends Change<R> {
  /** Span attributes of the commit: ids and counts only. */
  readonly attributes: Attributes;
  /** Runs the write, calls `emit` with its result inside the same transaction, and commits. */
  readonly commit: (emit: Emit<R>) => Promise<R>;
}

/** A change of these stores. */
export function pgChange<R>(name: string, attributes: Attributes, commit: (emit: Emit<R>) => Promise<R>): Change<R> {
  const change: PgChange<R> = { name, attributes, commit };
  return change;
}

/** The change as these stores made it; throws for a change of another store (a wiring mistake). */
export function asPgChange<R>(change: Change<R>): PgChange<R> {
  if (typeof (change as Partial<PgChange<R>>).commit !== 'function') {
    throw new TypeError(`change ${change.name} was not made by a PostgreSQL store`);
  }
  return change as PgChange<R>;
}

/** `change`, then `then` once it committed (work that must not hold the change's locks). */
export function followedBy<R>(change: Change<R>, then: (result: R) => Promise<void>): Change<R> {
  const pg = asPgChange(change);
  return pgChange(pg.name, pg.attributes, async (emit) => {
    const result = await pg.commit(emit);
    await then(result);
    return result;
  });
}

/** One change's work inside a batch's transaction. */
type Statement<T> = (tx: postgres.TransactionSql) => Promise<T>;

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** The transactions the stores share: the statement lane, and a transaction of a change's own. */
export class Lanes {
  readonly #sql: Sql;
  readonly #statements = new GroupCommit<Statement<unknown>, Settled<unknown>>((statements) => this.#runStatements(statements));

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** A change whose statements run in the shared lane, batched with others (group commit). */
  statement<R>(name: string, attributes: Attributes, run: (tx: postgres.TransactionSql) => Promise<R>): Change<R> {
    return pgChange(name, attributes, async (emit) => {
      const settled = await this.#statements.submit(async (tx) => {
        const result = await run(tx);
        await emit(tx, result);
        return result;
      });
      if (!settled.ok) throw settled.error;
      return settled.value as R;
    });
  }

  /** A read in the shared lane: batched with the lane's writes, seeing what they committed before it. */
  async read<R>(run: (tx: postgres.TransactionSql) => Promise<R>): Promise<R> {
    const settled = await this.#statements.submit(run);
    if (!settled.ok) throw settled.error;
    return settled.value as R;
  }

  /** A change in a transaction of its own (several dependent statements, a lock order of its own). */
  transaction<R>(name: string, attributes: Attributes, run: (tx: postgres.TransactionSql) => Promise<R>): Change<R> {
    return pgChange(name, attributes, (emit) =>
      this.#sql.begin(async (tx) => {
        const result = await run(tx);
        await emit(tx, result);
        return result;
      }) as Promise<R>,
    );
  }

  /**
   * A statement that fails aborts the whole transaction: then each statement runs again on its own,
   * so that only the failing one fails (a lead whose data PostgreSQL rejects never holds up the
   * others). Re-running is sound: the rolled-back batch changed nothing. Every statement of the
   * batch (its outbox insert included) is settled before the transaction ends either way: a query
   * issued after the rollback would run outside it, and commit an event of a rolled-back change.
   */
  async #runStatements(statements: readonly Statement<unknown>[]): Promise<readonly Settled<unknown>[]> {
    if (statements.length === 1) return [await settle(this.#sql.begin((tx) => statements[0]!(tx)))];
    try {
      return await this.#sql.begin(async (tx) => {
        const settled = await Promise.all(statements.map((statement) => settle(statement(tx))));
        for (const outcome of settled) throwIfFailed(outcome);
        return settled;
      });
    } catch {
      return Promise.all(statements.map((statement) => settle(this.#sql.begin((tx) => statement(tx)))));
    }
  }
}

function settle<T>(work: Promise<T>): Promise<Settled<T>> {
  return work.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function throwIfFailed<T>(settled: Settled<T>): Settled<T> {
  if (!settled.ok) throw settled.error;
  return settled;
}
