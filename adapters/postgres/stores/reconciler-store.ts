/**
 * The reconciler's reads (ports/reconciler-store.port.ts). Runs and leads are "stalled" when their
 * `updated_at` (moved by a trigger on every update) is older than the lease. A run with an event
 * still waiting in the outbox is not stalled: the relay has its work in hand (an event parked for
 * an operator does not count: it will never be published). After the broker lost its stream,
 * only a lead's (or run's) own event in the outbox keeps it from being re-driven.
 */
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import type { RunToExtract } from '../../../ports/extraction-store.port.ts';
import type { ReconcilerStore, Staleness, StuckLead } from '../../../ports/reconciler-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import type { Lanes } from '../changes.ts';
import type { Sql } from '../client.ts';
import { traced } from '../traced.ts';
import { toRunToExtract } from './extraction-store.ts';

/**
 * Runs whose leads are worked on: `personalizing`, or cancelled but not ended yet (its leads in
 * flight at the cancel are settled by deliveries, which a lost event would leave waiting). A
 * paused run's leads wait for its resume, which carries them on: they are not re-driven.
 */
function workedOn(sql: Sql) {
  return sql`(r.status = 'personalizing' or (r.status = 'cancelled' and r.completed_at is null))`;
}

/** The row of broker_epochs (0013_broker_epoch.sql) for the event stream. */
const EVENT_STREAM = 'events';

export class PostgresReconcilerStore implements ReconcilerStore {
  readonly #sql: Sql;
  readonly #lanes: Lanes;

  constructor(sql: Sql, lanes: Lanes) {
    this.#sql = sql;
    this.#lanes = lanes;
  }

  stalledExtractions(staleness: Staleness, limit: number): Promise<readonly RunToExtract[]> {
    return traced('stalledExtractions', {}, async () => {
      const rows = await this.#sql<{ id: string; campaign_id: string; user_id: string; demo: boolean }[]>`
        select r.id, r.campaign_id, r.user_id, r.demo
        from campaign_runs r
        where r.status in ('queued', 'extracting') and r.updated_at <= now() - make_interval(secs => ${staleness.leaseMs / 1000})
          ${staleness.outbox === 'own'
            ? this.#sql`and not exists (select 1 from outbox o where o.run_id = r.id and o.event_type = 'campaign.submitted' and o.available_at <> 'infinity')`
            : this.#runOutboxEmpty()}
        order by r.updated_at
        limit ${limit}`;
      return rows.map(toRunToExtract);
    });
  }

  /**
   * Only runs with no progress for the lease are examined: the leads of a run that is moving (say,
   * slowly, under a provider's rate limit) are waiting their turn, not lost. Within such a run, a
   * lead touched during the lease (an attempt, a save) is still being worked on.
   */
  stalledLeads(staleness: Staleness, statuses: readonly LeadStatus[], limit: number, after?: StuckLead): Promise<readonly StuckLead[]> {
    return traced('stalledLeads', {}, async () => {
      if (statuses.length === 0) return [];
      const lease = staleness.leaseMs / 1000;
      const rows = await this.#sql<{ id: string; run_id: string; status: LeadStatus }[]>`
        select l.id, l.run_id, l.status
        from campaign_runs r
        join leads l on l.run_id = r.id and l.counted_run_id is null
        where ${workedOn(this.#sql)}
          and r.updated_at <= now() - make_interval(secs => ${lease})
          and l.updated_at <= now() - make_interval(secs => ${lease})
          and l.status in ${this.#sql(statuses)}
          ${after === undefined ? this.#sql`` : this.#sql`and (l.run_id, l.id) > (${after.runId}::uuid, ${after.leadId}::uuid)`}
          ${staleness.outbox === 'own'
            ? this.#sql`and not exists (select 1 from outbox o where o.run_id = l.run_id and o.payload->>'lead_id' = l.id::text and o.available_at <> 'infinity')`
            : this.#runOutboxEmpty()}
        order by l.run_id, l.id
        limit ${limit}`;
      return rows.map((row) => ({ leadId: row.id, runId: row.run_id, status: row.status }));
    });
  }

  settledRuns(limit: number): Promise<readonly string[]> {
    return traced('settledRuns', {}, async () => {
      const rows = await this.#sql<{ id: string }[]>`
        select r.id
        from campaign_runs r
        where ${workedOn(this.#sql)}
          and not exists (select 1 from leads l where l.run_id = r.id and l.counted_run_id is null)
        order by r.updated_at
        limit ${limit}`;
      return rows.map((row) => row.id);
    });
  }

  async brokerEpoch(): Promise<string | null> {
    const [row] = await this.#sql<{ epoch: string }[]>`select epoch from broker_epochs where name = ${EVENT_STREAM}`;
    return row?.epoch ?? null;
  }

  recordBrokerEpoch(epoch: string): Change<void> {
    return this.#lanes.statement('recordBrokerEpoch', {}, async (tx) => {
      await tx`
        insert into broker_epochs (name, epoch) values (${EVENT_STREAM}, ${epoch})
        on conflict (name) do update set epoch = excluded.epoch, seen_at = now()`;
    });
  }

  #runOutboxEmpty() {
    return this.#sql`and not exists (select 1 from outbox o where o.run_id = r.id and o.available_at <> 'infinity')`;
  }
}
