/**
 * The HTTP edge's reads of the campaign store. Every query is scoped by the caller's user id: a
 * run or campaign of another user reads exactly like one that does not exist.
 */
import type { LeadStatus, RunStatus } from '../../../domain/campaigns/run.ts';
import type { ColumnMapping, ImportReport } from '../../../domain/leads/lead.ts';
import {
  InvalidCursorError,
  type CampaignQueries,
  type LeadPage,
  type LeadView,
  type DeliveryView,
  type MetricsView,
  type RunView,
  type SettledLead,
  PROGRESS_START,
} from '../../../ports/campaign-queries.port.ts';
import type { Sql } from '../client.ts';
import { isUuid } from '../sql.ts';
import { traced } from '../traced.ts';

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

interface RunRow {
  id: string;
  campaign_id: string;
  status: RunView['status'];
  total_rows: number;
  valid: number;
  duplicates: number;
  rejected_rows: number;
  skipped: number;
  processed: number;
  personalized: number;
  needs_review: number;
  failed: number;
  cancelled: number;
  /** numeric comes back as a decimal string. */
  cost_usd: string;
  error_message: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
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
  message: string | null;
  error: string | null;
  attempts: number;
  model: string | null;
  cost_usd: string;
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
               personalized, needs_review, failed, cancelled, cost_usd, error_message, created_at, updated_at, completed_at,
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
        cancelled: run.cancelled,
        cost_usd: Number(run.cost_usd),
        error_message: run.error_message,
        created_at: run.created_at.toISOString(),
        updated_at: run.updated_at.toISOString(),
        completed_at: run.completed_at?.toISOString() ?? null,
        cancelled_at: run.cancelled_at?.toISOString() ?? null,
        paused_at: run.paused_at?.toISOString() ?? null,
        deliveries: Object.fromEntries(Object.entries(run.deliveries).map(([consumer, delivery]) => [consumer, isoTimes(delivery)])),
      };
    });
  }

  /** Pages in lead id order: stable under concurrent writes, and each lead is listed once. */
  leads(userId: string, campaignId: string, page: { status?: LeadStatus; cursor?: string; limit: number }): Promise<LeadPage | null> {
    return traced('leads', idAttributes({ campaign_id: campaignId }), async () => {
      assertLimit(page.limit);
      const after = page.cursor === undefined ? null : decodeLeadCursor(page.cursor);
      if (!(await this.#ownsCampaign(userId, campaignId))) return null;
      const sql = this.#sql;
      const rows = await sql<LeadRow[]>`
        select ${leadColumns(sql)}
        from leads l
        where l.campaign_id = ${campaignId} and l.user_id = ${userId}
          ${page.status === undefined ? sql`` : sql`and l.status = ${page.status}`}
          ${after === null ? sql`` : sql`and l.id > ${after}`}
        order by l.id
        limit ${page.limit + 1}`;
      const more = rows.length > page.limit;
      const leads = (more ? rows.slice(0, page.limit) : rows).map(toLeadView);
      const last = leads.at(-1);
      return { leads, next_cursor: more && last !== undefined ? encodeCursor(last.id) : null };
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
   * The headers are the campaign's runs' columns, oldest run first, each header kept as many times
   * as the file that repeats it most does: the k-th column named H holds a lead's k-th field named H.
   * Only runs that still own leads contribute. The leads stream later, in their own query: a run
   * that adds leads while the export is read may bring columns that are not in `headers`.
   */
  exportLeads(userId: string, campaignId: string): Promise<{ headers: readonly string[]; leads: AsyncIterable<LeadView> } | null> {
    return traced('exportLeads', idAttributes({ campaign_id: campaignId }), async () => {
      if (!(await this.#ownsCampaign(userId, campaignId))) return null;
      const sql = this.#sql;
      const runs = await sql<{ columns: ColumnMapping[] }[]>`
        select r.columns
        from campaign_runs r
        where r.campaign_id = ${campaignId} and r.user_id = ${userId} and r.columns is not null
          and exists (select 1 from leads l where l.run_id = r.id)
        order by r.created_at, r.id`;
      return { headers: headerUnion(runs.map((run) => run.columns.map((column) => column.original))), leads: streamLeads(sql, userId, campaignId) };
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

  async #ownsCampaign(userId: string, campaignId: string): Promise<boolean> {
    if (!isUuid(userId) || !isUuid(campaignId)) return false;
    const rows = await this.#sql`select 1 from campaigns where id = ${campaignId} and user_id = ${userId}`;
    return rows.length > 0;
  }
}

/**
 * Leads of the campaign in campaign order: by run, oldest first, then by row of the run's file.
 * One page per statement, on no connection in between: a slow download holds no connection, and
 * the statement timeout bounds each page's work rather than the client's reading. Pages are not
 * one snapshot, so a lead a newer run takes over while the export is read may be met twice (once
 * under each run): it is given once, under the first. Runs created meanwhile are read too.
 */
async function* streamLeads(sql: Sql, userId: string, campaignId: string): AsyncGenerator<LeadView> {
  const given = new Set<string>();
  // created_at as text, both ways: a JS Date (and the driver's timestamptz parameter) would round its
  // microseconds, and the run would come again.
  let lastRun: { created_at: string; id: string } | null = null;
  for (;;) {
    const runs: { created_at: string; id: string }[] = await sql<{ created_at: string; id: string }[]>`
      select r.created_at::text as created_at, r.id
      from campaign_runs r
      where r.campaign_id = ${campaignId} and r.user_id = ${userId}
        ${lastRun === null ? sql`` : sql`and (r.created_at, r.id) > (${lastRun.created_at}::text::timestamptz, ${lastRun.id}::uuid)`}
      order by r.created_at, r.id`;
    if (runs.length === 0) return;
    for (const run of runs) {
      let after: { row: number; id: string } | null = null;
      for (;;) {
        const rows: LeadRow[] = await sql<LeadRow[]>`
          select ${leadColumns(sql)}
          from leads l
          where l.run_id = ${run.id} and l.campaign_id = ${campaignId} and l.user_id = ${userId}
            ${after === null ? sql`` : sql`and (l.row_number, l.id) > (${after.row}, ${after.id}::uuid)`}
          order by l.row_number, l.id
          limit ${EXPORT_BATCH}`;
        for (const row of rows) {
          if (given.has(row.id)) continue;
          given.add(row.id);
          yield toLeadView(row);
        }
        const last = rows.at(-1);
        if (last === undefined || rows.length < EXPORT_BATCH) break;
        after = { row: last.row_number, id: last.id };
      }
      lastRun = run;
    }
  }
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
    l.citations, l.message, l.error, l.attempts, l.model, l.cost_usd, l.updated_at, l.settled_at`;
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
    message: row.message,
    error: row.error,
    attempts: row.attempts,
    model: row.model,
    // numeric(12,6) as text, so the nearest double prints back as the same 6-decimal amount.
    cost_usd: Number(row.cost_usd),
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

function decodeLeadCursor(cursor: string): string {
  const id = decodeCursor(cursor);
  if (!isUuid(id)) throw new InvalidCursorError();
  return id;
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
