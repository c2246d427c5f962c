/** Inbound port: re-run some of a campaign's stored leads (the edge's `POST /api/campaigns/:id/runs`). */
import type { LeadStatus } from '../domain/campaigns/run.ts';
import type { SubmittedRun } from './submit-campaign.port.ts';

export interface RerunInput {
  readonly userId: string;
  readonly campaignId: string;
  /** Exactly one of the two. */
  readonly statuses?: readonly LeadStatus[];
  readonly leadIds?: readonly string[];
  readonly researchPrompt?: string;
  readonly personalizationPrompt?: string;
  readonly allowQuestions?: boolean;
  /** `refresh`: research again (once per company); `reuse` (default): keep what each lead has. */
  readonly research: 'reuse' | 'refresh';
  /** The client's idempotency key, and the request's fingerprint. */
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
}

export interface RerunCampaign {
  /**
   * Records a run of the campaign over the selected leads and starts each (no file, no extraction).
   * Rejects with `CampaignNotFoundError`, `RunInProgressError`, `NothingToRerunError` (ports/rerun-store.port.ts),
   * `QuotaExceededError`, and for an idempotency key as a submission does (`IdempotencyKeyInUse`,
   * `IdempotencyKeyReused`); the same key and request again resolves with the same run (`replayed`).
   */
  rerun(input: RerunInput): Promise<SubmittedRun>;
}
