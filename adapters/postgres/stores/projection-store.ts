/**
 * The KPI projection's writes (ports/projection-store.port.ts), each grouped across leads (group
 * commit, see group-commit.ts): the counts that arrive while one batch runs go together as the next
 * batch, in one statement; the completion checks likewise, in one transaction. A run's row, its
 * campaign's and its owner's KPI row are hot rows every count locks until it commits: one
 * transaction per lead serialises on those locks and a commit each, one per batch does not.
 */
import type postgres from 'postgres';
import { CANCELLED_OUTCOME, COUNTING_RUN_STATUSES, outcomeOf, PROCESSED_LEAD_STATUSES, type KpiRates, type RunStatus } from '../../../domain/campaigns/run.ts';
import { NO_PIPELINE_METRICS, userClassOf, type LeadOutcome, type PipelineMetrics } from '../../../ports/metrics.port.ts';
import type { ProjectionStore, RunCompletion } from '../../../ports/projection-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import { pgChange, type Emit } from '../changes.ts';
import type { Sql } from '../client.ts';
import { GroupCommit } from '../group-commit.ts';
import { retryOnDeadlock } from '../sql.ts';

interface CountCall {
  readonly leadId: string;
  readonly runId: string;
  readonly rates: KpiRates;
  readonly emit: Emit<boolean>;
}

interface CompletionCall {
  readonly runId: string;
  readonly emit: Emit<RunCompletion | null>;
}

/** A lead the count statement counted, as the metrics need it. */
interface CountedRow {
  id: string;
  status: LeadOutcome;
  sandbox: boolean | null;
  demo: boolean | null;
}

interface RunRow {
  sandbox: boolean;
  demo: boolean;
  age_s: number;
  id: string;
  campaign_id: string;
  user_id: string;
  status: RunStatus;
  valid: number;
  skipped: number;
  personalized: number;
  needs_review: number;
  failed: number;
  suppressed: number;
}

export class PostgresProjectionStore implements ProjectionStore {
  readonly #sql: Sql;
  readonly #counts = new GroupCommit<CountCall, boolean>((calls) => this.#countBatch(calls));
  readonly #completions = new GroupCommit<CompletionCall, RunCompletion | null>((calls) => this.#completeBatch(calls));

  readonly #metrics: PipelineMetrics;

  /** `metrics` records each lead as it is counted and each run as it ends, once their commit is done. */
  constructor(sql: Sql, metrics: PipelineMetrics = NO_PIPELINE_METRICS) {
    this.#sql = sql;
    this.#metrics = metrics;
  }

  /**
   * Marking the lead counted comes first and is the guard: only the statement that flips
   * `counted_run_id` increments anything, and the leads are locked before the run, campaign and
   * metrics rows. Rates travel as decimal strings so numeric arithmetic stays exact.
   */
  countOutcome(leadId: string, runId: string, rates: KpiRates): Change<boolean> {
    return pgChange('countOutcome', { run_id: runId, lead_id: leadId }, (emit) => this.#counts.submit({ leadId, runId, rates, emit }));
  }

  /**
   * Settled means no lead of the run is left uncounted. That, rather than comparing the counters
   * with `valid`, is the test: a later run of the campaign may take over a lead this run never
   * counted, and this run must still end. The run row is locked first, and a projection updates it
   * in the statement that counts, so the check sees every count committed before it.
   */
  completeIfSettled(runId: string): Change<RunCompletion | null> {
    return pgChange('completeIfSettled', { run_id: runId }, (emit) => this.#completions.submit({ runId, emit }));
  }

  /**
   * Counts a batch of settled leads in one statement: the leads are marked counted, and the run,
   * campaign and KPI rows each get one update with the batch's sums. A lead is counted when it is
   * final for that run and not counted yet; a lead repeated in the batch (two deliveries of one
   * event) is counted once, for its first caller. Every row this statement updates is locked until
   * it commits, in an order PostgreSQL picks; two processes' batches may deadlock on them, and
   * PostgreSQL then aborts one, which is retried. A lead of a run that has ended is not counted.
   * A lead of a sandbox run counts in its run and campaign, never in its owner's KPIs.
   */
  async #countBatch(calls: readonly CountCall[]): Promise<readonly boolean[]> {
    let countedRows: readonly CountedRow[] = [];
    const results = await retryOnDeadlock(() =>
      this.#sql.begin(async (tx) => {
        const rows = await countStatement(tx, calls);
        countedRows = rows;
        const counted = new Set(rows.map((row) => row.id));
        // The first caller of a lead counted it; a repeat in the same batch finds it counted.
        const results = calls.map((call) => counted.delete(call.leadId));
        await settleAll(calls.map((call, index) => call.emit(tx, results[index]!)));
        return results;
      }) as Promise<readonly boolean[]>,
    );
    // Committed: each lead is recorded once, as it is counted once.
    for (const row of countedRows) this.#metrics.leadsSettled(row.status, userClassOf(row));
    return results;
  }

  /**
   * The completion check for a batch of runs, each run locked in id order. A `personalizing` run
   * with no uncounted lead ends with `outcomeOf`; a `cancelled` one that has not ended yet ends
   * cancelled once the last of its leads in flight at the cancel is counted.
   */
  async #completeBatch(calls: readonly CompletionCall[]): Promise<readonly (RunCompletion | null)[]> {
    const unique = [...new Set(calls.map((call) => call.runId))].sort();
    const durations = new Map<string, Pick<RunRow, 'sandbox' | 'demo' | 'age_s'>>();
    const results = await retryOnDeadlock(() =>
      this.#sql.begin(async (tx) => {
        durations.clear();
        const runs = await tx<RunRow[]>`
          select id, campaign_id, user_id, status, valid, skipped, personalized, needs_review, failed, suppressed,
                 sandbox, demo, extract(epoch from now() - created_at)::float8 as age_s
          from campaign_runs
          where id = any(${tx.array(unique)}::uuid[])
            and (status = 'personalizing' or (status = 'cancelled' and completed_at is null))
          order by id
          for update`;
        const ended = new Map<string, RunCompletion>();
        for (const run of runs) {
          const open = await tx`select 1 from leads where run_id = ${run.id} and counted_run_id is null limit 1`;
          if (open.length > 0) continue;
          const outcome = run.status === 'cancelled' ? CANCELLED_OUTCOME : outcomeOf(run);
          await tx`
            update campaign_runs set status = ${outcome.status}, error_message = ${outcome.errorMessage}, completed_at = now()
            where id = ${run.id}`;
          ended.set(run.id, { runId: run.id, campaignId: run.campaign_id, userId: run.user_id, outcome });
          durations.set(run.id, run);
        }
        // The run ended once: only its first caller gets the completion (and its events).
        const results = calls.map((call) => {
          const completion = ended.get(call.runId) ?? null;
          ended.delete(call.runId);
          return completion;
        });
        await settleAll(calls.map((call, index) => call.emit(tx, results[index]!)));
        return results;
      }) as Promise<readonly (RunCompletion | null)[]>,
    );
    for (const completion of results) {
      const run = completion === null ? undefined : durations.get(completion.runId);
      if (completion !== null && run !== undefined) this.#metrics.runCompleted(completion.outcome.status, userClassOf(run), Number(run.age_s));
    }
    return results;
  }
}

/** Waits for every emit before failing with the first error: nothing may run after the rollback. */
async function settleAll(work: readonly Promise<void>[]): Promise<void> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

function countStatement(tx: postgres.TransactionSql, calls: readonly CountCall[]) {
  return tx<CountedRow[]>`
    with input as (
      select * from unnest(
        ${tx.array(calls.map((call) => call.leadId))}::uuid[],
        ${tx.array(calls.map((call) => call.runId))}::uuid[],
        ${tx.array(calls.map((call) => String(call.rates.hoursPerLead)))}::numeric[],
        ${tx.array(calls.map((call) => String(call.rates.moneyPerLead)))}::numeric[]
      ) as t(lead_id, run_id, hours, money)
    ), counted as (
      update leads l set counted_run_id = l.run_id
      from input i
      -- A suppressed lead was counted (into the run's suppressed leads) when it was suppressed, a
      -- cancelled one (into its cancelled leads) when it was cancelled: neither is processed.
      where l.id = i.lead_id and l.run_id = i.run_id and l.status in ${tx(PROCESSED_LEAD_STATUSES)}
        and l.counted_run_id is null
        -- A failed run counts no more leads: what it left unsettled ends failed with the run-ended
        -- reason, and neither its counters nor the KPIs take it. A paused run counts the calls in
        -- flight when it paused, a cancelled one those in flight when it was cancelled.
        and exists (select 1 from campaign_runs a where a.id = l.run_id and a.status in ${tx(COUNTING_RUN_STATUSES)})
      returning l.id, l.run_id, l.status, l.campaign_id, l.user_id, l.cost_usd, l.research_cached, i.hours, i.money,
        (select a.sandbox from campaign_runs a where a.id = l.run_id) as sandbox,
        (select a.demo from campaign_runs a where a.id = l.run_id) as demo
    ), by_run as (
      update campaign_runs r
      set processed = r.processed + c.n, personalized = r.personalized + c.personalized,
          needs_review = r.needs_review + c.needs_review, failed = r.failed + c.failed,
          cost_usd = r.cost_usd + c.cost_usd, research_cache_hits = r.research_cache_hits + c.research_cache_hits
      from (
        select run_id, count(*)::int as n,
               count(*) filter (where status = 'personalized')::int as personalized,
               count(*) filter (where status = 'needs_review')::int as needs_review,
               count(*) filter (where status = 'failed')::int as failed,
               sum(cost_usd) as cost_usd,
               count(*) filter (where research_cached)::int as research_cache_hits
        from counted group by run_id
      ) c
      where r.id = c.run_id
    ), by_campaign as (
      update campaigns k set completed_count = k.completed_count + c.n
      from (select campaign_id, count(*)::int as n from counted where status = 'personalized' group by campaign_id) c
      where k.id = c.campaign_id
    ), by_user as (
      -- A sandbox run's lines are made up: they save nobody any time or money.
      insert into client_metrics as m (user_id, leads_personalized, hours_saved, money_saved)
      select user_id, count(*), sum(hours), sum(money) from counted where status = 'personalized' and not sandbox group by user_id
      on conflict (user_id) do update set
        leads_personalized = m.leads_personalized + excluded.leads_personalized,
        hours_saved = m.hours_saved + excluded.hours_saved,
        money_saved = m.money_saved + excluded.money_saved
    )
    select id, status, sandbox, demo from counted`;
}
