/**
 * An owner's cancel, pause and resume of a run (ports/run-control-store.port.ts), each one
 * transaction of its own that locks the run's row first (`for update`), scoped by the user's id:
 * another user's run reads like one that does not exist.
 *
 * Lock order: the run, then its leads. What else holds a run's row while it waits for a lead of
 * that run is rare (a lane transaction recording the cost of a counted lead while it also saves
 * another); PostgreSQL then aborts one of the two, and a cancel is retried (retryOnDeadlock).
 */
import type postgres from 'postgres';
import {
  CANCELLED_OUTCOME,
  controlRun,
  FINAL_LEAD_STATUSES,
  RUN_CANCELLED_REASON,
  type LeadStatus,
  type RunControlAction,
  type RunStatus,
} from '../../../domain/campaigns/run.ts';
import { NO_PIPELINE_METRICS, userClassOf, type PipelineMetrics, type UserClass } from '../../../ports/metrics.port.ts';
import type { RunCompletion } from '../../../ports/projection-store.port.ts';
import type { StuckLead } from '../../../ports/reconciler-store.port.ts';
import type { RunControlOutcome, RunControlStore } from '../../../ports/run-control-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import { followedBy, pgChange } from '../changes.ts';
import type { Sql } from '../client.ts';
import { isUuid, retryOnDeadlock } from '../sql.ts';

interface LockedRun {
  id: string;
  campaign_id: string;
  user_id: string;
  status: RunStatus;
  /** Its file was read to the end (extraction recorded the import report). */
  extracted: boolean;
}

/** The run, locked, and what the action does to it; `run` is null unless the action applies. */
type Verdict = { readonly outcome: RunControlOutcome; readonly run: LockedRun | null; readonly to: RunStatus | null };

export class PostgresRunControlStore implements RunControlStore {
  readonly #sql: Sql;

  readonly #metrics: PipelineMetrics;

  /** `metrics` records the leads a cancel settles and the run it ends, once it committed. */
  constructor(sql: Sql, metrics: PipelineMetrics = NO_PIPELINE_METRICS) {
    this.#sql = sql;
    this.#metrics = metrics;
  }

  cancelRun(userId: string, runId: string): Change<{ readonly outcome: RunControlOutcome; readonly completion: RunCompletion | null }> {
    // What the committed cancel settled, for the metrics.
    let settled = { leads: 0, userClass: 'standard' as UserClass, ageSeconds: 0 };
    const change = this.#transaction('cancelRun', runId, async (tx) => {
      settled = { leads: 0, userClass: 'standard', ageSeconds: 0 };
      const { outcome, run } = await verdictOf(tx, 'cancel', userId, runId);
      if (run === null) return { outcome, completion: null };
      await tx`update campaign_runs set status = 'cancelled', cancelled_at = now(), paused_at = null where id = ${run.id}`;
      // Every lead not settled and with no call in flight (no live claim): a call's claim is taken
      // before its last check, so a lead whose call may still go out has one and is left to its
      // delivery, which finds the run cancelled (no call) or saves the call's result.
      const [counted] = await tx<{ leads: number; sandbox: boolean; demo: boolean; age_s: number }[]>`
        with cancelled as (
          update leads l set status = 'cancelled', error = ${RUN_CANCELLED_REASON}, settled_at = clock_timestamp(), counted_run_id = l.run_id
          where l.run_id = ${run.id} and l.counted_run_id is null and l.status not in ${tx(FINAL_LEAD_STATUSES)}
            and not exists (
              select 1 from paid_call_claims c
              where c.lead_id = l.id and c.run_id = l.run_id and c.owner is not null and c.expires_at > clock_timestamp())
          returning l.cost_usd
        )
        update campaign_runs set
          cancelled = cancelled + (select count(*)::int from cancelled),
          cost_usd = cost_usd + (select coalesce(sum(cost_usd), 0) from cancelled),
          -- Cancelled while its file was read: its valid leads are the ones it stored (the
          -- extraction stores nothing more: it share-locks the run before each batch), and its
          -- suppressed ones those stored suppressed (counted when its file is read to the end, which
          -- it will not be), so that valid = skipped + suppressed + processed + cancelled.
          valid = case when ${run.extracted} then valid else (select count(*)::int from leads where run_id = ${run.id}) end,
          suppressed = case when ${run.extracted} then suppressed
                            else (select count(*)::int from leads where run_id = ${run.id} and status = 'suppressed') end
        where id = ${run.id}
        returning (select count(*)::int from cancelled) as leads, sandbox, demo, extract(epoch from now() - created_at)::float8 as age_s`;
      if (counted !== undefined) settled = { leads: counted.leads, userClass: userClassOf(counted), ageSeconds: Number(counted.age_s) };
      const open = await tx`select 1 from leads where run_id = ${run.id} and counted_run_id is null limit 1`;
      if (open.length > 0) return { outcome, completion: null };
      await tx`update campaign_runs set completed_at = now() where id = ${run.id}`;
      return { outcome, completion: { runId: run.id, campaignId: run.campaign_id, userId: run.user_id, outcome: CANCELLED_OUTCOME } };
    });
    return followedBy(change, (result) => {
      this.#metrics.leadsSettled('cancelled', settled.userClass, settled.leads);
      if (result.completion !== null) this.#metrics.runCompleted(result.completion.outcome.status, settled.userClass, settled.ageSeconds);
      return Promise.resolve();
    });
  }

  pauseRun(userId: string, runId: string): Change<RunControlOutcome> {
    return this.#transaction('pauseRun', runId, async (tx) => {
      const { outcome, run } = await verdictOf(tx, 'pause', userId, runId);
      if (run !== null) await tx`update campaign_runs set status = 'paused', paused_at = now() where id = ${run.id}`;
      return outcome;
    });
  }

  resumeRun(userId: string, runId: string): Change<{ readonly outcome: RunControlOutcome; readonly leads: readonly StuckLead[] }> {
    return this.#transaction('resumeRun', runId, async (tx) => {
      const { outcome, run, to } = await verdictOf(tx, 'resume', userId, runId);
      if (run === null || to === null) return { outcome, leads: [] };
      await tx`update campaign_runs set status = ${to}, paused_at = null where id = ${run.id}`;
      const rows = await tx<{ id: string; status: LeadStatus }[]>`
        select id, status from leads
        where run_id = ${run.id} and counted_run_id is null and status not in ${tx(FINAL_LEAD_STATUSES)}
        order by row_number, id`;
      return { outcome, leads: rows.map((row) => ({ leadId: row.id, runId: run.id, status: row.status })) };
    });
  }

  /** A change in a transaction of its own, retried when PostgreSQL aborts it to break a deadlock. */
  #transaction<R>(name: string, runId: string, work: (tx: postgres.TransactionSql) => Promise<R>): Change<R> {
    return pgChange(name, isUuid(runId) ? { run_id: runId } : {}, (emit) =>
      retryOnDeadlock(
        () =>
          this.#sql.begin(async (tx) => {
            const result = await work(tx);
            await emit(tx, result);
            return result;
          }) as Promise<R>,
      ),
    );
  }
}

/** The user's run, locked, and what `action` does to it. */
async function verdictOf(tx: postgres.TransactionSql, action: RunControlAction, userId: string, runId: string): Promise<Verdict> {
  if (!isUuid(userId) || !isUuid(runId)) return { outcome: { kind: 'not_found' }, run: null, to: null };
  const [run] = await tx<LockedRun[]>`
    select id, campaign_id, user_id, status, import_report is not null as extracted
    from campaign_runs where id = ${runId} and user_id = ${userId}
    for update`;
  if (run === undefined) return { outcome: { kind: 'not_found' }, run: null, to: null };
  const verdict = controlRun(action, run.status, run.extracted);
  switch (verdict.kind) {
    case 'apply':
      return { outcome: { kind: 'applied', from: run.status, status: verdict.to }, run, to: verdict.to };
    case 'unchanged':
      return { outcome: { kind: 'unchanged', status: run.status }, run: null, to: null };
    case 'refused':
      return { outcome: { kind: 'refused', status: run.status, reason: verdict.reason }, run: null, to: null };
  }
}
