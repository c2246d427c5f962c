/** The run a `run.completed` event is about, with its campaign's options (ports/run-reader.port.ts). */
import type { CompletedRun, RunReader } from '../../../ports/run-reader.port.ts';
import type { Sql } from '../client.ts';
import { traced } from '../traced.ts';

interface CompletedRunRow {
  id: string;
  campaign_id: string;
  user_id: string;
  status: 'completed' | 'failed' | 'cancelled';
  valid: number;
  personalized: number;
  needs_review: number;
  failed: number;
  skipped: number;
  suppressed: number;
  cancelled: number;
  cost_usd: string;
  completed_at: Date;
  options: Record<string, string>;
}

export class PostgresRunReader implements RunReader {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  completedRun(runId: string): Promise<CompletedRun | null> {
    return traced('completedRun', { run_id: runId }, async () => {
      const [row] = await this.#sql<CompletedRunRow[]>`
        select r.id, r.campaign_id, r.user_id, r.status, r.valid, r.personalized, r.needs_review, r.failed, r.skipped, r.suppressed, r.cancelled,
               r.cost_usd::numeric(14, 6)::text as cost_usd, r.completed_at, c.options
        from campaign_runs r
        join campaigns c on c.id = r.campaign_id
        where r.id = ${runId} and r.status in ('completed', 'failed', 'cancelled') and r.completed_at is not null`;
      if (row === undefined) return null;
      return {
        runId: row.id,
        campaignId: row.campaign_id,
        userId: row.user_id,
        status: row.status,
        counts: { valid: row.valid, personalized: row.personalized, needs_review: row.needs_review, failed: row.failed, skipped: row.skipped, suppressed: row.suppressed, cancelled: row.cancelled },
        costUsd: row.cost_usd,
        completedAt: row.completed_at.toISOString(),
        options: row.options,
      };
    });
  }
}
