/** Inbound port: submit a lead file for processing (the HTTP edge's `POST /api/campaigns/process`). */
export interface SubmitCampaign {
  /**
   * Validates the file like the preview (a whole-file problem rejects with `ImportError`) while
   * storing it (claim check), in one pass over the upload; then, once the details are known and
   * valid, records the campaign and a `queued` run, and publishes CampaignSubmitted. A rejection of
   * `details` wins over a problem of the file, and nothing is recorded or kept for either.
   * Rejects with `CampaignNotFoundError` when `campaignId` is not one of the user's campaigns, and
   * with `InvalidCampaignOption` for an option that cannot be accepted.
   */
  submit(input: SubmitCampaignInput): Promise<SubmittedRun>;
}

export interface SubmitCampaignInput {
  readonly userId: string;
  /** The uploaded file, read once, as it arrives. */
  readonly file: AsyncIterable<Uint8Array>;
  readonly fileName: string;
  /**
   * The rest of the submission. A form may send its fields after the file, so they can settle
   * only once the file has been read; a rejection (an invalid field) is the submission's answer.
   */
  readonly details: Promise<SubmissionDetails>;
}

export interface SubmissionDetails {
  readonly campaignName?: string;
  readonly campaignId?: string;
  readonly demo: boolean;
  readonly researchPrompt?: string;
  readonly personalizationPrompt?: string;
  /** Opening lines may be questions (refused by the quality gates otherwise). */
  readonly allowQuestions?: boolean;
  /** Campaign options consumers declared (e.g. `webhook_url`), as submitted; checked before anything is recorded. */
  readonly options?: Readonly<Record<string, string>>;
}

export interface SubmittedRun {
  readonly runId: string;
  readonly campaignId: string;
}

/** A campaign option's value that cannot be accepted (answered 400); its message is shown to the user. */
export class InvalidCampaignOption extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCampaignOption';
  }
}
