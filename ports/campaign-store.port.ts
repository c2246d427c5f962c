/**
 * The campaign store, as each use case needs it. One PostgreSQL adapter implements every
 * interface here; each use case depends only on the one it uses. Every write is idempotent
 * for redelivered events: a repeated call changes nothing and says so.
 */
import type { KpiRates, LeadStatus, RunOutcome, RunStatus } from '../domain/campaigns/run.ts';
import type { ColumnMapping, ImportReport, Lead } from '../domain/leads/lead.ts';
import type { UsdAmount } from '../domain/pricing/pricing.ts';
import type { Draft, LeadProfile, Research, Usage } from './providers.port.ts';

// ── Submission (HTTP edge) ────────────────────────────────────────────────────────────────────

export interface NewRun {
  /** The run's id when the caller chose it (its file is stored under it before the run is recorded); default a new one. */
  readonly runId?: string;
  readonly userId: string;
  /** Adds a run to this campaign of the user's; `CampaignNotFoundError` when it is not theirs. */
  readonly campaignId?: string;
  /** Creates a campaign with this name (used when `campaignId` is absent). */
  readonly campaignName?: string;
  readonly demo: boolean;
  readonly fileName: string;
  readonly researchPrompt?: string;
  readonly personalizationPrompt?: string;
  /** The quality gates accept an opening line that is a question. Default false. */
  readonly allowQuestions?: boolean;
}

export interface SubmissionStore {
  /** Records the campaign (when new) and a run with status `queued`, in one transaction. */
  createRun(run: NewRun): Promise<{ readonly runId: string; readonly campaignId: string }>;
}

export class CampaignNotFoundError extends Error {
  constructor() {
    super('campaign not found');
    this.name = 'CampaignNotFoundError';
  }
}

// ── Extraction ────────────────────────────────────────────────────────────────────────────────

export interface RunToExtract {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
  readonly demo: boolean;
}

export interface StoredLeads {
  /** Leads of this run still waiting for research (new, or reset from an earlier failed run). */
  readonly pending: readonly string[];
  /** Leads already personalized by an earlier run of the campaign: no paid call is made for them. */
  readonly skipped: number;
}

export interface ExtractionStore {
  /**
   * Moves a `queued` run to `extracting` (or keeps an `extracting` one, for a redelivery) and
   * returns it; null when the run is unknown or already past extraction.
   */
  beginExtraction(runId: string): Promise<RunToExtract | null>;
  /**
   * Upserts a batch of leads into the run's campaign (unique by normalized email), in one
   * statement. A lead personalized by an earlier run is left alone and counted as skipped; any
   * other existing lead is taken over by this run and reset to `pending`, unless this run owns it
   * already (a redelivered extraction), in which case its progress is kept.
   */
  storeLeads(run: RunToExtract, leads: readonly Lead[]): Promise<StoredLeads>;
  /**
   * Records the import report, the column mapping and the totals (absolute values, so a
   * redelivery writes the same) and moves the run to `personalizing`.
   */
  finishExtraction(runId: string, result: { report: ImportReport; columns: readonly ColumnMapping[]; skipped: number }): Promise<void>;
  /** Ends a run that cannot be extracted (its file is gone, or a whole-file problem). */
  failRun(runId: string, errorMessage: string): Promise<RunCompletion | null>;
}

// ── Research and personalization ──────────────────────────────────────────────────────────────

export interface LeadWork {
  readonly leadId: string;
  readonly runId: string;
  readonly status: LeadStatus;
  readonly lead: LeadProfile;
  readonly research: Research | null;
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
}

/** One paid provider call made for a lead, as `addCost` records it. */
export interface PaidCall {
  readonly stage: 'research' | 'personalization';
  readonly model: string;
  readonly usage?: Usage;
  /** What the call cost (`costOf` of its usage). */
  readonly costUsd: UsdAmount;
}

/**
 * Every paid call is recorded with the lead: its cost is added to the lead's `cost_usd` and its
 * usage kept with the lead. The call whose result is saved passes its cost to `saveResearch` /
 * `savePersonalized` (one statement); any other call (a draft sent back by the quality gates, a
 * result another delivery saved first) goes through `addCost`. A call that failed is not recorded:
 * what a provider bills for a failed call is not known here.
 */
export interface LeadWorkStore {
  /** The lead as its run knows it; null when the lead is unknown or now belongs to another run. */
  leadWork(leadId: string, runId: string): Promise<LeadWork | null>;
  /**
   * pending → researched, counting the attempt and adding the call's cost (default none) to the
   * lead; false when the lead was not pending for this run (nothing written, the cost included).
   */
  saveResearch(leadId: string, runId: string, research: Research, costUsd?: UsdAmount): Promise<boolean>;
  /** researched → personalized, counting the attempt and adding the call's cost like `saveResearch`; false when the lead was not researched for this run. */
  savePersonalized(leadId: string, runId: string, draft: Draft, costUsd?: UsdAmount): Promise<boolean>;
  /**
   * Records a paid call whose result is not saved by the calls above, in any status of the lead
   * that belongs to this run. Not idempotent, on purpose: each call is paid for. When the lead's
   * outcome is already counted, the cost goes to the run's total too.
   */
  addCost(leadId: string, runId: string, call: PaidCall): Promise<void>;
  /**
   * researched → needs_review, keeping the draft as the lead's message and `reasons` (what the
   * quality gates found) as its error, and adding the call's cost like `savePersonalized`; false
   * when the lead was not researched for this run.
   */
  saveNeedsReview(leadId: string, runId: string, draft: Draft, reasons: string, costUsd?: UsdAmount): Promise<boolean>;
  /** Any non-final status → failed with the reason; false when the lead was already final. */
  saveFailed(leadId: string, runId: string, reason: string): Promise<boolean>;
  /**
   * Counts one more attempt on a lead that is not final (shown to the user): an attempt that
   * failed. A successful one is counted by the save that ends it, in the same statement.
   */
  recordAttempt(leadId: string, runId: string): Promise<void>;
}

// ── KPI projection ────────────────────────────────────────────────────────────────────────────

export interface RunCompletion {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
  readonly outcome: RunOutcome;
}

export interface ProjectionStore {
  /**
   * Counts a settled lead's outcome exactly once per run, in one transaction: the run's counters
   * and cost (the lead's, whatever its outcome), the campaign's completed count and the user's
   * KPIs (personalized leads only: a needs_review lead counts in its run's `needs_review`). Returns false
   * when it was counted before (a redelivery or a replay), or the lead is not final for that run.
   */
  countOutcome(leadId: string, runId: string, rates: KpiRates): Promise<boolean>;
  /**
   * Ends a `personalizing` run whose leads are all settled or skipped, with the outcome of
   * `outcomeOf`; null when the run is not settled yet or already ended.
   */
  completeIfSettled(runId: string): Promise<RunCompletion | null>;
}

// ── Reconciler ────────────────────────────────────────────────────────────────────────────────

export interface StuckLead {
  readonly leadId: string;
  readonly runId: string;
  readonly status: LeadStatus;
  /** The lead is final but its outcome was never counted. */
  readonly uncounted: boolean;
}

export interface ReconcilerStore {
  /** Runs still `queued` or `extracting` with no progress for `leaseMs`. */
  stalledExtractions(leaseMs: number, limit: number): Promise<readonly RunToExtract[]>;
  /** Leads of `personalizing` runs with no progress for `leaseMs`: not final, or final but uncounted. */
  stalledLeads(leaseMs: number, limit: number): Promise<readonly StuckLead[]>;
  /** `personalizing` runs that may be settled (all leads final and counted). */
  settledRuns(limit: number): Promise<readonly string[]>;
}

// ── Reading (HTTP edge) ───────────────────────────────────────────────────────────────────────

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
  /** USD spent on the run's counted leads, rounded to 6 decimals (a JSON number). */
  readonly cost_usd: number;
  readonly error_message: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly completed_at: string | null;
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
  /** null when the campaign does not exist or is not the user's; `InvalidCursorError` for a bad cursor. */
  leads(userId: string, campaignId: string, page: { status?: LeadStatus; cursor?: string; limit: number }): Promise<LeadPage | null>;
  /**
   * Leads of a run settled after `after` (a cursor from an earlier call), oldest first; the
   * returned cursor is `after` again when there is nothing new. `InvalidCursorError` for a bad cursor.
   */
  settledLeads(userId: string, runId: string, after: string | null, limit: number): Promise<{ leads: readonly LeadView[]; cursor: string | null }>;
  /**
   * Every lead of the campaign, in campaign order, with the union of the original headers of its
   * runs in order of first appearance; null when the campaign is not the user's.
   */
  exportLeads(userId: string, campaignId: string): Promise<{ headers: readonly string[]; leads: AsyncIterable<LeadView> } | null>;
  metrics(userId: string): Promise<MetricsView>;
}
