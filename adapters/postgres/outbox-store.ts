/**
 * The relay's side of the outbox (ports/outbox.port.ts). A batch is claimed in turns across users
 * (see the port) with `FOR UPDATE SKIP LOCKED`, so relays in several processes share the table without taking the same
 * rows; rows are deleted once published (the table stays small: it holds only what is in transit)
 * and postponed when they cannot be published yet. An insert notifies `aga_outbox` (a statement
 * trigger, delivered on commit), which wakes the relays at once instead of at their next poll.
 */
import type { DomainEvent } from '../../domain/campaigns/events.ts';
import type { OutboxStore, RelayClaim, RelayOutcome, StoredEvent } from '../../ports/outbox.port.ts';
import type { TraceCarrier } from '../../ports/tracing.port.ts';
import type { Sql } from './client.ts';

/** The channel the outbox trigger notifies (0008_outbox.sql). */
const CHANNEL = 'aga_outbox';

interface OutboxRow {
  id: string;
  msg_id: string;
  payload: DomainEvent;
  trace: TraceCarrier | null;
}

export class PostgresOutboxStore implements OutboxStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Events waiting in the outbox (parked ones included), for the backlog gauge: one count over a table that holds only what is in transit. */
  async backlog(): Promise<number> {
    const [row] = await this.#sql<{ n: number }[]>`select count(*)::int as n from outbox`;
    return row?.n ?? 0;
  }

  relay(limit: number, publish: (events: readonly StoredEvent[]) => Promise<RelayOutcome>, options: RelayClaim = {}): Promise<number> {
    const skip = [...(options.skipTypes ?? [])];
    const room = Object.fromEntries(options.room ?? []);
    return this.#sql.begin<number>(async (tx) => {
      // Turns: each user's events of a type are numbered oldest first, and the claim takes every
      // user's first turn before anyone's second. The ranking reads every due row; the table holds
      // only what is in transit, and a claim of 20,000 waiting rows takes a few milliseconds.
      // Rows another relay holds are ranked but skipped by the lock: that claim is smaller, never wrong.
      const rows = await tx<OutboxRow[]>`
        with due as (
          select o.id, o.event_type, coalesce(r.user_id::text, o.run_id::text) as owner
          from outbox o left join campaign_runs r on r.id = o.run_id
          where o.available_at <= now() ${skip.length === 0 ? tx`` : tx`and o.event_type <> all(${tx.array(skip)}::text[])`}
        ), turns as (
          select id, event_type, row_number() over (partition by event_type, owner order by id) as turn from due
        ), places as (
          select id, event_type, turn, row_number() over (partition by event_type order by turn, id) as place from turns
        )
        select o.id::text as id, o.msg_id, o.payload, o.trace
        from places p join outbox o on o.id = p.id
        where p.place <= coalesce((${tx.json(room)}::jsonb ->> p.event_type)::int, ${limit})
        order by p.turn, p.id
        limit ${limit}
        for update of o skip locked`;
      if (rows.length === 0) return 0;
      // Taken in turns, published oldest first (what a consumer of several types sees keeps the commit order).
      rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      const outcome = await publish(rows.map((row) => ({ id: row.id, event: row.payload, trace: row.trace, msgId: row.msg_id })));
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
