/** The edge's write: a new run of a campaign, queued; and the idempotency keys of submissions. */
import type { OutputSpec } from '../domain/personalization/outputs.ts';
import type { UsdAmount } from '../domain/pricing/pricing.ts';
import type { QuotaLimits } from '../domain/quotas/quota.ts';
import type { Change } from './unit-of-work.port.ts';

export interface NewRun {
  /** The run's id when the caller chose it (its file is stored under it before the run is recorded); default a new one. */
  readonly runId?: string;
  readonly userId: string;
  /** Adds a run to this campaign of the user's; the change fails with `CampaignNotFoundError` when it is not theirs. */
  readonly campaignId?: string;
  /**
   * Creates a campaign with this name (used when `campaignId` is absent). The change fails with
   * `CampaignNameTakenError` (ports/campaign-store.port.ts) when the user has a campaign of that
   * name already (compared by `campaignNameKey`).
   */
  readonly campaignName?: string;
  readonly demo: boolean;
  /**
   * The deployment's providers are the in-process sandbox (PROVIDERS=sandbox): made-up output at
   * $0, shown as such, never counted in the KPIs. Default false.
   */
  readonly sandbox?: boolean;
  readonly fileName: string;
  /**
   * The run's settings. A value given is the run's and becomes the campaign's, for its later runs
   * (as the options do); a value not given is the campaign's (a new campaign's: no prompt, no
   * questions).
   */
  readonly researchPrompt?: string;
  readonly personalizationPrompt?: string;
  /** Custom outputs the writer writes with each line (campaign_runs.outputs); none when absent or empty. */
  readonly outputs?: readonly OutputSpec[];
  /** The saved template the prompts came from (a record only: its prompts are copied onto the run). */
  readonly templateId?: string;
  /** The quality gates accept an opening line that is a question. */
  readonly allowQuestions?: boolean;
  /**
   * Options consumers declared for a campaign (e.g. `webhook_url`), already checked. Stored on the
   * campaign and kept for its later runs; a later run's value replaces the stored one.
   */
  readonly options?: Readonly<Record<string, string>>;
  /** Valid leads the run will process (in a demo, at most the demo cap): what the lead quotas count. Default 0. */
  readonly leads?: number;
  /** The run's cost estimate (domain/pricing estimateRunCost): what the spend quota counts. Default 0. */
  readonly estimatedCostUsd?: UsdAmount;
  /**
   * Checked in the transaction that records the run, under a lock per user, so that concurrent
   * submissions (through any number of edges) cannot pass a limit together; the change fails with
   * `QuotaExceededError` (domain/quotas) and records nothing. Absent: no limit.
   */
  readonly quotas?: QuotaLimits;
  /**
   * Completes this claimed idempotency key with the run, in the same transaction: a run exists
   * exactly when its key says so. Fails with `IdempotencyKeyLostError` when the claim is no longer held.
   */
  readonly idempotency?: { readonly key: string; readonly claim: string; readonly fingerprint: string };
}

export interface CreatedRun {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
}

/** What claiming an idempotency key found. */
export type IdempotencyClaim =
  /** The key is this request's now; `claim` identifies it (to complete or release it). */
  | { readonly state: 'claimed'; readonly claim: string }
  /** Another request holds it and has not finished. */
  | { readonly state: 'in_progress' }
  /** A request with this key created a run: the fingerprint of that request, and the run. */
  | { readonly state: 'completed'; readonly fingerprint: string; readonly runId: string; readonly campaignId: string };

export interface SubmissionStore {
  /** Records the campaign (when new) and a run with status `queued`. */
  createRun(run: NewRun): Change<CreatedRun>;
  /**
   * Claims the user's idempotency key for a submission. A key is kept 24 hours from its first
   * claim; after that, or when the request holding it has not renewed its claim for 30 seconds
   * (an edge that crashed mid-upload), it can be claimed again.
   */
  claimIdempotencyKey(userId: string, key: string): Change<IdempotencyClaim>;
  /** The holding request is alive (renewed every few seconds while it runs); false when the claim is no longer its own. */
  renewIdempotencyKey(userId: string, key: string, claim: string): Change<boolean>;
  /** Gives a claimed key up (the request failed): the key can be used again at once. */
  releaseIdempotencyKey(userId: string, key: string, claim: string): Change<void>;
}

/** The claim of an idempotency key was taken over (it had been held too long) before the run was recorded. */
export class IdempotencyKeyLostError extends Error {
  constructor() {
    super('idempotency key claim lost');
    this.name = 'IdempotencyKeyLostError';
  }
}

export class CampaignNotFoundError extends Error {
  constructor() {
    super('campaign not found');
    this.name = 'CampaignNotFoundError';
  }
}
