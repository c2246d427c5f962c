/** The HTTP edge's reads: campaigns and their runs, a run's status, a campaign's leads, the live progress feed, the export and the KPIs. */
import type { ImportReport, ImportRowStatus } from '../domain/leads/lead.ts';
import type { LeadStatus, RunStatus } from '../domain/campaigns/run.ts';

export interface RunView extends RunCounters {
  readonly run_id: string;
  readonly campaign_id: string;
  readonly status: RunStatus;
  /** USD spent on the run's counted leads, rounded to 6 decimals (a JSON number). */
  readonly cost_usd: number;
  /**
   * Counted leads whose research this run did not pay for: another lead's call for the same company
   * (research once per company), or the lead's own stored research reused by a re-run.
   */
  readonly research_cache_hits: number;
  readonly error_message: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  /** When the run ended; a cancelled run ends once the calls in flight at its cancel are settled. */
  readonly completed_at: string | null;
  /** Made on the in-process sandbox (PROVIDERS=sandbox): made-up output at $0, not in the KPIs. */
  readonly sandbox: boolean;
  /** When its owner cancelled the run; null unless cancelled. */
  readonly cancelled_at: string | null;
  /** When its owner paused the run; null unless it is paused now. */
  readonly paused_at: string | null;
  /** The run's deliveries to the outside world, by consumer (e.g. `webhook`); the status shows each under its name. */
  readonly deliveries: Readonly<Record<string, DeliveryView>>;
}

/** A delivery's progress, as its run's owner reads it. */
export interface DeliveryView {
  readonly delivered_at: string | null;
  readonly attempts: number;
  /** Why the last attempt failed; null after a success. */
  readonly last_error: string | null;
  /** When the consumer gave up trying; null unless it did. */
  readonly failed_at: string | null;
}

export interface LeadView {
  readonly id: string;
  readonly run_id: string;
  readonly row: number;
  readonly email: string;
  readonly company: string;
  readonly canonical: Readonly<Record<string, string>>;
  readonly fields: readonly (readonly [header: string, value: string])[];
  readonly status: LeadStatus;
  readonly research: string | null;
  readonly citations: readonly { url: string; title?: string }[];
  /** The research was not paid for by this lead in its run (its company's, or its own reused): its research cost is 0. */
  readonly research_cached: boolean;
  readonly message: string | null;
  /** The custom outputs written with the line, by name (`{}` when the run asked for none, or none is written yet). */
  readonly outputs: Readonly<Record<string, string>>;
  /** The fact of the research the line relies on, as the writer named it. */
  readonly message_basis: string | null;
  readonly error: string | null;
  readonly attempts: number;
  /** The model that wrote the line. */
  readonly model: string | null;
  /** The model that did the research. */
  readonly research_model: string | null;
  /** USD spent on the lead's provider calls, rounded to 6 decimals (a JSON number). */
  readonly cost_usd: number;
  /** Its run was made on the in-process sandbox (see RunView). */
  readonly sandbox: boolean;
  readonly updated_at: string;
  readonly settled_at: string | null;
}

/** A settled lead with its place in the run's progress feed. */
export interface SettledLead extends LeadView {
  /**
   * Opaque, ordered within the run, the same in every process: the live stream's event id, which
   * a client hands back as `Last-Event-ID` to resume exactly after this lead.
   */
  readonly progress: string;
}

/** The progress position before any lead: resuming after it gives every settled lead. */
export const PROGRESS_START = '0-0';

export interface LeadPage {
  readonly leads: readonly LeadView[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly next_cursor: string | null;
}

/** What a run in progress is doing, for its estimate and notices (domain/campaigns/run-pace.ts). */
export interface RunActivity {
  /** Epoch ms the run was created. */
  readonly startedAt: number;
  /** Leads not settled yet (those of a file still being read included); null while not known. */
  readonly unsettled: number | null;
  /** Of those, the ones researched already: they wait for their line only. */
  readonly researched: number;
  /** Leads waiting for a retry after a failed call, by stage. */
  readonly retrying: { readonly research: number; readonly personalization: number };
  /**
   * The run's latest settled leads (at most RECENT_SETTLED_SAMPLE): how many, when the oldest of
   * them settled (epoch ms), and whether they are all it has settled; null before the first.
   */
  readonly recent: { readonly settled: number; readonly oldestAt: number; readonly all: boolean } | null;
}

/** How many of a run's latest settled leads its settle rate is taken from. */
export const RECENT_SETTLED_SAMPLE = 50;
/** What results list: a page of a campaign's leads, in row order. */
export interface LeadPageRequest {
  /** Only leads in one of these statuses (all when absent or empty). */
  readonly statuses?: readonly LeadStatus[];
  /** Only leads last processed by this run. */
  readonly runId?: string;
  /** Only leads whose email, company, name or line contains it, ignoring case. */
  readonly q?: string;
  readonly cursor?: string;
  readonly limit: number;
}

/** A row of the run's file that is not a lead (rejected, or a duplicate of an earlier row), as an export gives it back. */
export interface ImportRowView {
  readonly run_id: string;
  readonly row: number;
  readonly status: ImportRowStatus;
  readonly reason: string;
  /** The row's original cells by header, in file order; empty when the import did not keep them. */
  readonly fields: readonly (readonly [header: string, value: string])[];
}

/** One row of an export: a lead in its latest state, or a row of the file that is not a lead. */
export type ExportRow = { readonly kind: 'lead'; readonly lead: LeadView } | { readonly kind: 'import_row'; readonly row: ImportRowView };

export interface CampaignExport {
  readonly campaign_name: string;
  /** The original headers in order (a header may repeat, as in the file). */
  readonly headers: readonly string[];
  /** The names of the custom outputs its runs asked for, in order of first appearance. */
  readonly outputs: readonly string[];
  /** Some run of the campaign was made on the sandbox (PROVIDERS=sandbox). */
  readonly sandbox: boolean;
  readonly rows: AsyncIterable<ExportRow>;
}

export interface ExportRequest {
  /** Only personalized leads (and no row that is not a lead). */
  readonly onlyPersonalized?: boolean;
}

export interface MetricsView {
  readonly leads_personalized: number;
  /** Decimal strings: exact, as stored (numeric). */
  readonly hours_saved: string;
  readonly money_saved: string;
  readonly updated_at: string | null;
}

/** A page cursor this store did not hand out (mangled, or from another listing): a client error. */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

export interface CampaignQueries extends CampaignListQueries {
  /** null when the run does not exist or is not the user's. */
  runStatus(userId: string, runId: string): Promise<RunView | null>;
  /**
   * The run's import report (every rejected row and why), once extraction has read its file
   * (`report` null before); null when the run does not exist or is not the user's.
   */
  importReport(userId: string, runId: string): Promise<{ readonly status: RunStatus; readonly report: ImportReport | null } | null>;
  /**
   * A page of the campaign's leads in row order (row number, then id); null when the campaign
   * does not exist or is not the user's; `InvalidCursorError` for a bad cursor.
   */
  leads(userId: string, campaignId: string, page: LeadPageRequest): Promise<LeadPage | null>;
  /**
   * Leads of a run settled after `after` (a `progress` from an earlier call, or null for the
   * start), in progress order; the returned cursor is `after` again when there is nothing new.
   * A lead is listed once every lead before it in that order is listed too: one settled by a
   * transaction not yet committed everywhere waits, so that a cursor never passes a lead.
   * `InvalidCursorError` for a bad cursor.
   */
  settledLeads(userId: string, runId: string, after: string | null, limit: number): Promise<{ leads: readonly SettledLead[]; cursor: string | null }>;
  /**
   * The run's `limit` latest settled leads, in progress order, with `before`: the progress just
   * before the first of them (`PROGRESS_START` when none is left out), and whether earlier ones
   * were left out.
   */
  latestSettledLeads(userId: string, runId: string, limit: number): Promise<{ leads: readonly SettledLead[]; before: string; earlier: boolean }>;
  /**
   * Every lead of the campaign in its latest state and the rows of the latest file that are not
   * leads, in row order, with the union of the original headers in order of first appearance, the
   * union of the names of the custom outputs its runs asked for (likewise), and whether any of its
   * runs was made on the sandbox; null when the campaign is not the user's.
   */
  exportLeads(userId: string, campaignId: string, request?: ExportRequest): Promise<CampaignExport | null>;
  /** What the run is doing now (see RunActivity); null when the run does not exist or is not the user's. */
  runActivity(userId: string, runId: string): Promise<RunActivity | null>;
  metrics(userId: string): Promise<MetricsView>;
}

// ── Campaigns and their runs, as their owner lists them ────────────────────────────────────

/** A campaign's leads by where they stand (each lead once, under the run that last took it). */
export interface LeadCounts {
  readonly total: number;
  /** Not settled yet: waiting for research or for its line. */
  readonly pending: number;
  readonly personalized: number;
  readonly needs_review: number;
  readonly failed: number;
  /** Ended before any paid call: on the user's suppression list, or personalized in another campaign lately. */
  readonly suppressed: number;
  /** Ended without their work done: their run was cancelled first. */
  readonly cancelled: number;
}

/** A run's counters, as its status shows them. */
export interface RunCounters {
  readonly total_rows: number;
  readonly valid: number;
  readonly duplicates: number;
  readonly rejected_rows: number;
  readonly skipped: number;
  readonly processed: number;
  readonly personalized: number;
  /** Leads whose draft failed the quality gates twice: kept for review, not counted as personalized. */
  readonly needs_review: number;
  readonly failed: number;
  /** Leads that ended `suppressed` (the owner's suppression list, or personalized recently in another campaign): no call made. */
  readonly suppressed: number;
  /**
   * Leads the run's cancel left unsettled: not processed (not in `processed`), charged only what
   * was paid for them before the cancel. valid = skipped + suppressed + processed + cancelled once it has ended.
   */
  readonly cancelled: number;
}

/** A run in a list: a campaign's last run, or one of its runs. */
export interface RunSummary {
  readonly id: string;
  readonly status: RunStatus;
  readonly demo: boolean;
  /** The uploaded file's name. */
  readonly file_name: string | null;
  readonly counters: RunCounters;
  /** USD spent on the run's counted leads (a JSON number, 6 decimals at most). */
  readonly cost_usd: number;
  readonly error_message: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly completed_at: string | null;
}

/** A run of the campaign's list of runs: with the settings it was run with. */
export interface CampaignRunView extends RunSummary {
  readonly research_prompt: string | null;
  readonly personalization_prompt: string | null;
  readonly allow_questions: boolean;
}

export interface CampaignSummary {
  readonly id: string;
  readonly name: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly run_count: number;
  readonly counts: LeadCounts;
  /** USD spent on the campaign: the sum of its runs' costs. */
  readonly cost_usd: number;
  /** The newest run; null for a campaign with none (every run of it gone). */
  readonly last_run: RunSummary | null;
}

/** A campaign with the settings its next runs use. */
export interface CampaignDetail extends CampaignSummary {
  readonly research_prompt: string | null;
  readonly personalization_prompt: string | null;
  readonly allow_questions: boolean;
  /** The campaign options consumers declared (e.g. `webhook_url`), as stored. */
  readonly options: Readonly<Record<string, string>>;
}

export interface CampaignListQueries {
  /**
   * One page of the user's campaigns, newest first; `q` keeps those whose name contains it (any
   * case; `%` and `_` are plain characters). `InvalidCursorError` for a bad cursor.
   */
  campaigns(userId: string, page: { q?: string; cursor?: string; limit: number }): Promise<{ campaigns: readonly CampaignSummary[]; next_cursor: string | null }>;
  /** null when the campaign does not exist or is not the user's. */
  campaign(userId: string, campaignId: string): Promise<CampaignDetail | null>;
  /**
   * One page of the campaign's runs, newest first; null when the campaign is not the user's.
   * `InvalidCursorError` for a bad cursor.
   */
  campaignRuns(userId: string, campaignId: string, page: { cursor?: string; limit: number }): Promise<{ runs: readonly CampaignRunView[]; next_cursor: string | null } | null>;
}
