/**
 * A user's changes to one of their campaigns (`PATCH /api/campaigns/:id`) and its erasure
 * (`DELETE /api/campaigns/:id`).
 *
 * Erasure is refused while a run of the campaign is in progress rather than cancelling it here:
 * a run in progress has provider calls in flight whose results would land on rows being erased,
 * cancelling is its own request with its own answer (`POST /api/campaigns/runs/:runId/cancel`),
 * and an irreversible delete should not also stop work the user may be watching. Once the run has
 * ended, nothing adds to the campaign any more, and erasing it is one transaction.
 */
import type { CampaignErasure, CampaignStore } from '../../ports/campaign-store.port.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { CampaignUpdate, ManageCampaigns } from '../../ports/manage-campaigns.port.ts';
import type { UnitOfWork } from '../../ports/unit-of-work.port.ts';
import { runFileKey } from './submit-campaign.ts';

export interface ManageCampaignsDeps {
  readonly store: CampaignStore;
  readonly uow: UnitOfWork;
  readonly files: LeadFileStore;
  /**
   * Checks campaign options (e.g. `webhook_url`) as a submission does and returns what to store;
   * rejects with `InvalidCampaignOption` (kernel/assemble.ts campaignOptionChecker).
   */
  readonly checkOptions?: (values: Readonly<Record<string, string>>) => Promise<Record<string, string>>;
}

export class ManageCampaignsService implements ManageCampaigns {
  readonly #deps: ManageCampaignsDeps;

  constructor(deps: ManageCampaignsDeps) {
    this.#deps = deps;
  }

  async update(userId: string, campaignId: string, update: CampaignUpdate): Promise<boolean> {
    const options = update.options === undefined ? undefined : await this.#checkOptions(update.options);
    return this.#deps.uow.commit(
      this.#deps.store.updateCampaign(userId, campaignId, {
        ...(update.name === undefined ? {} : { name: update.name }),
        ...(update.researchPrompt === undefined ? {} : { researchPrompt: update.researchPrompt }),
        ...(update.personalizationPrompt === undefined ? {} : { personalizationPrompt: update.personalizationPrompt }),
        ...(update.allowQuestions === undefined ? {} : { allowQuestions: update.allowQuestions }),
        ...(options === undefined ? {} : { options }),
      }),
    );
  }

  erase(userId: string, campaignId: string): Promise<CampaignErasure> {
    const { store, uow, files } = this.#deps;
    // One at a time: a run's file is usually gone already (extraction discards it), so each
    // delete is a lookup that finds nothing.
    return uow.commit(
      store.eraseCampaign(userId, campaignId, async (runIds) => {
        for (const runId of runIds) await files.delete(runFileKey(runId));
      }),
    );
  }

  /** The values to set checked like a submission's; the ones to remove (null) as they are. */
  async #checkOptions(options: Readonly<Record<string, string | null>>): Promise<Record<string, string | null>> {
    const toSet = Object.fromEntries(Object.entries(options).filter((entry): entry is [string, string] => entry[1] !== null));
    const removed = Object.fromEntries(Object.entries(options).filter(([, value]) => value === null)) as Record<string, null>;
    const checked = Object.keys(toSet).length === 0 ? {} : await (this.#deps.checkOptions ?? noOptions)(toSet);
    return { ...removed, ...checked };
  }
}

function noOptions(values: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  return Promise.reject(new TypeError(`no campaign options are declared, but ${Object.keys(values).join(', ')} came`));
}
