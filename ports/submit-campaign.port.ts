/** Inbound port: submit a lead file for processing (the HTTP edge's `POST /api/campaigns/process`). */
export interface SubmitCampaign {
  /**
   * Validates the file like the preview (a whole-file problem rejects with `ImportError`), stores
   * it (claim check), records the campaign and a `queued` run, and publishes CampaignSubmitted.
   * Rejects with `CampaignNotFoundError` when `campaignId` is not one of the user's campaigns.
   */
  submit(input: SubmitCampaignInput): Promise<SubmittedRun>;
}

export interface SubmitCampaignInput {
  readonly userId: string;
  /** Opens the uploaded file from its start; called once to validate and once to store it. */
  readonly openFile: () => AsyncIterable<Uint8Array>;
  readonly fileName: string;
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
