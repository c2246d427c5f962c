/** The edge's write: a new run of a campaign, queued. */
import type { Change } from './unit-of-work.port.ts';

export interface NewRun {
  /** The run's id when the caller chose it (its file is stored under it before the run is recorded); default a new one. */
  readonly runId?: string;
  readonly userId: string;
  /** Adds a run to this campaign of the user's; the change fails with `CampaignNotFoundError` when it is not theirs. */
  readonly campaignId?: string;
  /** Creates a campaign with this name (used when `campaignId` is absent). */
  readonly campaignName?: string;
  readonly demo: boolean;
  readonly fileName: string;
  readonly researchPrompt?: string;
  readonly personalizationPrompt?: string;
  /** The quality gates accept an opening line that is a question. Default false. */
  readonly allowQuestions?: boolean;
  /**
   * Options consumers declared for a campaign (e.g. `webhook_url`), already checked. Stored on the
   * campaign and kept for its later runs; a later run's value replaces the stored one.
   */
  readonly options?: Readonly<Record<string, string>>;
}

export interface CreatedRun {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
}

export interface SubmissionStore {
  /** Records the campaign (when new) and a run with status `queued`. */
  createRun(run: NewRun): Change<CreatedRun>;
}

export class CampaignNotFoundError extends Error {
  constructor() {
    super('campaign not found');
    this.name = 'CampaignNotFoundError';
  }
}
