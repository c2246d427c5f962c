/**
 * The reconciler's reads (ports/reconciler-store.port.ts). Runs and leads are "stalled" when their
 * `updated_at` (moved by a trigger on every update) is older than the lease. A run with an event
 * still waiting in the outbox is never stalled: the relay has its work in hand (an event parked for
 * an operator does not count: it will never be published).
 */
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import type { RunToExtract } from '../../../ports/extraction-store.port.ts';
import type { ReconcilerStore, StuckLead } from '../../../ports/reconciler-store.port.ts';
import type { Sql } from '../client.ts';
import { traced } from '../traced.ts';
import { toRunToExtract } from './extraction-store.ts';

export class PostgresReconcilerStore implements ReconcilerStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  stalledExtractions(leaseMs: number, limit: number): Promise<readonly RunToExtract[]> {
    return traced('stalledExtractions', {}, async () => {
      const rows = await this.#sql<{ id: string; campaign_id: string; user_id: string; demo: boolean }[]>`
        select r.id, r.campaign_id, r.user_id, r.demo
        from campaign_runs r
        where r.status in ('queued', 'extracting') and r.updated_at < now() - make_interval(secs => ${leaseMs / 1000})
          and not exists (select 1 from outbox o where o.run_id = r.id and o.available_at <> 'infinity')
        order by r.updated_at
        limit ${limit}`;
      return rows.map(toRunToExtract);
    });
  }

  /**
   * Only runs with no progress for the lease are examined: the leads of a run that is moving (say,
   * slowly, under a provider's rate limit) are waiting their turn in the broker, not lost. Within
   * such a run, a lead touched during the lease (an attempt, a save) is still being worked on.
   */
  stalledLeads(leaseMs: number, statuses: readonly LeadStatus[], limit: number): Promise<readonly StuckLead[]> {
    return traced('stalledLeads', {}, async () => {
      if (statuses.length === 0) return [];
      const rows = await this.#sql<{ id: string; run_id: string; status: LeadStatus }[]>`
        select l.id, l.run_id, l.status
        from campaign_runs r
        join leads l on l.run_id = r.id and l.counted_run_id is null
        where r.status = 'personalizing'
          and r.updated_at < now() - make_interval(secs => ${leaseMs / 1000})
          and l.updated_at < now() - make_interval(secs => ${leaseMs / 1000})
          and l.status in ${this.#sql(statuses)}
          and not exists (select 1 from outbox o where o.run_id = r.id and o.available_at <> 'infinity')
        order by r.updated_at, l.id
        limit ${limit}`;
      return rows.map((row) => ({ leadId: row.id, runId: row.run_id, status: row.status }));
    });
  }

  settledRuns(limit: number): Promise<readonly string[]> {
    return traced('settledRuns', {}, async () => {
      const rows = await this.#sql<{ id: string }[]>`
        select r.id
        from campaign_runs r
        where r.status = 'personalizing'
          and not exists (select 1 from leads l where l.run_id = r.id and l.counted_run_id is null)
        order by r.updated_at
        limit ${limit}`;
      return rows.map((row) => row.id);
    });
  }
}
