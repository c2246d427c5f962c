/**
 * The relay's side of the outbox (ports/outbox.port.ts). A batch is claimed with
 * `FOR UPDATE SKIP LOCKED`, so relays in several processes share the table without taking the same
 * rows; rows are deleted once published (the table stays small: it holds only what is in transit)
 * and postponed when they cannot be published yet. An insert notifies `aga_outbox` (a statement
 * trigger, delivered on commit), which wakes the relays at once instead of at their next poll.
 */
import type { DomainEvent, EventType } from '../../domain/campaigns/events.ts';
import type { OutboxStore, RelayOutcome, StoredEvent } from '../../ports/outbox.port.ts';
import type { TraceCarrier } from '../../ports/tracing.port.ts';
import type { Sql } from './client.ts';

/** The channel the outbox trigger notifies (0008_outbox.sql). */
const CHANNEL = 'aga_outbox';

interface OutboxRow {
  id: string;
  payload: DomainEvent;
  trace: TraceCarrier | null;
}

export class PostgresOutboxStore implements OutboxStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  relay(limit: number, publish: (events: readonly StoredEvent[]) => Promise<RelayOutcome>, options: { readonly skipTypes?: readonly EventType[] } = {}): Promise<number> {
    const skip = [...(options.skipTypes ?? [])];
    return this.#sql.begin<number>(async (tx) => {
      const rows = await tx<OutboxRow[]>`
        select id::text as id, payload, trace from outbox
        where available_at <= now() ${skip.length === 0 ? tx`` : tx`and event_type <> all(${tx.array(skip)}::text[])`}
        order by id
        limit ${limit}
        for update skip locked`;
      if (rows.length === 0) return 0;
      const outcome = await publish(rows.map((row) => ({ id: row.id, event: row.payload, trace: row.trace })));
      const work: Promise<unknown>[] = [];
      if (outcome.published.length > 0) work.push(tx`delete from outbox where id = any(${tx.array([...outcome.published])}::bigint[])`);
      if (outcome.postponed.length > 0) {
        work.push(tx`
          update outbox set available_at = now() + make_interval(secs => ${outcome.retryAfterMs / 1000})
          where id = any(${tx.array([...outcome.postponed])}::bigint[])`);
      }
      if (outcome.parked.length > 0) {
        work.push(tx`update outbox set available_at = 'infinity' where id = any(${tx.array([...outcome.parked])}::bigint[])`);
      }
      await Promise.all(work);
      return rows.length;
    });
  }

  async onCommitted(listener: () => void): Promise<() => Promise<void>> {
    const subscription = await this.#sql.listen(CHANNEL, () => listener());
    return () => subscription.unlisten();
  }
}
