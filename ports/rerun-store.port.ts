/** The edge's write for a re-run: a new run of a campaign over leads it already stores (no file). */
import type { LeadStatus } from '../domain/campaigns/run.ts';
import type { UsdAmount } from '../domain/pricing/pricing.ts';
import type { QuotaLimits } from '../domain/quotas/quota.ts';
import type { Change } from './unit-of-work.port.ts';

/** Which of the campaign's leads a re-run takes: by status, or by id. */
export type RerunSelection = { readonly statuses: readonly LeadStatus[] } | { readonly leadIds: readonly string[] };

export interface NewRerun {
  readonly userId: string;
  /** One of the user's campaigns; the change fails with `CampaignNotFoundError` otherwise. */
  readonly campaignId: string;
  readonly selection: RerunSelection;
  /** Absent: the campaign's default (campaignDefaults in the store). */
  readonly researchPrompt?: string;
  readonly personalizationPrompt?: string;
  readonly allowQuestions?: boolean;
  /**
   * New research for every selected lead (through the company research cache, younger than the
   * run); otherwise a lead keeps the research it has when it was made for the same research prompt.
   */
  readonly refreshResearch: boolean;
  /** The providers are the in-process sandbox: the run is recorded as a sandbox run (see SubmitCampaignDeps.sandbox). */
  readonly sandbox?: boolean;
  /** Checked in the transaction that records the run, as for a submission (SubmissionStore.createRun). */
  readonly quotas?: QuotaLimits;
  /** The run's estimate from its leads and how many of them need a research call: what the spend quota counts. */
  readonly estimate: (leads: number, researchCalls: number) => UsdAmount;
  /** Completes this claimed idempotency key with the run, in the same transaction (`IdempotencyKeyLostError` when lost). */
  readonly idempotency?: { readonly key: string; readonly claim: string; readonly fingerprint: string };
}

export interface CreatedRerun {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
  /** Leads to research (their `lead.extracted` commits with the run). */
  readonly pending: readonly string[];
  /** Leads whose stored research is reused (their `lead.researched` commits with the run). */
  readonly researched: readonly string[];
}

export interface RerunStore {
  /**
   * In one transaction, under the user's submission lock and the campaign's row lock: refuses
   * while a run of the campaign has not ended (`RunInProgressError`) and when no lead matches
   * (`NothingToRerunError`); checks the quotas; records the run (`personalizing` at once: there is
   * no file to read) and takes the selected leads over as a file's later run does (their progress,
   * message, cost and count reset), each to `researched` when its research is reused, else to
   * `pending`.
   */
  createRerun(rerun: NewRerun): Change<CreatedRerun>;
}

/** A run of the campaign has not ended: a re-run would take its leads from under it. */
export class RunInProgressError extends Error {
  readonly runId: string;
  readonly status: string;

  constructor(runId: string, status: string) {
    super('a run of the campaign is in progress');
    this.name = 'RunInProgressError';
    this.runId = runId;
    this.status = status;
  }
}

/** No lead of the campaign matches the selection. */
export class NothingToRerunError extends Error {
  constructor() {
    super('no lead matches the selection');
    this.name = 'NothingToRerunError';
  }
}
