/**
 * Extraction's writes (ports/extraction-store.port.ts). A batch of leads is one statement: a plain
 * insert when none of its emails is in the campaign yet, else an upsert that leaves a lead
 * personalized by an earlier run untouched.
 */
import type postgres from 'postgres';
import { NO_PIPELINE_METRICS, userClassOf, type PipelineMetrics, type UserClass } from '../../../ports/metrics.port.ts';
import { ACTIVE_RUN_STATUSES, FINAL_LEAD_STATUSES, hasEnded, RUN_ENDED_REASON, UNENDED_RUN_STATUSES, type LeadStatus, type RunStatus } from '../../../domain/campaigns/run.ts';
import type { Lead } from '../../../domain/leads/lead.ts';
import type { ExtractionResult, ExtractionStore, RunToExtract, StoredLeads } from '../../../ports/extraction-store.port.ts';
import type { RunCompletion } from '../../../ports/projection-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import { followedBy, type Lanes } from '../changes.ts';
import type { Sql } from '../client.ts';
import { errorCode, toJson, UNIQUE_VIOLATION } from '../sql.ts';

/** Run statuses a run can still leave on its own; `completed`, `failed` and `cancelled` are final, `paused` waits for its owner. */
export { ACTIVE_RUN_STATUSES };

/** Runs a file problem can still fail: active or paused (a cancelled run has ended already). */
const FAILABLE_RUN_STATUSES = UNENDED_RUN_STATUSES;

interface RunToExtractRow {
  id: string;
  campaign_id: string;
  user_id: string;
  demo: boolean;
  options?: Record<string, string>;
}

/** A batch of leads as the insert's column arrays, sorted by email. */
interface LeadColumns {
  readonly rows: number[];
  readonly emails: string[];
  readonly companies: string[];
  readonly canonicals: string[];
  readonly fields: string[];
  /** `pending`, or `suppressed` for a lead the owner's list (or the campaign's option) suppresses. */
  readonly statuses: LeadStatus[];
  /** A suppressed lead's reason; '' for the others. */
  readonly errors: string[];
}

interface StoredLeadRow {
  id: string;
  status: LeadStatus;
  row_number: number;
  /** Newly stored, or taken over from an earlier run: its `lead.extracted` commits with this batch. */
  released: boolean;
}

export function toRunToExtract(row: RunToExtractRow): RunToExtract {
  return { runId: row.id, campaignId: row.campaign_id, userId: row.user_id, demo: row.demo, ...(row.options === undefined ? {} : { options: row.options }) };
}

export class PostgresExtractionStore implements ExtractionStore {
  readonly #sql: Sql;
  readonly #lanes: Lanes;

  readonly #metrics: PipelineMetrics;

  /** `metrics` records the leads a batch stores suppressed (new to the run), once it committed. */
  constructor(sql: Sql, lanes: Lanes, metrics: PipelineMetrics = NO_PIPELINE_METRICS) {
    this.#sql = sql;
    this.#lanes = lanes;
    this.#metrics = metrics;
  }

  /** A paused run whose file was not read to the end is read all the same: reading it pays for nothing. */
  beginExtraction(runId: string): Change<RunToExtract | null> {
    return this.#lanes.transaction('beginExtraction', { run_id: runId }, async (tx) => {
      const [run] = await tx<RunToExtractRow[]>`
        update campaign_runs r set status = case when r.status = 'paused' then r.status else 'extracting' end
        from campaigns c
        where r.id = ${runId} and (r.status in ('queued', 'extracting') or (r.status = 'paused' and r.import_report is null)) and c.id = r.campaign_id
        returning r.id, r.campaign_id, r.user_id, r.demo, c.options`;
      return run === undefined ? null : toRunToExtract(run);
    });
  }

  /**
   * The batch is sorted by email so that concurrent batches lock conflicting rows in one order (no
   * deadlock), and must not repeat an email: PostgreSQL cannot update one row twice in a statement
   * (the import de-duplicates). The plain insert is tried first under a savepoint: a campaign's
   * first file on its first delivery is the common case, and a plain insert stores it at about
   * half the cost of the upsert. Every input lead the upsert does not return was skipped.
   *
   * Only the leads this batch released are reported pending: a lead the run had stored already (a
   * redelivered extraction) had its `lead.extracted` committed with it then, and publishing it
   * again, past the broker's de-duplication window, would start its paid calls again.
   *
   * The run's row is share-locked first: a cancel waits for the batch being stored, and a batch
   * after the cancel (or once the run has ended otherwise) stores nothing (`stopped`), so the
   * leads a cancel finds are all the run will ever have. A paused run's file is still read (its
   * leads wait for the resume).
   */
  storeLeads(run: RunToExtract, leads: readonly Lead[], suppressed: ReadonlyMap<string, string> = new Map()): Change<StoredLeads> {
    const sorted = [...leads].sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
    const repeated = sorted.some((lead, index) => index > 0 && lead.email === sorted[index - 1]!.email);
    const columns: LeadColumns = {
      rows: sorted.map((lead) => lead.row),
      emails: sorted.map((lead) => lead.email),
      companies: sorted.map((lead) => lead.company),
      canonicals: sorted.map((lead) => JSON.stringify(lead.canonical)),
      fields: sorted.map((lead) => JSON.stringify(lead.fields.map((field) => [field.header, field.value]))),
      statuses: sorted.map((lead) => (suppressed.has(lead.email) ? 'suppressed' : 'pending')),
      errors: sorted.map((lead) => suppressed.get(lead.email) ?? ''),
    };
    // The leads this batch settled suppressed (new to this run, not a redelivery's), for the metrics.
    let newlySuppressed = 0;
    let userClass: UserClass = 'standard';
    const change = this.#lanes.transaction('storeLeads', { run_id: run.runId, 'leads.count': leads.length }, async (tx) => {
      newlySuppressed = 0;
      if (repeated) throw new Error('storeLeads: a batch repeats an email; the import must de-duplicate leads first');
      const [state] = await tx<{ status: RunStatus; sandbox: boolean; demo: boolean }[]>`select status, sandbox, demo from campaign_runs where id = ${run.runId} for share`;
      if (state === undefined || hasEnded(state.status)) return { pending: [], skipped: 0, stopped: true };
      if (leads.length === 0) return { pending: [], skipped: 0, stopped: false };
      const rows = (await this.#insertNewLeads(tx, run, columns)) ?? (await this.#upsertLeads(tx, run, columns));
      newlySuppressed = rows.filter((row) => row.released && row.status === 'suppressed').length;
      userClass = userClassOf(state);
      return {
        pending: rows
          .filter((row) => row.released && row.status === 'pending')
          .sort((a, b) => a.row_number - b.row_number)
          .map((row) => row.id),
        skipped: leads.length - rows.length,
        stopped: false,
      };
    });
    return followedBy(change, () => {
      this.#metrics.leadsSettled('suppressed', userClass, newlySuppressed);
      return this.#touch(run.runId);
    });
  }

  /** Undefined when an email of the batch is in the campaign already (a re-run, a redelivery): the savepoint rolls back. */
  async #insertNewLeads(tx: postgres.TransactionSql, run: RunToExtract, columns: LeadColumns): Promise<StoredLeadRow[] | undefined> {
    try {
      return await tx.savepoint(
        (sp) => sp<StoredLeadRow[]>`
          insert into leads (campaign_id, run_id, user_id, row_number, email, company, canonical, fields, status, error, settled_at, counted_run_id)
          ${leadRows(sp, run, columns)}
          returning id, status, row_number, true as released`,
      );
    } catch (error) {
      if (errorCode(error) === UNIQUE_VIOLATION) return undefined;
      throw error;
    }
  }

  /**
   * The conflict update takes over a lead from an earlier run (resetting its progress to this
   * run's start: pending, or suppressed) or refreshes one this run owns (keeping it); its WHERE
   * leaves a lead personalized by an earlier run untouched, so it is not returned. A lead is
   * released unless this run owned it before the statement (read from the statement's snapshot,
   * before its update).
   */
  #upsertLeads(tx: postgres.TransactionSql, run: RunToExtract, columns: LeadColumns): Promise<StoredLeadRow[]> {
    return tx<StoredLeadRow[]>`
      with before as (
        select id, run_id from leads where campaign_id = ${run.campaignId} and email = any(${columns.emails}::text[])
      ), stored as (
      insert into leads as l (campaign_id, run_id, user_id, row_number, email, company, canonical, fields, status, error, settled_at, counted_run_id)
      ${leadRows(tx, run, columns)}
      on conflict (campaign_id, email) do update set
        row_number = excluded.row_number,
        company = excluded.company,
        canonical = excluded.canonical,
        fields = excluded.fields,
        run_id = excluded.run_id,
        status = case when l.run_id = excluded.run_id then l.status else excluded.status end,
        research = case when l.run_id = excluded.run_id then l.research end,
        research_model = case when l.run_id = excluded.run_id then l.research_model end,
        citations = case when l.run_id = excluded.run_id then l.citations end,
        research_cached = case when l.run_id = excluded.run_id then l.research_cached else false end,
        message = case when l.run_id = excluded.run_id then l.message end,
        message_basis = case when l.run_id = excluded.run_id then l.message_basis end,
        outputs = case when l.run_id = excluded.run_id then l.outputs end,
        model = case when l.run_id = excluded.run_id then l.model end,
        usage = case when l.run_id = excluded.run_id then l.usage end,
        cost_usd = case when l.run_id = excluded.run_id then l.cost_usd else 0 end,
        error = case when l.run_id = excluded.run_id then l.error else excluded.error end,
        attempts = case when l.run_id = excluded.run_id then l.attempts else 0 end,
        settled_at = case when l.run_id = excluded.run_id then l.settled_at else excluded.settled_at end,
        counted_run_id = case when l.run_id = excluded.run_id then l.counted_run_id else excluded.counted_run_id end
      where l.status <> 'personalized' or l.run_id = excluded.run_id
      returning l.id, l.status, l.row_number
      )
      select s.id, s.status, s.row_number, b.run_id is distinct from ${run.runId}::uuid as released
      from stored s left join before b on b.id = s.id`;
  }

  /**
   * A sign of progress for the reconciler, after the batch committed and in its own statement:
   * holding the run row while the batch locks its leads could deadlock with a projection (which
   * locks a lead, then the run).
   */
  async #touch(runId: string): Promise<void> {
    await this.#sql`update campaign_runs set updated_at = now() where id = ${runId} and status = 'extracting'`;
  }

  /**
   * The run's row is locked before its suppressed leads are counted: a lead suppressed before its
   * research (saveSuppressed, which adds one to the counter) either committed before the count,
   * which then sees it, or waits for this transaction and adds its one after it.
   */
  finishExtraction(runId: string, result: ExtractionResult): Change<void> {
    const { report } = result;
    return this.#lanes.transaction('finishExtraction', { run_id: runId }, async (tx) => {
      await tx`select 1 from campaign_runs where id = ${runId} for update`;
      await tx`
        update campaign_runs set
          suppressed = (select count(*)::int from leads where run_id = ${runId} and status = 'suppressed'),
          total_rows = ${report.total_rows},
          valid = ${report.valid},
          duplicates = ${report.duplicates},
          rejected_rows = ${report.rejected.length},
          skipped = ${result.skipped},
          import_report = ${tx.json(toJson(report))},
          columns = ${tx.json(toJson(result.columns))},
          import_rows = ${result.rows === undefined ? null : tx.json(toJson(result.rows))},
          status = case when status = 'extracting' then 'personalizing' else status end
        where id = ${runId} and status in ('extracting', 'personalizing', 'paused')`;
    });
  }

  /**
   * The leads first, then the run: the projection's lock order. A lead the run left unsettled ends
   * failed with RUN_ENDED_REASON, so that no delivery still queued pays for its call, and is never
   * counted (the projection counts only leads of runs that have not ended).
   */
  failRun(runId: string, errorMessage: string): Change<RunCompletion | null> {
    return this.#lanes.transaction('failRun', { run_id: runId }, async (tx) => {
      await tx`
        update leads set status = 'failed', error = ${RUN_ENDED_REASON}, settled_at = clock_timestamp()
        where run_id = ${runId} and status not in ${tx(FINAL_LEAD_STATUSES)}
          and exists (select 1 from campaign_runs where id = ${runId} and status in ${tx(FAILABLE_RUN_STATUSES)})`;
      const [run] = await tx<{ campaign_id: string; user_id: string }[]>`
        update campaign_runs set status = 'failed', error_message = ${errorMessage}, completed_at = now(), paused_at = null
        where id = ${runId} and status in ${tx(FAILABLE_RUN_STATUSES)}
        returning campaign_id, user_id`;
      if (run === undefined) return null;
      return { runId, campaignId: run.campaign_id, userId: run.user_id, outcome: { status: 'failed' as const, errorMessage } };
    });
  }
}

/**
 * The batch's rows for the insert: a `select` over the column arrays. A suppressed lead is settled
 * and counted for the run as it is stored.
 */
function leadRows(sql: postgres.TransactionSql, run: RunToExtract, columns: LeadColumns) {
  return sql`
    select ${run.campaignId}, ${run.runId}, ${run.userId}, t.row_number, t.email, t.company, t.canonical::jsonb, t.fields::jsonb,
           t.status, nullif(t.error, ''),
           case when t.status = 'suppressed' then clock_timestamp() end,
           case when t.status = 'suppressed' then ${run.runId}::uuid end
    from unnest(
      ${columns.rows}::int[], ${columns.emails}::text[], ${columns.companies}::text[], ${columns.canonicals}::text[], ${columns.fields}::text[],
      ${columns.statuses}::text[], ${columns.errors}::text[]
    ) as t(row_number, email, company, canonical, fields, status, error)`;
}
