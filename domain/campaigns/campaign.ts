/** Campaigns as their owner manages them: names, and the settings their next runs use. */

/** The longest campaign name (the database checks it too, 0002's campaigns_name_length). */
export const MAX_CAMPAIGN_NAME_LENGTH = 200;

/**
 * What makes two of a user's campaign names the same: a person reads "Q3 Outreach" and
 * " q3 outreach" as one campaign, so names are compared without case and without the spaces around
 * them (the database's unique index, migration 0014, compares `lower(btrim(name))`).
 */
export function campaignNameKey(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * The settings a campaign's next run uses when its submission gives none (migration 0014). A
 * submission that gives a value sets it for the runs after it too.
 */
export interface CampaignSettings {
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
}
