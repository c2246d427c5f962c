/**
 * The campaign store on PostgreSQL: every store port of the pipeline in one adapter.
 *
 * Idempotency lives in the statements themselves. Each lead transition is guarded by the lead's
 * run and expected status, so a redelivered event finds nothing to do; each settled lead's
 * outcome is counted in one transaction keyed by `leads.counted_run_id`, so it is counted once per
 * run however often its event arrives. Runs and leads are "stalled" when their `updated_at` (moved
 * by a trigger on every update) is older than the reconciler's lease.
 */
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { FINAL_LEAD_STATUSES, outcomeOf, type KpiRates, type LeadStatus, type RunStatus } from '../../domain/campaigns/run.ts';
import type { CanonicalValues, ColumnMapping, ImportReport, Lead } from '../../domain/leads/lead.ts';
import type { UsdAmount } from '../../domain/pricing/pricing.ts';
import {
  CampaignNotFoundError,
  type CampaignQueries,
  type ExtractionStore,
  type LeadPage,
  type LeadView,
  type LeadWork,
  type LeadWorkStore,
  type MetricsView,
  type NewRun,
  type PaidCall,
  type ProjectionStore,
  type ReconcilerStore,
  type RunCompletion,
  type RunToExtract,
  type RunView,
  type StoredLeads,
  type StuckLead,
  type SubmissionStore,
} from '../../ports/campaign-store.port.ts';
import type { Citation, Draft, Research, Usage } from '../../ports/providers.port.ts';
import { isUuid, PostgresCampaignQueries } from './campaign-queries.ts';
import type { Sql } from './client.ts';
import { GroupCommit } from './group-commit.ts';
import { traced } from './traced.ts';

/** Run statuses a run can still leave; `completed` and `failed` are final. */
const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'extracting', 'personalizing'];

interface LeadWorkRow {
  id: string;
  run_id: string;
  status: LeadStatus;
  email: string;
  company: string;
  canonical: CanonicalValues;
  research: string | null;
  citations: Citation[] | null;
  research_model: string | null;
  usage: { research?: Usage } | null;
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
}

/** One lead's statement, run in whichever transaction its batch gets. */
type LeadStatement<T> = (sql: postgres.TransactionSql) => Promise<T>;

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

function throwIfFailed<T>(settled: Settled<T>): Settled<T> {
  if (!settled.ok) throw settled.error;
  return settled;
}

/**
 * The `usage` update that appends one call to the lead's log of paid calls, `usage.calls`
 * (`usage` on the right is the row's value before the update).
 */
function callEntry(sql: postgres.TransactionSql, call: Omit<PaidCall, 'costUsd'>, costUsd: UsdAmount | undefined) {
  const entry = {
    stage: call.stage,
    model: call.model,
    ...(call.usage === undefined ? {} : { inputTokens: call.usage.inputTokens, outputTokens: call.usage.outputTokens }),
    costUsd: costUsd ?? null,
  };
  return sql`jsonb_build_object('calls', coalesce(usage -> 'calls', '[]'::jsonb) || ${sql.json([entry])})`;
}

/** A batch of leads as the insert's column arrays, sorted by email. */
interface LeadColumns {
  readonly rows: number[];
  readonly emails: string[];
  readonly companies: string[];
  readonly canonicals: string[];
  readonly fields: string[];
}

interface StoredLeadRow {
  id: string;
  status: LeadStatus;
  row_number: number;
}

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

interface CountCall {
  readonly leadId: string;
  readonly runId: string;
  readonly rates: KpiRates;
}

interface RunToExtractRow {
  id: string;
  campaign_id: string;
  user_id: string;
  demo: boolean;
}

export class PostgresCampaignStore
  implements SubmissionStore, ExtractionStore, LeadWorkStore, ProjectionStore, ReconcilerStore, CampaignQueries
{
  readonly #sql: Sql;
  readonly #queries: PostgresCampaignQueries;
  readonly #counts = new GroupCommit<CountCall, boolean>((calls) => this.#countBatch(calls));
  readonly #completions = new GroupCommit<string, RunCompletion | null>((runIds) => this.#completeBatch(runIds));
  readonly #leadStatements = new GroupCommit<LeadStatement<unknown>, Settled<unknown>>((statements) => this.#runLeadStatements(statements));

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#queries = new PostgresCampaignQueries(sql);
  }

  // ── Submission ──────────────────────────────────────────────────────────────────────────────

  /** The run row is written once, with its file key `runs/<runId>`. */
  createRun(run: NewRun): Promise<{ runId: string; campaignId: string }> {
    const runId = run.runId ?? randomUUID();
    return traced('createRun', { run_id: runId }, () =>
      this.#sql.begin(async (tx) => {
        let campaignId: string;
        if (run.campaignId !== undefined) {
          if (!isUuid(run.campaignId)) throw new CampaignNotFoundError();
          const [campaign] = await tx<{ id: string }[]>`
            select id from campaigns where id = ${run.campaignId} and user_id = ${run.userId}`;
          if (campaign === undefined) throw new CampaignNotFoundError();
          campaignId = campaign.id;
        } else if (run.campaignName !== undefined) {
          const [campaign] = await tx<{ id: string }[]>`
            insert into campaigns (user_id, name) values (${run.userId}, ${run.campaignName}) returning id`;
          campaignId = campaign!.id;
        } else {
          throw new TypeError('createRun needs a campaignId or a campaignName');
        }
        await tx`
          insert into campaign_runs (id, campaign_id, user_id, status, demo, file_name, file_ref, research_prompt, personalization_prompt, allow_questions)
          values (${runId}, ${campaignId}, ${run.userId}, 'queued', ${run.demo}, ${run.fileName}, ${`runs/${runId}`},
                  ${run.researchPrompt ?? null}, ${run.personalizationPrompt ?? null}, ${run.allowQuestions ?? false})`;
        return { runId, campaignId };
      }),
    );
  }

  // ── Extraction ──────────────────────────────────────────────────────────────────────────────

  beginExtraction(runId: string): Promise<RunToExtract | null> {
    return traced('beginExtraction', { run_id: runId }, async () => {
      const [run] = await this.#sql<RunToExtractRow[]>`
        update campaign_runs set status = 'extracting'
        where id = ${runId} and status in ('queued', 'extracting')
        returning id, campaign_id, user_id, demo`;
      return run === undefined ? null : toRunToExtract(run);
    });
  }

  /**
   * One `insert ... select from unnest(...)` for the whole batch: a plain insert when none of its
   * emails is in the campaign yet, else an upsert (see #upsertLeads) that leaves a lead
   * personalized by an earlier run untouched and does not return it: every input lead not
   * returned is a skipped one. The batch is sorted by email so that concurrent batches lock
   * conflicting rows in one order (no deadlock), and must not repeat an email: PostgreSQL cannot
   * update one row twice in a statement (the import de-duplicates).
   */
  storeLeads(run: RunToExtract, leads: readonly Lead[]): Promise<StoredLeads> {
    return traced('storeLeads', { run_id: run.runId, 'leads.count': leads.length }, async () => {
      if (leads.length === 0) return { pending: [], skipped: 0 };
      const sorted = [...leads].sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
      if (sorted.some((lead, index) => index > 0 && lead.email === sorted[index - 1]!.email)) {
        throw new Error('storeLeads: a batch repeats an email; the import must de-duplicate leads first');
      }
      const columns = {
        rows: sorted.map((lead) => lead.row),
        emails: sorted.map((lead) => lead.email),
        companies: sorted.map((lead) => lead.company),
        canonicals: sorted.map((lead) => JSON.stringify(lead.canonical)),
        fields: sorted.map((lead) => JSON.stringify(lead.fields.map((field) => [field.header, field.value]))),
      };
      const rows = (await this.#insertNewLeads(run, columns)) ?? (await this.#upsertLeads(run, columns));
      // A sign of progress for the reconciler, in its own statement: holding the run row while the
      // batch locks its leads could deadlock with a projection (which locks a lead, then the run).
      await this.#sql`update campaign_runs set updated_at = now() where id = ${run.runId} and status = 'extracting'`;
      return {
        pending: rows
          .filter((row) => row.status === 'pending')
          .sort((a, b) => a.row_number - b.row_number)
          .map((row) => row.id),
        skipped: leads.length - rows.length,
      };
    });
  }

  /**
   * The common case, a campaign's first file on its first delivery: none of the batch's emails is
   * in the campaign yet, and a plain insert stores the batch at about half the cost of the upsert
   * (no speculative insertion per row). Undefined when an email is there already (a re-run of
   * the campaign, a redelivery of the extraction): PostgreSQL stops at the first duplicate and
   * the statement changes nothing, and the caller upserts instead.
   */
  async #insertNewLeads(run: RunToExtract, columns: LeadColumns): Promise<StoredLeadRow[] | undefined> {
    try {
      return await this.#sql<StoredLeadRow[]>`
        insert into leads (campaign_id, run_id, user_id, row_number, email, company, canonical, fields)
        ${this.#leadRows(run, columns)}
        returning id, status, row_number`;
    } catch (error) {
      if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) return undefined;
      throw error;
    }
  }

  /** The batch's rows for the insert: a `select` over the column arrays. */
  #leadRows(run: RunToExtract, columns: LeadColumns) {
    return this.#sql`
      select ${run.campaignId}, ${run.runId}, ${run.userId}, t.row_number, t.email, t.company, t.canonical::jsonb, t.fields::jsonb
      from unnest(
        ${columns.rows}::int[], ${columns.emails}::text[], ${columns.companies}::text[], ${columns.canonicals}::text[], ${columns.fields}::text[]
      ) as t(row_number, email, company, canonical, fields)`;
  }

  /**
   * The conflict update takes over a lead from an earlier run (resetting its progress) or
   * refreshes one this run owns (keeping it); its WHERE leaves a lead personalized by an earlier
   * run untouched, so it is not returned.
   */
  #upsertLeads(run: RunToExtract, columns: LeadColumns): Promise<StoredLeadRow[]> {
    return this.#sql<StoredLeadRow[]>`
      insert into leads as l (campaign_id, run_id, user_id, row_number, email, company, canonical, fields)
      ${this.#leadRows(run, columns)}
      on conflict (campaign_id, email) do update set
        row_number = excluded.row_number,
        company = excluded.company,
        canonical = excluded.canonical,
        fields = excluded.fields,
        run_id = excluded.run_id,
        status = case when l.run_id = excluded.run_id then l.status else 'pending' end,
        research = case when l.run_id = excluded.run_id then l.research end,
        research_model = case when l.run_id = excluded.run_id then l.research_model end,
        citations = case when l.run_id = excluded.run_id then l.citations end,
        message = case when l.run_id = excluded.run_id then l.message end,
        message_basis = case when l.run_id = excluded.run_id then l.message_basis end,
        model = case when l.run_id = excluded.run_id then l.model end,
        usage = case when l.run_id = excluded.run_id then l.usage end,
        cost_usd = case when l.run_id = excluded.run_id then l.cost_usd else 0 end,
        error = case when l.run_id = excluded.run_id then l.error end,
        attempts = case when l.run_id = excluded.run_id then l.attempts else 0 end,
        settled_at = case when l.run_id = excluded.run_id then l.settled_at end,
        counted_run_id = case when l.run_id = excluded.run_id then l.counted_run_id end
      where l.status <> 'personalized' or l.run_id = excluded.run_id
      returning l.id, l.status, l.row_number`;
  }

  finishExtraction(runId: string, result: { report: ImportReport; columns: readonly ColumnMapping[]; skipped: number }): Promise<void> {
    return traced('finishExtraction', { run_id: runId }, async () => {
      const { report } = result;
      await this.#sql`
        update campaign_runs set
          total_rows = ${report.total_rows},
          valid = ${report.valid},
          duplicates = ${report.duplicates},
          rejected_rows = ${report.rejected.length},
          skipped = ${result.skipped},
          import_report = ${this.#sql.json(toJson(report))},
          columns = ${this.#sql.json(toJson(result.columns))},
          status = case when status = 'extracting' then 'personalizing' else status end
        where id = ${runId} and status in ('extracting', 'personalizing')`;
    });
  }

  failRun(runId: string, errorMessage: string): Promise<RunCompletion | null> {
    return traced('failRun', { run_id: runId }, async () => {
      const [run] = await this.#sql<{ campaign_id: string; user_id: string }[]>`
        update campaign_runs set status = 'failed', error_message = ${errorMessage}, completed_at = now()
        where id = ${runId} and status in ${this.#sql(ACTIVE_RUN_STATUSES)}
        returning campaign_id, user_id`;
      if (run === undefined) return null;
      return { runId, campaignId: run.campaign_id, userId: run.user_id, outcome: { status: 'failed', errorMessage } };
    });
  }

  // ── Research and personalization ────────────────────────────────────────────────────────────

  leadWork(leadId: string, runId: string): Promise<LeadWork | null> {
    return traced('leadWork', { run_id: runId, lead_id: leadId }, async () => {
      const [row] = await this.#pipelined((sql) => sql<LeadWorkRow[]>`
        select l.id, l.run_id, l.status, l.email, l.company, l.canonical, l.research, l.citations, l.research_model,
               l.usage, r.research_prompt, r.personalization_prompt, r.allow_questions
        from leads l
        join campaign_runs r on r.id = l.run_id
        where l.id = ${leadId} and l.run_id = ${runId}`);
      if (row === undefined) return null;
      return {
        leadId: row.id,
        runId: row.run_id,
        status: row.status,
        lead: { email: row.email, company: row.company, canonical: row.canonical },
        research: toResearch(row),
        researchPrompt: row.research_prompt,
        personalizationPrompt: row.personalization_prompt,
        allowQuestions: row.allow_questions,
      };
    });
  }

  saveResearch(leadId: string, runId: string, research: Research, costUsd?: UsdAmount): Promise<boolean> {
    return traced('saveResearch', { run_id: runId, lead_id: leadId }, async () => {
      const call = { stage: 'research', model: research.model, ...(research.usage === undefined ? {} : { usage: research.usage }) } as const;
      const { count } = await this.#pipelined(
        (sql) => sql`
          update leads set
            status = 'researched',
            attempts = attempts + 1,
            research = ${research.text},
            citations = ${sql.json(toJson(research.citations))},
            research_model = ${research.model},
            usage = coalesce(usage, '{}'::jsonb) || ${sql.json(usageEntry('research', research.usage))}
              || ${callEntry(sql, call, costUsd)},
            cost_usd = cost_usd + ${costUsd ?? '0'}::numeric
          where id = ${leadId} and run_id = ${runId} and status = 'pending'`,
      );
      return count > 0;
    });
  }

  savePersonalized(leadId: string, runId: string, draft: Draft, costUsd?: UsdAmount): Promise<boolean> {
    return traced('savePersonalized', { run_id: runId, lead_id: leadId }, () =>
      this.#saveDraft(leadId, runId, draft, { status: 'personalized', error: null }, costUsd),
    );
  }

  saveNeedsReview(leadId: string, runId: string, draft: Draft, reasons: string, costUsd?: UsdAmount): Promise<boolean> {
    return traced('saveNeedsReview', { run_id: runId, lead_id: leadId }, () =>
      this.#saveDraft(leadId, runId, draft, { status: 'needs_review', error: reasons }, costUsd),
    );
  }

  /** researched → a final status with the draft (and, for needs_review, the reasons as the error). */
  async #saveDraft(
    leadId: string,
    runId: string,
    draft: Draft,
    outcome: { readonly status: 'personalized' | 'needs_review'; readonly error: string | null },
    costUsd: UsdAmount | undefined,
  ): Promise<boolean> {
    const call = { stage: 'personalization', model: draft.model, ...(draft.usage === undefined ? {} : { usage: draft.usage }) } as const;
    const { count } = await this.#pipelined(
      (sql) => sql`
        update leads set
          status = ${outcome.status},
          attempts = attempts + 1,
          message = ${draft.message},
          message_basis = ${draft.basis},
          model = ${draft.model},
          error = ${outcome.error},
          usage = coalesce(usage, '{}'::jsonb) || ${sql.json(usageEntry('personalization', draft.usage))}
            || ${callEntry(sql, call, costUsd)},
          cost_usd = cost_usd + ${costUsd ?? '0'}::numeric,
          settled_at = clock_timestamp()
        where id = ${leadId} and run_id = ${runId} and status = 'researched'`,
    );
    return count > 0;
  }

  saveFailed(leadId: string, runId: string, reason: string): Promise<boolean> {
    return traced('saveFailed', { run_id: runId, lead_id: leadId }, async () => {
      const { count } = await this.#pipelined(
        (sql) => sql`
          update leads set status = 'failed', error = ${reason}, settled_at = clock_timestamp()
          where id = ${leadId} and run_id = ${runId} and status not in ${sql(FINAL_LEAD_STATUSES)}`,
      );
      return count > 0;
    });
  }

  /**
   * One statement: the lead first, then (when its outcome is counted already, say a slow call
   * that lost the race to a concurrent delivery) the run, in the projection's lock order. A
   * projection counting the lead meanwhile either sees this cost in the lead's, or has committed
   * before this statement re-reads the lead and finds it counted.
   */
  addCost(leadId: string, runId: string, call: PaidCall): Promise<void> {
    return traced('addCost', { run_id: runId, lead_id: leadId }, async () => {
      await this.#pipelined(
        (sql) => sql`
          with lead as (
            update leads set
              usage = coalesce(usage, '{}'::jsonb) || ${callEntry(sql, call, call.costUsd)},
              cost_usd = cost_usd + ${call.costUsd}::numeric
            where id = ${leadId} and run_id = ${runId}
            returning counted_run_id
          )
          update campaign_runs set cost_usd = cost_usd + ${call.costUsd}::numeric
          where id = ${runId} and exists (select 1 from lead where counted_run_id is not null)`,
      );
    });
  }

  /** Also a sign of life for the reconciler: the update moves the lead's `updated_at`. */
  recordAttempt(leadId: string, runId: string): Promise<void> {
    return traced('recordAttempt', { run_id: runId, lead_id: leadId }, async () => {
      await this.#pipelined(
        (sql) => sql`
          update leads set attempts = attempts + 1
          where id = ${leadId} and run_id = ${runId} and status not in ${sql(FINAL_LEAD_STATUSES)}`,
      );
    });
  }

  // ── KPI projection ──────────────────────────────────────────────────────────────────────────

  /**
   * Marking the lead counted comes first and is the guard: only the statement that flips
   * `counted_run_id` increments anything, and the leads are locked before the run, campaign and
   * metrics rows. Counted in a batch with the others that arrive meanwhile (see #countBatch).
   * Rates travel as decimal strings so numeric arithmetic stays exact.
   */
  countOutcome(leadId: string, runId: string, rates: KpiRates): Promise<boolean> {
    return traced('countOutcome', { run_id: runId, lead_id: leadId }, () => this.#counts.submit({ leadId, runId, rates }));
  }

  /**
   * Settled means no lead of the run is left uncounted. That, rather than comparing the counters
   * with `valid`, is the test: a later run of the campaign may take over a lead this run never
   * counted, and this run must still end. The run row is locked first, and a projection updates it
   * in the statement that counts, so the check sees every count committed before it.
   */
  completeIfSettled(runId: string): Promise<RunCompletion | null> {
    return traced('completeIfSettled', { run_id: runId }, () => this.#completions.submit(runId));
  }

  /**
   * Counts a batch of settled leads (group commit, see group-commit.ts) in one statement: the
   * leads are marked counted, and the run, campaign and KPI rows each get one update with the
   * batch's sums. A lead is counted when it is final for that run and not counted yet; a lead
   * repeated in the batch (two deliveries of one event) is counted once, for its first caller.
   * Every row this statement updates is locked until it commits, in an order PostgreSQL picks;
   * two processes' batches may deadlock on them, and PostgreSQL then aborts one, which is retried.
   */
  async #countBatch(calls: readonly CountCall[]): Promise<readonly boolean[]> {
    const rows = await retryOnDeadlock(
      () => this.#sql<{ id: string }[]>`
        with input as (
          select * from unnest(
            ${this.#sql.array(calls.map((call) => call.leadId))}::uuid[],
            ${this.#sql.array(calls.map((call) => call.runId))}::uuid[],
            ${this.#sql.array(calls.map((call) => String(call.rates.hoursPerLead)))}::numeric[],
            ${this.#sql.array(calls.map((call) => String(call.rates.moneyPerLead)))}::numeric[]
          ) as t(lead_id, run_id, hours, money)
        ), counted as (
          update leads l set counted_run_id = l.run_id
          from input i
          where l.id = i.lead_id and l.run_id = i.run_id and l.status in ${this.#sql(FINAL_LEAD_STATUSES)}
            and l.counted_run_id is null
          returning l.id, l.run_id, l.status, l.campaign_id, l.user_id, l.cost_usd, i.hours, i.money
        ), by_run as (
          update campaign_runs r
          set processed = r.processed + c.n, personalized = r.personalized + c.personalized,
              needs_review = r.needs_review + c.needs_review, failed = r.failed + c.failed,
              cost_usd = r.cost_usd + c.cost_usd
          from (
            select run_id, count(*)::int as n,
                   count(*) filter (where status = 'personalized')::int as personalized,
                   count(*) filter (where status = 'needs_review')::int as needs_review,
                   count(*) filter (where status = 'failed')::int as failed,
                   sum(cost_usd) as cost_usd
            from counted group by run_id
          ) c
          where r.id = c.run_id
        ), by_campaign as (
          update campaigns k set completed_count = k.completed_count + c.n
          from (select campaign_id, count(*)::int as n from counted where status = 'personalized' group by campaign_id) c
          where k.id = c.campaign_id
        ), by_user as (
          insert into client_metrics as m (user_id, leads_personalized, hours_saved, money_saved)
          select user_id, count(*), sum(hours), sum(money) from counted where status = 'personalized' group by user_id
          on conflict (user_id) do update set
            leads_personalized = m.leads_personalized + excluded.leads_personalized,
            hours_saved = m.hours_saved + excluded.hours_saved,
            money_saved = m.money_saved + excluded.money_saved
        )
        select id from counted`,
    );
    const counted = new Set(rows.map((row) => row.id));
    // The first caller of a lead counted it; a repeat in the same batch finds it counted.
    return calls.map((call) => counted.delete(call.leadId));
  }

  /** The completion check for a batch of runs (group commit), each run locked in id order. */
  async #completeBatch(runIds: readonly string[]): Promise<readonly (RunCompletion | null)[]> {
    const unique = [...new Set(runIds)].sort();
    const completions = await retryOnDeadlock(() =>
      this.#sql.begin(async (tx) => {
        const runs = await tx<
          { id: string; campaign_id: string; user_id: string; valid: number; skipped: number; personalized: number; needs_review: number; failed: number }[]
        >`
          select id, campaign_id, user_id, valid, skipped, personalized, needs_review, failed
          from campaign_runs
          where id = any(${tx.array(unique)}::uuid[]) and status = 'personalizing'
          order by id
          for update`;
        const ended = new Map<string, RunCompletion>();
        for (const run of runs) {
          const open = await tx`select 1 from leads where run_id = ${run.id} and counted_run_id is null limit 1`;
          if (open.length > 0) continue;
          const outcome = outcomeOf(run);
          await tx`
            update campaign_runs set status = ${outcome.status}, error_message = ${outcome.errorMessage}, completed_at = now()
            where id = ${run.id}`;
          ended.set(run.id, { runId: run.id, campaignId: run.campaign_id, userId: run.user_id, outcome });
        }
        return ended;
      }),
    );
    // The run ended once: only its first caller gets the completion (and announces it).
    return runIds.map((runId) => {
      const completion = completions.get(runId) ?? null;
      completions.delete(runId);
      return completion;
    });
  }

  // ── Batching ────────────────────────────────────────────────────────────────────────────────

  /**
   * Runs one lead's statement of a consumer (read its work, record an attempt, save a result)
   * together with the others that arrived meanwhile: one transaction per batch, its statements
   * pipelined on one connection (group commit, see group-commit.ts). Each statement is guarded by
   * the lead's run and status as on its own, so batching changes what each sees no more than
   * running it a moment later would; what it saves to is one commit and a few round trips per
   * batch instead of one of each per statement.
   */
  async #pipelined<T>(statement: LeadStatement<T>): Promise<T> {
    const settled = await this.#leadStatements.submit(statement);
    if (!settled.ok) throw settled.error;
    return settled.value as T;
  }

  /**
   * A statement that fails aborts the whole transaction: then each statement runs again on its own,
   * so that only the failing one fails (a lead whose data PostgreSQL rejects never holds up the
   * others). Re-running is sound: the rolled-back batch changed nothing.
   */
  async #runLeadStatements(statements: readonly LeadStatement<unknown>[]): Promise<readonly Settled<unknown>[]> {
    const settle = (work: Promise<unknown>): Promise<Settled<unknown>> =>
      work.then(
        (value) => ({ ok: true, value }),
        (error: unknown) => ({ ok: false, error }),
      );
    if (statements.length === 1) return [await settle(this.#sql.begin((tx) => statements[0]!(tx)))];
    try {
      return await this.#sql.begin((tx) => Promise.all(statements.map((statement) => settle(statement(tx)).then(throwIfFailed))));
    } catch {
      return Promise.all(statements.map((statement) => settle(this.#sql.begin((tx) => statement(tx)))));
    }
  }

  // ── Reconciler ──────────────────────────────────────────────────────────────────────────────

  stalledExtractions(leaseMs: number, limit: number): Promise<readonly RunToExtract[]> {
    return traced('stalledExtractions', {}, async () => {
      const rows = await this.#sql<RunToExtractRow[]>`
        select id, campaign_id, user_id, demo
        from campaign_runs
        where status in ('queued', 'extracting') and updated_at < now() - make_interval(secs => ${leaseMs / 1000})
        order by updated_at
        limit ${limit}`;
      return rows.map(toRunToExtract);
    });
  }

  /**
   * Only runs with no progress for the lease are examined: the leads of a run that is moving (say,
   * slowly, under a provider's rate limit) are waiting their turn in the broker, not lost. Within
   * such a run, a lead touched during the lease (an attempt, a save) is still being worked on.
   */
  stalledLeads(leaseMs: number, limit: number): Promise<readonly StuckLead[]> {
    return traced('stalledLeads', {}, async () => {
      const rows = await this.#sql<{ id: string; run_id: string; status: LeadStatus }[]>`
        select l.id, l.run_id, l.status
        from campaign_runs r
        join leads l on l.run_id = r.id and l.counted_run_id is null
        where r.status = 'personalizing'
          and r.updated_at < now() - make_interval(secs => ${leaseMs / 1000})
          and l.updated_at < now() - make_interval(secs => ${leaseMs / 1000})
        order by r.updated_at, l.id
        limit ${limit}`;
      return rows.map((row) => ({
        leadId: row.id,
        runId: row.run_id,
        status: row.status,
        uncounted: FINAL_LEAD_STATUSES.includes(row.status),
      }));
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

  // ── Reading ─────────────────────────────────────────────────────────────────────────────────

  runStatus(userId: string, runId: string): Promise<RunView | null> {
    return this.#queries.runStatus(userId, runId);
  }

  leads(userId: string, campaignId: string, page: { status?: LeadStatus; cursor?: string; limit: number }): Promise<LeadPage | null> {
    return this.#queries.leads(userId, campaignId, page);
  }

  settledLeads(userId: string, runId: string, after: string | null, limit: number): Promise<{ leads: readonly LeadView[]; cursor: string | null }> {
    return this.#queries.settledLeads(userId, runId, after, limit);
  }

  exportLeads(userId: string, campaignId: string): Promise<{ headers: readonly string[]; leads: AsyncIterable<LeadView> } | null> {
    return this.#queries.exportLeads(userId, campaignId);
  }

  metrics(userId: string): Promise<MetricsView> {
    return this.#queries.metrics(userId);
  }
}

function toRunToExtract(row: RunToExtractRow): RunToExtract {
  return { runId: row.id, campaignId: row.campaign_id, userId: row.user_id, demo: row.demo };
}

function toResearch(row: LeadWorkRow): Research | null {
  if (row.research === null) return null;
  const usage = row.usage?.research;
  return {
    text: row.research,
    citations: row.citations ?? [],
    // Written with the research, so present whenever research is.
    model: row.research_model ?? '',
    ...(usage === undefined ? {} : { usage }),
  };
}

/** The `usage` column's entry for one provider call: the token counts only, nothing else the adapter attached. */
function usageEntry(stage: 'research' | 'personalization', usage: Usage | undefined): Record<string, { inputTokens: number; outputTokens: number }> {
  return usage === undefined ? {} : { [stage]: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens } };
}

/** Our readonly domain objects are plain JSON; the driver's `json()` wants its own mutable JSON type. */
function toJson(value: unknown): Parameters<Sql['json']>[0] {
  return value as Parameters<Sql['json']>[0];
}

/** PostgreSQL's deadlock_detected: it aborted this statement, which changed nothing, to break a cycle. */
const DEADLOCK_DETECTED = '40P01';
const DEADLOCK_RETRIES = 3;

/** Runs `work` again, up to three times, when PostgreSQL aborted it to break a deadlock. */
async function retryOnDeadlock<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt > DEADLOCK_RETRIES || (error as { code?: unknown }).code !== DEADLOCK_DETECTED) throw error;
    }
  }
}
