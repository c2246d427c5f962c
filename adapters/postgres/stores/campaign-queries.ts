/**
 * The HTTP edge's reads of the campaign store. Every query is scoped by the caller's user id: a
 * run or campaign of another user reads exactly like one that does not exist.
 */
import type { LeadStatus, RunStatus } from '../../../domain/campaigns/run.ts';
import type { ColumnMapping, ImportReport, ImportRow } from '../../../domain/leads/lead.ts';
import {
  InvalidCursorError,
  type CampaignDetail,
  type CampaignExport,
  type CampaignQueries,
  type CampaignRunView,
  type CampaignSummary,
  type ExportRequest,
  type ExportRow,
  type ImportRowView,
  type LeadPage,
  type LeadPageRequest,
  type LeadView,
  type DeliveryView,
  type MetricsView,
  type RunActivity,
  type RunCounters,
  type RunView,
  type SettledLead,
  PROGRESS_START,
  RECENT_SETTLED_SAMPLE,
} from '../../../ports/campaign-queries.port.ts';
import type { Sql } from '../client.ts';
import { isUuid } from '../sql.ts';
import { traced } from '../traced.ts';
import { campaignDetail, listCampaignRuns, listCampaigns } from './campaign-list.ts';

/** jsonb gives PostgreSQL's timestamp text: the API's times are ISO 8601 like the others. */
function isoTimes(delivery: DeliveryView): DeliveryView {
  const iso = (time: string | null) => (time === null ? null : new Date(time).toISOString());
  return { ...delivery, delivered_at: iso(delivery.delivered_at), failed_at: iso(delivery.failed_at) };
}

/** Span attributes for ids taken from a URL: only real ids, so a client cannot put other text in a trace. */
function idAttributes(ids: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(ids).filter(([, value]) => isUuid(value)));
}

/** How long a settled lead may wait for older transactions before the live feed lists it anyway (see ripe()). */
const UNRIPE_LIMIT = '30 seconds';

/** Leads per statement when an export streams. */
const EXPORT_BATCH = 500;

/** A run's row: its counters (as the status shows them) and the rest. */
interface RunRow extends RunCounters {
  id: string;
  campaign_id: string;
  status: RunView['status'];
  /** numeric comes back as a decimal string. */
  cost_usd: string;
  research_cache_hits: number;
  error_message: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
  sandbox: boolean;
  cancelled_at: Date | null;
  paused_at: Date | null;
  deliveries: Record<string, DeliveryView>;
}

interface LeadRow {
  id: string;
  run_id: string;
  row_number: number;
  email: string;
  company: string;
  canonical: Record<string, string>;
  fields: [string, string][];
  status: LeadStatus;
  research: string | null;
  citations: { url: string; title?: string }[] | null;
  research_cached: boolean;
  message: string | null;
  outputs: Record<string, string> | null;
  message_basis: string | null;
  error: string | null;
  attempts: number;
  model: string | null;
  research_model: string | null;
  cost_usd: string;
  sandbox: boolean;
  updated_at: Date;
  settled_at: Date | null;
}

export class PostgresCampaignQueries implements CampaignQueries {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  importReport(userId: string, runId: string): Promise<{ readonly status: RunStatus; readonly report: ImportReport | null } | null> {
    return traced('importReport', idAttributes({ run_id: runId }), async () => {
      if (!isUuid(userId) || !isUuid(runId)) return null;
      const [run] = await this.#sql<{ status: RunStatus; import_report: ImportReport | null }[]>`
        select status, import_report from campaign_runs where id = ${runId} and user_id = ${userId}`;
      return run === undefined ? null : { status: run.status, report: run.import_report };
    });
  }

  runStatus(userId: string, runId: string): Promise<RunView | null> {
    return traced('runStatus', idAttributes({ run_id: runId }), async () => {
      if (!isUuid(userId) || !isUuid(runId)) return null;
      const [run] = await this.#sql<RunRow[]>`
        select id, campaign_id, status, total_rows, valid, duplicates, rejected_rows, skipped, processed,
               personalized, needs_review, failed, suppressed, cancelled, cost_usd, research_cache_hits, error_message, created_at, updated_at, completed_at, sandbox,
               cancelled_at, paused_at,
               (select coalesce(jsonb_object_agg(d.consumer, jsonb_build_object(
                         'delivered_at', d.delivered_at, 'attempts', d.attempts, 'last_error', d.last_error, 'failed_at', d.failed_at)), '{}'::jsonb)
                from run_deliveries d where d.run_id = r.id) as deliveries
        from campaign_runs r
        where id = ${runId} and user_id = ${userId}`;
      if (run === undefined) return null;
      return {
        run_id: run.id,
        campaign_id: run.campaign_id,
        status: run.status,
        total_rows: run.total_rows,
        valid: run.valid,
        duplicates: run.duplicates,
        rejected_rows: run.rejected_rows,
        skipped: run.skipped,
        processed: run.processed,
        personalized: run.personalized,
        needs_review: run.needs_review,
        failed: run.failed,
        suppressed: run.suppressed,
        cancelled: run.cancelled,
        cost_usd: Number(run.cost_usd),
        research_cache_hits: run.research_cache_hits,
        error_message: run.error_message,
        created_at: run.created_at.toISOString(),
        updated_at: run.updated_at.toISOString(),
        completed_at: run.completed_at?.toISOString() ?? null,
        sandbox: run.sandbox,
        cancelled_at: run.cancelled_at?.toISOString() ?? null,
        paused_at: run.paused_at?.toISOString() ?? null,
        deliveries: Object.fromEntries(Object.entries(run.deliveries).map(([consumer, delivery]) => [consumer, isoTimes(delivery)])),
      };
    });
  }

  /**
   * Pages in row order (row number, then id), the order of the file: stable under concurrent
   * writes, each lead listed once, the cursor being the last lead's (row, id).
   */
  leads(userId: string, campaignId: string, page: LeadPageRequest): Promise<LeadPage | null> {
    return traced('leads', idAttributes({ campaign_id: campaignId }), async () => {
      assertLimit(page.limit);
      const after = page.cursor === undefined ? null : decodeRowCursor(page.cursor);
      if (!(await this.#ownsCampaign(userId, campaignId))) return null;
      if (page.runId !== undefined && !isUuid(page.runId)) return { leads: [], next_cursor: null };
      const sql = this.#sql;
      const statuses = [...new Set(page.statuses ?? [])];
      const rows = await sql<LeadRow[]>`
        select ${leadColumns(sql)}
        from leads l
        where l.campaign_id = ${campaignId} and l.user_id = ${userId}
          ${statusFilter(sql, statuses)}
          ${page.runId === undefined ? sql`` : sql`and l.run_id = ${page.runId}`}
          ${searchFilter(sql, page.q)}
          ${after === null ? sql`` : sql`and (l.row_number, l.id) > (${after.row}, ${after.id}::uuid)`}
        order by l.row_number, l.id
        limit ${page.limit + 1}`;
      const more = rows.length > page.limit;
      const leads = (more ? rows.slice(0, page.limit) : rows).map(toLeadView);
      const last = leads.at(-1);
      return { leads, next_cursor: more && last !== undefined ? encodeRowCursor(last.row, last.id) : null };
    });
  }

  /**
   * Settled leads in progress order, (progress_xid, progress_seq): see migration 0011. While the
   * run is live the list stops before the first lead that is not yet listable (ripe()), so that
   * a lead committing later never sorts before the cursor. Once the run has ended every lead of
   * it is settled and committed: no such stop.
   */
  settledLeads(userId: string, runId: string, after: string | null, limit: number): Promise<{ leads: readonly SettledLead[]; cursor: string | null }> {
    return traced('settledLeads', idAttributes({ run_id: runId }), async () => {
      assertLimit(limit);
      const position = after === null ? null : decodeProgress(after);
      if (!isUuid(userId) || !isUuid(runId)) return { leads: [], cursor: after };
      const sql = this.#sql;
      const rows = await sql<(SettledRow & { ripe: boolean })[]>`
        select ${leadColumns(sql)}, l.progress_xid::text as progress_xid, l.progress_seq::text as progress_seq, ${ripe(sql)} as ripe
        from campaign_runs r
        join leads l on l.run_id = r.id
        where r.id = ${runId} and r.user_id = ${userId} and l.progress_xid is not null
          ${position === null ? sql`` : sql`and (l.progress_xid, l.progress_seq) > (${position.xid}::text::xid8, ${position.seq}::text::bigint)`}
        order by l.progress_xid, l.progress_seq
        limit ${limit}`;
      const unripe = rows.findIndex((row) => !row.ripe);
      const leads = (unripe < 0 ? rows : rows.slice(0, unripe)).map(toSettledLead);
      return { leads, cursor: leads.at(-1)?.progress ?? after };
    });
  }

  latestSettledLeads(userId: string, runId: string, limit: number): Promise<{ leads: readonly SettledLead[]; before: string; earlier: boolean }> {
    return traced('latestSettledLeads', idAttributes({ run_id: runId }), async () => {
      assertLimit(limit);
      if (!isUuid(userId) || !isUuid(runId)) return { leads: [], before: PROGRESS_START, earlier: false };
      const sql = this.#sql;
      // The latest before the first lead not yet listable (few: the last moments' only), and one
      // more than asked: its position is where the feed goes on from, and it says whether any was left out.
      const rows = await sql<SettledRow[]>`
        with horizon as (
          select l.progress_xid, l.progress_seq
          from campaign_runs r
          join leads l on l.run_id = r.id
          where r.id = ${runId} and r.user_id = ${userId} and l.progress_xid is not null
            and l.progress_xid >= pg_snapshot_xmin(pg_current_snapshot()) and not ${ripe(sql)}
          order by l.progress_xid, l.progress_seq
          limit 1
        )
        select ${leadColumns(sql)}, l.progress_xid::text as progress_xid, l.progress_seq::text as progress_seq
        from campaign_runs r
        join leads l on l.run_id = r.id
        where r.id = ${runId} and r.user_id = ${userId} and l.progress_xid is not null
          and (not exists (select 1 from horizon) or (l.progress_xid, l.progress_seq) < (select h.progress_xid, h.progress_seq from horizon h))
        order by l.progress_xid desc, l.progress_seq desc
        limit ${limit + 1}`;
      const newest = rows.slice(0, limit).reverse().map(toSettledLead);
      const left = rows[limit];
      return { leads: newest, before: left === undefined ? PROGRESS_START : progressOf(left), earlier: left !== undefined };
    });
  }

  /**
   * The export: every lead of the campaign in its latest state (whichever run processed it last),
   * and the rows of the latest file read to the end that are not leads (rejected, duplicates),
   * merged in row order (see exportRows).
   *
   * The headers are the columns of the campaign's runs that still own leads, and of that latest
   * file, oldest run first, each header kept as many times as the file that repeats it most does:
   * the k-th column named H holds a row's k-th field named H. The rows stream later, in their own
   * queries: a run that adds leads while the export is read may bring columns that are not in `headers`.
   */
  exportLeads(userId: string, campaignId: string, request: ExportRequest = {}): Promise<CampaignExport | null> {
    return traced('exportLeads', idAttributes({ campaign_id: campaignId }), async () => {
      if (!isUuid(userId) || !isUuid(campaignId)) return null;
      const sql = this.#sql;
      const [campaign] = await sql<{ name: string }[]>`select name from campaigns where id = ${campaignId} and user_id = ${userId}`;
      if (campaign === undefined) return null;
      const onlyPersonalized = request.onlyPersonalized === true;
      // The latest run whose file was read to the end: its rows that are not leads. Bounded: the
      // cells they keep have a budget per file (KEPT_ROW_CHARS), so they are read at once.
      const [latest] = onlyPersonalized
        ? []
        : await sql<{ id: string; columns: ColumnMapping[] | null; import_rows: ImportRow[] }[]>`
            select r.id, r.columns, r.import_rows
            from campaign_runs r
            where r.campaign_id = ${campaignId} and r.user_id = ${userId} and r.import_rows is not null
            order by r.created_at desc, r.id desc
            limit 1`;
      const runs = await sql<{ columns: ColumnMapping[]; outputs: { name: string }[] | null }[]>`
        select r.columns, r.outputs
        from campaign_runs r
        where r.campaign_id = ${campaignId} and r.user_id = ${userId} and r.columns is not null
          and (exists (select 1 from leads l where l.run_id = r.id) or r.id = ${latest?.id ?? null}::uuid)
        order by r.created_at, r.id`;
      const [sandbox] = await sql<{ any: boolean }[]>`
        select exists (select 1 from campaign_runs r where r.campaign_id = ${campaignId} and r.user_id = ${userId} and r.sandbox) as any`;
      const importRows = latest === undefined ? [] : importRowViews(latest.id, latest.columns ?? [], latest.import_rows);
      return {
        campaign_name: campaign.name,
        headers: headerUnion(runs.map((run) => run.columns.map((column) => column.original))),
        outputs: [...new Set(runs.flatMap((run) => (run.outputs ?? []).map((output) => output.name)))],
        sandbox: sandbox?.any ?? false,
        rows: exportRows(streamLeads(sql, userId, campaignId, onlyPersonalized), importRows),
      };
    });
  }

  /**
   * Four small reads, each on an index: the run's counters, its unsettled researched leads
   * (leads_run_id_status_idx), the leads waiting for a retry (paid_call_claims_retrying_idx, few
   * rows) and its latest settled leads (leads_run_id_progress_idx).
   */
  runActivity(userId: string, runId: string): Promise<RunActivity | null> {
    return traced('runActivity', idAttributes({ run_id: runId }), async () => {
      if (!isUuid(userId) || !isUuid(runId)) return null;
      const sql = this.#sql;
      const [run] = await sql<{ created_at: Date; unsettled: number | null }[]>`
        select created_at,
               case when status in ('queued', 'extracting') and submitted_leads = 0 then null
                    else greatest(0, (case when status in ('queued', 'extracting') then submitted_leads else valid end) - skipped - processed - suppressed - cancelled)
               end as unsettled
        from campaign_runs where id = ${runId} and user_id = ${userId}`;
      if (run === undefined) return null;
      const [[researched], retrying, [recent]] = await Promise.all([
        sql<{ count: number }[]>`select count(*)::int as count from leads where run_id = ${runId} and status = 'researched'`,
        sql<{ stage: 'research' | 'personalization'; count: number }[]>`
          select c.stage, count(*)::int as count
          from paid_call_claims c join leads l on l.id = c.lead_id and l.run_id = c.run_id
          where c.run_id = ${runId} and c.failed_at is not null
            and l.status = case c.stage when 'research' then 'pending' else 'researched' end
          group by c.stage`,
        sql<{ settled: number; oldest: Date | null }[]>`
          select count(*)::int as settled, min(settled_at) as oldest
          from (
            select l.settled_at from leads l
            where l.run_id = ${runId} and l.progress_xid is not null
            order by l.progress_xid desc, l.progress_seq desc
            limit ${RECENT_SETTLED_SAMPLE}
          ) latest`,
      ]);
      const stage = (name: string) => retrying.find((row) => row.stage === name)?.count ?? 0;
      return {
        startedAt: run.created_at.getTime(),
        unsettled: run.unsettled,
        researched: researched?.count ?? 0,
        retrying: { research: stage('research'), personalization: stage('personalization') },
        recent:
          recent === undefined || recent.settled === 0 || recent.oldest === null
            ? null
            : { settled: recent.settled, oldestAt: recent.oldest.getTime(), all: recent.settled < RECENT_SETTLED_SAMPLE },
      };
    });
  }

  metrics(userId: string): Promise<MetricsView> {
    return traced('metrics', {}, async () => {
      const [row] = isUuid(userId)
        ? await this.#sql<{ leads_personalized: string; hours_saved: string; money_saved: string; updated_at: Date }[]>`
            select leads_personalized, hours_saved, money_saved, updated_at from client_metrics where user_id = ${userId}`
        : [];
      if (row === undefined) return { leads_personalized: 0, hours_saved: '0.00', money_saved: '0.00', updated_at: null };
      return {
        leads_personalized: Number(row.leads_personalized),
        hours_saved: row.hours_saved,
        money_saved: row.money_saved,
        updated_at: row.updated_at.toISOString(),
      };
    });
  }

  campaigns(userId: string, page: { q?: string; cursor?: string; limit: number }): Promise<{ campaigns: readonly CampaignSummary[]; next_cursor: string | null }> {
    return traced('campaigns', {}, () => listCampaigns(this.#sql, userId, page));
  }

  campaign(userId: string, campaignId: string): Promise<CampaignDetail | null> {
    return traced('campaign', idAttributes({ campaign_id: campaignId }), () => campaignDetail(this.#sql, userId, campaignId));
  }

  campaignRuns(userId: string, campaignId: string, page: { cursor?: string; limit: number }): Promise<{ runs: readonly CampaignRunView[]; next_cursor: string | null } | null> {
    return traced('campaignRuns', idAttributes({ campaign_id: campaignId }), () => listCampaignRuns(this.#sql, userId, campaignId, page));
  }

  async #ownsCampaign(userId: string, campaignId: string): Promise<boolean> {
    if (!isUuid(userId) || !isUuid(campaignId)) return false;
    const rows = await this.#sql`select 1 from campaigns where id = ${campaignId} and user_id = ${userId}`;
    return rows.length > 0;
  }
}

/**
 * Leads of the campaign in row order (row number, then id), optionally only the personalized
 * ones. One page per statement, on no connection in between: a slow download holds no
 * connection, and the statement timeout bounds each page's work rather than the client's
 * reading. Memory is one page, whatever the campaign. Pages are not one snapshot: a lead that a
 * run started meanwhile moves to another row (its new file's) may be met twice, or not at all.
 */
async function* streamLeads(sql: Sql, userId: string, campaignId: string, onlyPersonalized: boolean): AsyncGenerator<LeadView> {
  let after: { row: number; id: string } | null = null;
  for (;;) {
    const rows: LeadRow[] = await sql<LeadRow[]>`
      select ${leadColumns(sql)}
      from leads l
      where l.campaign_id = ${campaignId} and l.user_id = ${userId}
        ${onlyPersonalized ? sql`and l.status = 'personalized'` : sql``}
        ${after === null ? sql`` : sql`and (l.row_number, l.id) > (${after.row}, ${after.id}::uuid)`}
      order by l.row_number, l.id
      limit ${EXPORT_BATCH}`;
    for (const row of rows) yield toLeadView(row);
    const last = rows.at(-1);
    if (last === undefined || rows.length < EXPORT_BATCH) return;
    after = { row: last.row_number, id: last.id };
  }
}

/** The leads and the rows that are not leads, merged by row number (a lead first on a tie: rows of two files). */
async function* exportRows(leads: AsyncIterable<LeadView>, importRows: readonly ImportRowView[]): AsyncGenerator<ExportRow> {
  let next = 0;
  for await (const lead of leads) {
    for (; next < importRows.length && importRows[next]!.row < lead.row; next += 1) yield { kind: 'import_row', row: importRows[next]! };
    yield { kind: 'lead', lead };
  }
  for (; next < importRows.length; next += 1) yield { kind: 'import_row', row: importRows[next]! };
}

/** A run's stored rows that are not leads, their cells under the run's headers, in row order. */
function importRowViews(runId: string, columns: readonly ColumnMapping[], rows: readonly ImportRow[]): ImportRowView[] {
  const headers = columns.map((column) => column.original);
  return rows
    .map((row) => ({
      run_id: runId,
      row: row.row,
      status: row.status,
      reason: row.reason,
      fields: row.cells === null ? [] : headers.map((header, index) => [header, row.cells?.[index] ?? ''] as const),
    }))
    .sort((a, b) => a.row - b.row);
}

/** Union of the runs' headers in order of first appearance, repeated headers kept (see exportLeads). */
export function headerUnion(runs: readonly (readonly string[])[]): string[] {
  const headers: string[] = [];
  const kept = new Map<string, number>();
  for (const columns of runs) {
    const seen = new Map<string, number>();
    for (const header of columns) {
      const occurrence = (seen.get(header) ?? 0) + 1;
      seen.set(header, occurrence);
      if (occurrence > (kept.get(header) ?? 0)) {
        kept.set(header, occurrence);
        headers.push(header);
      }
    }
  }
  return headers;
}

function leadColumns(sql: Sql) {
  return sql`
    l.id, l.run_id, l.row_number, l.email, l.company, l.canonical, l.fields, l.status, l.research,
    l.citations, l.research_cached, l.message, l.message_basis, l.error, l.attempts, l.model, l.research_model, l.cost_usd,
    l.outputs, l.updated_at, l.settled_at,
    coalesce((select r_.sandbox from campaign_runs r_ where r_.id = l.run_id), false) as sandbox`;
}

/** Leads in one of `statuses` (one: an equality, which keeps the status index's row order). */
function statusFilter(sql: Sql, statuses: readonly LeadStatus[]) {
  if (statuses.length === 0) return sql``;
  if (statuses.length === 1) return sql`and l.status = ${statuses[0]!}`;
  return sql`and l.status = any(${[...statuses]}::text[])`;
}

/**
 * Leads whose email, company, name or line contains `q`, ignoring case: strpos, so that `%` and `_`
 * are plain characters; both sides lowered by PostgreSQL (JavaScript's toLowerCase differs from
 * it outside ASCII, e.g. a final sigma). A scan of the campaign's leads in row order, as the page
 * reads them: it stops at the page's end, so a common term is cheap and a term no lead holds reads
 * every lead of the campaign (about 0.3 s for 100,000 on the test machine; see README).
 */
function searchFilter(sql: Sql, q: string | undefined) {
  const term = q?.trim() ?? '';
  if (term === '') return sql``;
  return sql`and strpos(lower(concat_ws(' ', l.email, l.company, l.canonical->>'first_name', l.canonical->>'last_name', l.canonical->>'full_name', l.message)), lower(${term})) > 0`;
}

function toLeadView(row: LeadRow): LeadView {
  return {
    id: row.id,
    run_id: row.run_id,
    row: row.row_number,
    email: row.email,
    company: row.company,
    canonical: row.canonical,
    fields: row.fields,
    status: row.status,
    research: row.research,
    citations: row.citations ?? [],
    research_cached: row.research_cached,
    message: row.message,
    outputs: row.outputs ?? {},
    message_basis: row.message_basis,
    error: row.error,
    attempts: row.attempts,
    model: row.model,
    research_model: row.research_model,
    // numeric(12,6) as text, so the nearest double prints back as the same 6-decimal amount.
    cost_usd: Number(row.cost_usd),
    sandbox: row.sandbox,
    updated_at: row.updated_at.toISOString(),
    settled_at: row.settled_at?.toISOString() ?? null,
  };
}

function assertLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
}

// Cursors are opaque to clients (base64url), and checked when they come back.

function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError();
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/** A results cursor: the last lead's row number and id, `<row>:<id>`. */
function encodeRowCursor(row: number, id: string): string {
  return encodeCursor(`${row}:${id}`);
}

function decodeRowCursor(cursor: string): { row: number; id: string } {
  const match = /^(\d{1,10}):(.+)$/.exec(decodeCursor(cursor));
  const row = Number(match?.[1]);
  const id = match?.[2] ?? '';
  if (match === null || row > 2_147_483_647 || !isUuid(id)) throw new InvalidCursorError();
  return { row, id };
}

/** `<transaction id>-<sequence value>`, both decimal: a lead's place in its run's progress feed. */
const PROGRESS = /^(\d{1,20})-(\d{1,19})$/;

function decodeProgress(cursor: string): { xid: string; seq: string } {
  const match = PROGRESS.exec(cursor);
  if (match === null || BigInt(match[1]!) >= 2n ** 64n || BigInt(match[2]!) >= 2n ** 63n) throw new InvalidCursorError();
  return { xid: match[1]!, seq: match[2]! };
}

interface SettledRow extends LeadRow {
  /** xid8 and bigint, as text. */
  progress_xid: string;
  progress_seq: string;
}

function progressOf(row: SettledRow): string {
  return `${row.progress_xid}-${row.progress_seq}`;
}

function toSettledLead(row: SettledRow): SettledLead {
  return { ...toLeadView(row), progress: progressOf(row) };
}

/**
 * Whether a settled lead of the run may be listed yet, in progress order, without a gap: once
 * the run has ended (a cancelled one once the calls in flight at its cancel settled), always; while it is live, when its settling transaction is older than every
 * transaction still in progress, so that none still to commit can sort before it (see migration
 * 0011). A transaction left open anywhere in the cluster holds that back: after
 * UNRIPE_LIMIT a lead is listed all the same, so that such a transaction delays the feed
 * rather than stopping it (a lead of this run settled by a transaction open that long would then
 * be missed by the live stream, not by the results or the export).
 */
function ripe(sql: Sql) {
  return sql`(r.status in ('completed', 'failed') or (r.status = 'cancelled' and r.completed_at is not null)
    or l.progress_xid < pg_snapshot_xmin(pg_current_snapshot())
    or l.settled_at < now() - ${UNRIPE_LIMIT}::interval)`;
}
