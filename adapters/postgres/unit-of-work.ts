/**
 * The transactional outbox on PostgreSQL: a change and the events that follow from it commit in
 * one transaction (see changes.ts), the events as rows of `outbox` that a relay publishes later
 * (outbox-store.ts). Each row keeps the trace context it was committed in, so the published
 * event continues the trace of the handler that decided it, however late it is published.
 */
import { context, propagation, type Context } from '@opentelemetry/api';
import type postgres from 'postgres';
import { eventId, type DomainEvent } from '../../domain/campaigns/events.ts';
import type { TraceCarrier } from '../../ports/tracing.port.ts';
import type { Change, Outgoing, UnitOfWork } from '../../ports/unit-of-work.port.ts';
import { asPgChange, NO_EVENTS, type Emit } from './changes.ts';
import type { Sql } from './client.ts';
import { traced } from './traced.ts';

export class PostgresUnitOfWork implements UnitOfWork {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  commit<R>(change: Change<R>, events?: (result: R) => readonly Outgoing[], options: { readonly redrive?: string } = {}): Promise<R> {
    const pg = asPgChange(change);
    // The caller's context: group commit runs the batch in whichever caller started it, so the
    // events are decided, and their trace captured, in the context of the code that committed them.
    const caller = context.active();
    const emit: Emit<R> =
      events === undefined
        ? NO_EVENTS
        : async (tx, result) => {
            const outgoing = context.with(caller, () => events(result));
            await insertOutbox(tx, outgoing, caller, options.redrive);
          };
    return traced(change.name, pg.attributes, () => pg.commit(emit));
  }

  async enqueue(events: readonly Outgoing[], options: { readonly redrive?: string } = {}): Promise<void> {
    if (events.length === 0) return;
    const caller = context.active();
    await traced('enqueue', { 'messaging.batch.message_count': events.length }, () =>
      this.#sql.begin((tx) => insertOutbox(tx, events, caller, options.redrive)),
    );
  }
}

interface OutboxRow {
  readonly event: DomainEvent;
  readonly trace: TraceCarrier | null;
  readonly msgId: string;
}

/** The rows waiting to be inserted in a transaction, and the insert they will go in. */
interface PendingInsert {
  readonly rows: OutboxRow[];
  readonly done: Promise<void>;
}

const pending = new WeakMap<postgres.TransactionSql, PendingInsert>();

/**
 * Stores the events as outbox rows. The statements of a batch's transaction (changes.ts) emit at
 * about the same time: the rows they emit before the next turn of the event loop go in one
 * insert, instead of one insert per change.
 */
async function insertOutbox(tx: postgres.TransactionSql, outgoing: readonly Outgoing[], caller: Context, redrive?: string): Promise<void> {
  if (outgoing.length === 0) return;
  const rows = outgoing.map((item): OutboxRow => {
    const [event, trace] = 'event' in item ? [item.event, item.trace] : [item, carrierOf(caller)];
    return { event, trace, msgId: redrive === undefined ? eventId(event) : `${eventId(event)}@${redrive}` };
  });
  const waiting = pending.get(tx);
  if (waiting !== undefined) {
    waiting.rows.push(...rows);
    return waiting.done;
  }
  const batch: OutboxRow[] = [...rows];
  const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
    pending.delete(tx);
    return insertRows(tx, batch);
  });
  pending.set(tx, { rows: batch, done });
  return done;
}

async function insertRows(tx: postgres.TransactionSql, rows: readonly OutboxRow[]): Promise<void> {
  await tx`
    insert into outbox (event_type, msg_id, run_id, payload, trace)
    select * from unnest(
      ${tx.array(rows.map(({ event }) => event.type))}::text[],
      ${tx.array(rows.map(({ msgId }) => msgId))}::text[],
      ${tx.array(rows.map(({ event }) => event.run_id))}::uuid[],
      ${tx.array(rows.map(({ event }) => JSON.stringify(event)))}::json[],
      ${tx.array(rows.map(({ trace }) => (trace === null ? null : JSON.stringify(trace))))}::json[]
    )`;
}

/** The W3C trace context of `ctx` (null when it has no span). */
function carrierOf(ctx: Context): TraceCarrier | null {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length === 0 ? null : carrier;
}
