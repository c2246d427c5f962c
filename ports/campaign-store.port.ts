/** The edge's writes of a campaign as its owner manages it: its name and settings, and erasing it. */
import type { Change } from './unit-of-work.port.ts';

/**
 * What a PATCH changes; an absent field is left as it is. A prompt set to null is cleared (the
 * runs then use the default prompt); options set to null are removed (e.g. no webhook).
 */
export interface CampaignChanges {
  readonly name?: string;
  readonly researchPrompt?: string | null;
  readonly personalizationPrompt?: string | null;
  readonly allowQuestions?: boolean;
  /** Campaign options (e.g. `webhook_url`), already checked; null removes one. */
  readonly options?: Readonly<Record<string, string | null>>;
}

/** What erasing a campaign found. */
export type CampaignErasure =
  /** Not the user's campaign, or none: nothing was changed. */
  | { readonly kind: 'not_found' }
  /** Runs still in progress (not yet ended): nothing was erased. */
  | { readonly kind: 'in_progress'; readonly runIds: readonly string[] }
  /** The campaign and everything of it are gone: its runs, leads, claims, deliveries and events waiting in the outbox. */
  | { readonly kind: 'erased'; readonly runIds: readonly string[] };

export interface CampaignStore {
  /** Applies the changes to the user's campaign; false when it is not theirs. Fails with `CampaignNameTakenError`. */
  updateCampaign(userId: string, campaignId: string, changes: CampaignChanges): Change<boolean>;
  /**
   * Erases the user's campaign unless one of its runs is still in progress. `eraseFiles` is called
   * with the ids of every run of it, inside the erasure, once nothing can add a run any more and
   * before the rows go: the files go first, so a failure leaves the campaign (and the request can
   * be sent again) rather than files nobody can find.
   */
  eraseCampaign(userId: string, campaignId: string, eraseFiles: (runIds: readonly string[]) => Promise<void>): Change<CampaignErasure>;
}

/** Another campaign of the user already has this name (compared by `campaignNameKey`). */
export class CampaignNameTakenError extends Error {
  /** The campaign that has the name. */
  readonly campaignId: string;

  constructor(campaignId: string) {
    super('campaign name taken');
    this.name = 'CampaignNameTakenError';
    this.campaignId = campaignId;
  }
}
