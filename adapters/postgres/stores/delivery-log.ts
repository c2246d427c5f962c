/** A run's deliveries to the outside world, one row per run and consumer (ports/delivery-log.port.ts). */
import type { DeliveryLog, DeliveryRecord } from '../../../ports/delivery-log.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import type { Lanes } from '../changes.ts';
import type { Sql } from '../client.ts';
import { traced } from '../traced.ts';

interface DeliveryRow {
  attempts: number;
  last_error: string | null;
  delivered_at: Date | null;
  failed_at: Date | null;
}

export class PostgresDeliveryLog implements DeliveryLog {
  readonly #sql: Sql;
  readonly #lanes: Lanes;

  constructor(sql: Sql, lanes: Lanes) {
    this.#sql = sql;
    this.#lanes = lanes;
  }

  delivery(runId: string, consumer: string): Promise<DeliveryRecord | null> {
    return traced('delivery', { run_id: runId, 'aga.consumer': consumer }, async () => {
      const [row] = await this.#sql<DeliveryRow[]>`
        select attempts, last_error, delivered_at, failed_at from run_deliveries where run_id = ${runId} and consumer = ${consumer}`;
      return row === undefined ? null : toRecord(row);
    });
  }

  recordAttempt(run: { readonly runId: string; readonly userId: string }, consumer: string, error: string | null): Change<void> {
    return this.#lanes.statement('recordDeliveryAttempt', { run_id: run.runId, 'aga.consumer': consumer }, async (tx) => {
      await tx`
        insert into run_deliveries as d (run_id, user_id, consumer, attempts, last_error, delivered_at)
        values (${run.runId}, ${run.userId}, ${consumer}, 1, ${error}, ${error === null ? tx`now()` : null})
        on conflict (run_id, consumer) do update set
          attempts = d.attempts + 1,
          last_error = excluded.last_error,
          delivered_at = coalesce(d.delivered_at, excluded.delivered_at)`;
    });
  }

  recordGivenUp(run: { readonly runId: string; readonly userId: string }, consumer: string, reason: string): Change<void> {
    return this.#lanes.statement('recordDeliveryGivenUp', { run_id: run.runId, 'aga.consumer': consumer }, async (tx) => {
      await tx`
        insert into run_deliveries as d (run_id, user_id, consumer, last_error, failed_at)
        values (${run.runId}, ${run.userId}, ${consumer}, ${reason}, now())
        on conflict (run_id, consumer) do update set last_error = excluded.last_error, failed_at = coalesce(d.failed_at, now())
        where d.delivered_at is null`;
    });
  }
}

function toRecord(row: DeliveryRow): DeliveryRecord {
  return {
    attempts: row.attempts,
    lastError: row.last_error,
    deliveredAt: row.delivered_at?.toISOString() ?? null,
    failedAt: row.failed_at?.toISOString() ?? null,
  };
}
