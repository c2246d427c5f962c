/** Inbound port: submit a lead file for processing (the HTTP edge's `POST /api/campaigns/process`). */
export interface SubmitCampaign {
  /**
   * Validates the file like the preview (a whole-file problem rejects with `ImportError`) while
   * storing it (claim check), in one pass over the upload; then, once the details are known and
   * valid, records the campaign and a `queued` run, and publishes CampaignSubmitted. A rejection of
   * `details` wins over a problem of the file, and nothing is recorded or kept for either.
   * Rejects with `CampaignNotFoundError` when `campaignId` is not one of the user's campaigns.
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
}

export interface SubmittedRun {
  readonly runId: string;
  readonly campaignId: string;
}
