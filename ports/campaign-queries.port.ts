/** The HTTP edge's reads: a run's status, a campaign's leads, the live progress feed, the export and the KPIs. */
import type { ImportReport } from '../domain/leads/lead.ts';
import type { LeadStatus, RunStatus } from '../domain/campaigns/run.ts';

export interface RunView {
  readonly run_id: string;
  readonly campaign_id: string;
  readonly status: RunStatus;
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
  /**
   * Leads the run's cancel left unsettled: not processed (not in `processed`), charged only what
   * was paid for them before the cancel. valid = skipped + processed + cancelled once it has ended.
   */
  readonly cancelled: number;
  /** USD spent on the run's counted leads, rounded to 6 decimals (a JSON number). */
  readonly cost_usd: number;
  readonly error_message: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  /** When the run ended; a cancelled run ends once the calls in flight at its cancel are settled. */
  readonly completed_at: string | null;
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
  readonly message: string | null;
  readonly error: string | null;
  readonly attempts: number;
  readonly model: string | null;
  /** USD spent on the lead's provider calls, rounded to 6 decimals (a JSON number). */
  readonly cost_usd: number;
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

export interface CampaignQueries {
  /** null when the run does not exist or is not the user's. */
  runStatus(userId: string, runId: string): Promise<RunView | null>;
  /**
   * The run's import report (every rejected row and why), once extraction has read its file
   * (`report` null before); null when the run does not exist or is not the user's.
   */
  importReport(userId: string, runId: string): Promise<{ readonly status: RunStatus; readonly report: ImportReport | null } | null>;
  /** null when the campaign does not exist or is not the user's; `InvalidCursorError` for a bad cursor. */
  leads(userId: string, campaignId: string, page: { status?: LeadStatus; cursor?: string; limit: number }): Promise<LeadPage | null>;
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
   * Every lead of the campaign, in campaign order, with the union of the original headers of its
   * runs in order of first appearance; null when the campaign is not the user's.
   */
  exportLeads(userId: string, campaignId: string): Promise<{ headers: readonly string[]; leads: AsyncIterable<LeadView> } | null>;
  metrics(userId: string): Promise<MetricsView>;
}
