/** Inbound port: a user changes or erases one of their campaigns (`PATCH`/`DELETE /api/campaigns/:id`). */
import type { CampaignErasure } from './campaign-store.port.ts';

/** What a PATCH asks for, as sent: an absent field is left as it is; null clears it. */
export interface CampaignUpdate {
  readonly name?: string;
  readonly researchPrompt?: string | null;
  readonly personalizationPrompt?: string | null;
  readonly allowQuestions?: boolean;
  /** Campaign options consumers declared (e.g. `webhook_url`), unchecked; null removes one. */
  readonly options?: Readonly<Record<string, string | null>>;
}

export interface ManageCampaigns {
  /**
   * Applies the update; false when the campaign is not the user's. Checks the options first (as a
   * submission does), rejecting with `InvalidCampaignOption`; rejects with `CampaignNameTakenError`
   * for a name another of the user's campaigns has. Runs already recorded keep what they were
   * submitted with: the settings are those of the campaign's next runs.
   */
  update(userId: string, campaignId: string, update: CampaignUpdate): Promise<boolean>;
  /**
   * Erases the campaign (the user's right to erasure): its runs, leads, paid-call claims,
   * deliveries, waiting events and uploaded files. A campaign with a run still in progress is left
   * as it is (`in_progress`): the run is to be cancelled, or to end, first.
   */
  erase(userId: string, campaignId: string): Promise<CampaignErasure>;
}
