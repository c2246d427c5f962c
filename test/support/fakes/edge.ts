/**
 * Test doubles (never used in production code) of the inbound ports and reads the HTTP edge
 * uses, so that routes can be tested with `app.request()` and no server, database or broker:
 * submission, campaign queries, the preview, and the outside APIs' status. Each answers what the
 * test set and records how it was called.
 */
import type { RunStatus } from '../../../domain/campaigns/run.ts';
import type { ImportReport } from '../../../domain/leads/lead.ts';
import {
  PROGRESS_START,
  type CampaignDetail,
  type CampaignExport,
  type CampaignQueries,
  type CampaignRunView,
  type CampaignSummary,
  type LeadPage, type LeadPageRequest, type MetricsView, type RunActivity, type RunView, type SettledLead } from '../../../ports/campaign-queries.port.ts';
import type { CampaignErasure } from '../../../ports/campaign-store.port.ts';
import type { CampaignUpdate, ManageCampaigns } from '../../../ports/manage-campaigns.port.ts';
import type { ApiStatus, ApiStatusReader } from '../../../ports/outside-api.port.ts';
import type { ImportPreview, PreviewImport, PreviewImportInput } from '../../../ports/preview-import.port.ts';
import type { SubmissionDetails, SubmitCampaign, SubmitCampaignInput, SubmittedRun } from '../../../ports/submit-campaign.port.ts';
import type { SuppressionPage, SuppressionView } from '../../../ports/suppression-store.port.ts';
import type { AddedEntries, ImportedEntries, Suppressions } from '../../../ports/suppressions.port.ts';

export interface SubmitCall {
  readonly userId: string;
  readonly fileName: string;
  /** The uploaded file as text. */
  readonly file: string;
  readonly details: SubmissionDetails;
}

/**
 * Reads the upload to its end and waits for the form's details like the real submission (a
 * rejected `details` is the answer), then answers `outcome`: a run, or an error to reject with.
 */
export class FakeSubmitCampaign implements SubmitCampaign {
  readonly calls: SubmitCall[] = [];
  outcome: SubmittedRun | Error = { runId: '00000000-0000-4000-8000-000000000001', campaignId: '00000000-0000-4000-8000-000000000002' };

  async submit(input: SubmitCampaignInput): Promise<SubmittedRun> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of input.file) chunks.push(chunk);
    const details = await input.details;
    this.calls.push({ userId: input.userId, fileName: input.fileName, file: Buffer.concat(chunks).toString('utf8'), details });
    if (this.outcome instanceof Error) throw this.outcome;
    return this.outcome;
  }
}

/** Answers the preview set in `result` after reading the file; records the inputs. */
export class FakePreviewImport implements PreviewImport {
  readonly calls: Omit<PreviewImportInput, 'file'>[] = [];
  result: ImportPreview | Error = {
    report: { total_rows: 0, valid: 0, duplicates: 0, rejected: [], columns: [], demo_excluded: 0 },
    sample: [],
    suppressed: [],
  };

  async preview(input: PreviewImportInput): Promise<ImportPreview> {
    for await (const _ of input.file) {
      // read to the end, as the import does
    }
    this.calls.push({ demo: input.demo, sampleSize: input.sampleSize });
    if (this.result instanceof Error) throw this.result;
    return this.result;
  }
}

/** Runs and lead pages the test adds per user; anything else is "not found" (null). */
export class FakeCampaignQueries implements CampaignQueries {
  readonly #runs = new Map<string, RunView>();
  readonly #pages = new Map<string, LeadPage | Error>();
  readonly #metrics = new Map<string, MetricsView>();
  /** The arguments of each `leads` call, in order. */
  readonly leadCalls: { userId: string; campaignId: string; page: LeadPageRequest }[] = [];

  /** Makes `run` visible to `userId` (and to nobody else). */
  addRun(userId: string, run: RunView): void {
    this.#runs.set(`${userId}/${run.run_id}`, run);
  }

  /** What `leads(userId, campaignId, …)` answers, whatever the page asked (an Error: rejects with it). */
  setLeads(userId: string, campaignId: string, page: LeadPage | Error): void {
    this.#pages.set(`${userId}/${campaignId}`, page);
  }

  setMetrics(userId: string, metrics: MetricsView): void {
    this.#metrics.set(userId, metrics);
  }

  runStatus(userId: string, runId: string): Promise<RunView | null> {
    return Promise.resolve(this.#runs.get(`${userId}/${runId}`) ?? null);
  }

  readonly #reports = new Map<string, { status: RunStatus; report: ImportReport | null }>();

  /** What `importReport(userId, runId)` answers (nobody else sees it). */
  setImportReport(userId: string, runId: string, answer: { status: RunStatus; report: ImportReport | null }): void {
    this.#reports.set(`${userId}/${runId}`, answer);
  }

  importReport(userId: string, runId: string): Promise<{ status: RunStatus; report: ImportReport | null } | null> {
    return Promise.resolve(this.#reports.get(`${userId}/${runId}`) ?? null);
  }

  leads(userId: string, campaignId: string, page: LeadPageRequest): Promise<LeadPage | null> {
    this.leadCalls.push({ userId, campaignId, page: { ...page } });
    const answer = this.#pages.get(`${userId}/${campaignId}`);
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve(answer ?? null);
  }

  settledLeads(_userId: string, _runId: string, after: string | null): Promise<{ leads: readonly SettledLead[]; cursor: string | null }> {
    return Promise.resolve({ leads: [], cursor: after });
  }

  latestSettledLeads(): Promise<{ leads: readonly SettledLead[]; before: string; earlier: boolean }> {
    return Promise.resolve({ leads: [], before: PROGRESS_START, earlier: false });
  }

  exportLeads(): Promise<CampaignExport | null> {
    return Promise.resolve(null);
  }

  /** A run added with `addRun` has one lead to settle per lead not processed yet, none researched, retried or settled. */
  runActivity(userId: string, runId: string): Promise<RunActivity | null> {
    const run = this.#runs.get(`${userId}/${runId}`);
    if (run === undefined) return Promise.resolve(null);
    return Promise.resolve({
      startedAt: Date.parse(run.created_at),
      unsettled: Math.max(0, run.valid - run.skipped - run.processed),
      researched: 0,
      retrying: { research: 0, personalization: 0 },
      recent: null,
    });
  }

  metrics(userId: string): Promise<MetricsView> {
    return Promise.resolve(this.#metrics.get(userId) ?? { leads_personalized: 0, hours_saved: '0.00', money_saved: '0.00', updated_at: null });
  }

  campaigns(): Promise<{ campaigns: readonly CampaignSummary[]; next_cursor: string | null }> {
    return Promise.resolve({ campaigns: [], next_cursor: null });
  }

  campaign(): Promise<CampaignDetail | null> {
    return Promise.resolve(null);
  }

  campaignRuns(): Promise<{ runs: readonly CampaignRunView[]; next_cursor: string | null } | null> {
    return Promise.resolve(null);
  }
}

/** Records each call and answers `found` / `erasure` (an Error: rejects with it). */
export class FakeManageCampaigns implements ManageCampaigns {
  readonly updates: { userId: string; campaignId: string; update: CampaignUpdate }[] = [];
  found: boolean | Error = false;
  erasure: CampaignErasure = { kind: 'not_found' };

  update(userId: string, campaignId: string, update: CampaignUpdate): Promise<boolean> {
    this.updates.push({ userId, campaignId, update });
    return this.found instanceof Error ? Promise.reject(this.found) : Promise.resolve(this.found);
  }

  erase(): Promise<CampaignErasure> {
    return Promise.resolve(this.erasure);
  }
}

/** The outside APIs' shared state, as set in `statuses`. */
export class FakeApiStatusReader implements ApiStatusReader {
  statuses: ApiStatus[] = [];

  current(): Promise<ApiStatus[]> {
    return Promise.resolve(this.statuses.map((status) => ({ ...status })));
  }
}

/** The suppression routes' port, answering an empty list and adding nothing (tests of the other routes need one). */
export class FakeSuppressions implements Suppressions {
  list(): Promise<SuppressionPage> {
    return Promise.resolve({ suppressions: [], next_cursor: null });
  }

  add(): Promise<AddedEntries> {
    return Promise.resolve({ added: [], already_present: 0, duplicates: 0, invalid: [] });
  }

  importFile(): Promise<ImportedEntries> {
    return Promise.resolve({ total_rows: 0, column: null, added: 0, already_present: 0, duplicates: 0, invalid: [] });
  }

  remove(): Promise<boolean> {
    return Promise.resolve(false);
  }

  removeValue(): Promise<SuppressionView | null> {
    return Promise.resolve(null);
  }
}
