/**
 * The campaign list, one campaign, and a campaign's runs (ports/campaign-queries.port.ts
 * CampaignListQueries), for PostgresCampaignQueries. Every query is scoped by the caller's user id.
 *
 * Pages are keyset pages, newest first, by (created_at, id): stable while campaigns and runs are
 * added (a new one sorts before the first page, never into a later one) or erased.
 */
import type { LeadStatus, RunStatus } from '../../../domain/campaigns/run.ts';
import {
  InvalidCursorError,
  type CampaignDetail,
  type CampaignRunView,
  type CampaignSummary,
  type LeadCounts,
  type RunCounters,
  type RunSummary,
} from '../../../ports/campaign-queries.port.ts';
import type { Sql } from '../client.ts';
import { isUuid } from '../sql.ts';

/** Where each lead status is counted. ('researching', allowed by 0002's check, is never written: pending.) */
const COUNTED_AS: Readonly<Record<LeadStatus, Exclude<keyof LeadCounts, 'total'>>> = {
  pending: 'pending',
  researched: 'pending',
  personalized: 'personalized',
  needs_review: 'needs_review',
  failed: 'failed',
  suppressed: 'suppressed',
  cancelled: 'cancelled',
};

/** A run's row: its counters (as the status shows them) and the rest. */
interface RunRow extends RunCounters {
  id: string;
  status: RunStatus;
  demo: boolean;
  file_name: string | null;
  /** numeric as text. */
  cost_usd: string;
  error_message: string | null;
  /** jsonb gives PostgreSQL's timestamp text. */
  created_at: string | Date;
  updated_at: string | Date;
  completed_at: string | Date | null;
}

interface CampaignRow {
  id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
  /** Microseconds since the epoch, as text: the cursor (a Date would round them away). */
  created_us: string;
  run_count: number;
  cost_usd: string;
  /** Lead counts by status. */
  statuses: Record<string, number>;
  last_run: RunRow | null;
}

interface CampaignDetailRow extends CampaignRow {
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
  options: Record<string, string>;
}

interface CampaignRunRow extends RunRow {
  created_us: string;
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
}

const RUN_COLUMNS = [
  'id',
  'status',
  'demo',
  'file_name',
  'total_rows',
  'valid',
  'duplicates',
  'rejected_rows',
  'skipped',
  'processed',
  'personalized',
  'needs_review',
  'failed',
  'suppressed',
  'cancelled',
  'cost_usd',
  'error_message',
  'created_at',
  'updated_at',
  'completed_at',
] as const;

export async function listCampaigns(
  sql: Sql,
  userId: string,
  page: { q?: string; cursor?: string; limit: number },
): Promise<{ campaigns: readonly CampaignSummary[]; next_cursor: string | null }> {
  assertLimit(page.limit);
  const after = page.cursor === undefined ? null : decodeKeyset(page.cursor);
  if (!isUuid(userId)) return { campaigns: [], next_cursor: null };
  const q = page.q?.trim() ?? '';
  const rows = await sql<CampaignRow[]>`
    select ${campaignColumns(sql)}
    from campaigns c
    where c.user_id = ${userId}
      ${q === '' ? sql`` : sql`and c.name ilike ${`%${escapeLike(q)}%`} escape '\\'`}
      ${after === null ? sql`` : sql`and (c.created_at, c.id) < (${epochPlus(sql, after.us)}, ${after.id}::uuid)`}
    order by c.created_at desc, c.id desc
    limit ${page.limit + 1}`;
  const more = rows.length > page.limit;
  const shown = more ? rows.slice(0, page.limit) : rows;
  const last = shown.at(-1);
  return { campaigns: shown.map(toCampaignSummary), next_cursor: more && last !== undefined ? encodeKeyset(last.created_us, last.id) : null };
}

export async function campaignDetail(sql: Sql, userId: string, campaignId: string): Promise<CampaignDetail | null> {
  if (!isUuid(userId) || !isUuid(campaignId)) return null;
  const [row] = await sql<CampaignDetailRow[]>`
    select ${campaignColumns(sql)}, c.research_prompt, c.personalization_prompt, c.allow_questions, c.options
    from campaigns c
    where c.id = ${campaignId} and c.user_id = ${userId}`;
  if (row === undefined) return null;
  return {
    ...toCampaignSummary(row),
    research_prompt: row.research_prompt,
    personalization_prompt: row.personalization_prompt,
    allow_questions: row.allow_questions,
    options: row.options,
  };
}

export async function listCampaignRuns(
  sql: Sql,
  userId: string,
  campaignId: string,
  page: { cursor?: string; limit: number },
): Promise<{ runs: readonly CampaignRunView[]; next_cursor: string | null } | null> {
  assertLimit(page.limit);
  const after = page.cursor === undefined ? null : decodeKeyset(page.cursor);
  if (!isUuid(userId) || !isUuid(campaignId)) return null;
  const [campaign] = await sql`select 1 from campaigns where id = ${campaignId} and user_id = ${userId}`;
  if (campaign === undefined) return null;
  const rows = await sql<CampaignRunRow[]>`
    select ${sql(RUN_COLUMNS.map((column) => `r.${column}`))}, ${createdMicros(sql, 'r')} as created_us,
           r.research_prompt, r.personalization_prompt, r.allow_questions
    from campaign_runs r
    where r.campaign_id = ${campaignId} and r.user_id = ${userId}
      ${after === null ? sql`` : sql`and (r.created_at, r.id) < (${epochPlus(sql, after.us)}, ${after.id}::uuid)`}
    order by r.created_at desc, r.id desc
    limit ${page.limit + 1}`;
  const more = rows.length > page.limit;
  const shown = more ? rows.slice(0, page.limit) : rows;
  const last = shown.at(-1);
  return {
    runs: shown.map((row) => ({
      ...toRunSummary(row),
      research_prompt: row.research_prompt,
      personalization_prompt: row.personalization_prompt,
      allow_questions: row.allow_questions,
    })),
    next_cursor: more && last !== undefined ? encodeKeyset(last.created_us, last.id) : null,
  };
}

/**
 * A campaign with its lead counts (an index-only count of its leads by status), its runs' number
 * and cost, and its newest run.
 */
function campaignColumns(sql: Sql) {
  return sql`
    c.id, c.name, c.created_at, c.updated_at, ${createdMicros(sql, 'c')} as created_us,
    (select count(*)::int from campaign_runs r where r.campaign_id = c.id) as run_count,
    (select coalesce(sum(r.cost_usd), 0)::text from campaign_runs r where r.campaign_id = c.id) as cost_usd,
    (select coalesce(jsonb_object_agg(s.status, s.n), '{}'::jsonb)
       from (select l.status, count(*)::int as n from leads l where l.campaign_id = c.id group by l.status) s) as statuses,
    (select jsonb_build_object(${sql.unsafe(RUN_COLUMNS.map((column) => `'${column}', r.${column}`).join(', '))})
       from campaign_runs r where r.campaign_id = c.id
       order by r.created_at desc, r.id desc limit 1) as last_run`;
}

function createdMicros(sql: Sql, table: 'c' | 'r') {
  return sql`(extract(epoch from ${sql(`${table}.created_at`)}) * 1000000)::bigint::text`;
}

/** The cursor's time back as a timestamptz, exactly (integer microseconds, no floating point). */
function epochPlus(sql: Sql, micros: string) {
  return sql`(timestamptz 'epoch' + ${micros}::bigint * interval '1 microsecond')`;
}

function toCampaignSummary(row: CampaignRow): CampaignSummary {
  return {
    id: row.id,
    name: row.name,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    run_count: row.run_count,
    counts: leadCounts(row.statuses),
    cost_usd: Number(row.cost_usd),
    last_run: row.last_run === null ? null : toRunSummary(row.last_run),
  };
}

function leadCounts(statuses: Readonly<Record<string, number>>): LeadCounts {
  const counts = { total: 0, pending: 0, personalized: 0, needs_review: 0, failed: 0, suppressed: 0, cancelled: 0 };
  for (const [status, n] of Object.entries(statuses)) {
    counts.total += n;
    counts[COUNTED_AS[status as LeadStatus] ?? 'pending'] += n;
  }
  return counts;
}

function toRunSummary(row: RunRow): RunSummary {
  const iso = (time: string | Date) => new Date(time).toISOString();
  return {
    id: row.id,
    status: row.status,
    demo: row.demo,
    file_name: row.file_name,
    counters: {
      total_rows: row.total_rows,
      valid: row.valid,
      duplicates: row.duplicates,
      rejected_rows: row.rejected_rows,
      skipped: row.skipped,
      processed: row.processed,
      personalized: row.personalized,
      needs_review: row.needs_review,
      failed: row.failed,
      suppressed: row.suppressed,
      cancelled: row.cancelled,
    },
    // jsonb gives numeric as a JSON number already; the column as text.
    cost_usd: Number(row.cost_usd),
    error_message: row.error_message,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    completed_at: row.completed_at === null ? null : iso(row.completed_at),
  };
}

/** `\`, `%` and `_` stand for themselves in the name filter. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

function assertLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
}

/** Opaque to clients (base64url of `<microseconds>.<id>`), and checked when it comes back. */
function encodeKeyset(micros: string, id: string): string {
  return Buffer.from(`${micros}.${id}`, 'utf8').toString('base64url');
}

function decodeKeyset(cursor: string): { us: string; id: string } {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new InvalidCursorError();
  const match = /^(-?\d{1,19})\.([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match === null || !isUuid(match[2]!) || BigInt(match[1]!) >= 2n ** 63n || BigInt(match[1]!) < -(2n ** 63n)) throw new InvalidCursorError();
  return { us: match[1]!, id: match[2]! };
}
