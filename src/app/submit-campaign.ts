/**
 * Submission of a lead file (the edge's `POST /api/campaigns/process`): validate, record, store,
 * announce. The file is validated with the preview's import before anything is written, so a
 * whole-file problem is answered at once and never becomes a failed run.
 *
 * Not atomic across the database and the broker, on purpose: when storing the file or publishing
 * fails after the run was recorded, the run stays `queued` and the reconciler re-publishes
 * `campaign.submitted` once its lease has passed (the extraction then fails the run with a clear
 * message if the file never reached the object store). The caller gets the error and may retry.
 */
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { SubmissionStore } from '../../ports/campaign-store.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { SubmitCampaign, SubmitCampaignInput, SubmittedRun } from '../../ports/submit-campaign.port.ts';
import { PreviewImportService } from './preview-import.ts';

export interface SubmitCampaignDeps {
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
  readonly store: SubmissionStore;
  readonly files: LeadFileStore;
  readonly publisher: EventPublisher;
}

/** The object store key of a run's uploaded file. */
export function runFileKey(runId: string): string {
  return `runs/${runId}`;
}

export class SubmitCampaignService implements SubmitCampaign {
  readonly #validator: PreviewImportService;
  readonly #store: SubmissionStore;
  readonly #files: LeadFileStore;
  readonly #publisher: EventPublisher;

  constructor(deps: SubmitCampaignDeps) {
    this.#validator = new PreviewImportService({ reader: deps.reader, limits: deps.limits });
    this.#store = deps.store;
    this.#files = deps.files;
    this.#publisher = deps.publisher;
  }

  async submit(input: SubmitCampaignInput): Promise<SubmittedRun> {
    await this.#validator.preview({ file: input.openFile(), demo: input.demo, sampleSize: 0 });

    const { runId, campaignId } = await this.#store.createRun({
      userId: input.userId,
      demo: input.demo,
      fileName: input.fileName,
      ...(input.campaignId === undefined ? {} : { campaignId: input.campaignId }),
      ...(input.campaignName === undefined ? {} : { campaignName: input.campaignName }),
      ...(input.researchPrompt === undefined ? {} : { researchPrompt: input.researchPrompt }),
      ...(input.personalizationPrompt === undefined ? {} : { personalizationPrompt: input.personalizationPrompt }),
      ...(input.allowQuestions === undefined ? {} : { allowQuestions: input.allowQuestions }),
    });
    await this.#files.put(runFileKey(runId), input.openFile(), { fileName: input.fileName });
    await this.#publisher.publish({ type: 'campaign.submitted', run_id: runId, campaign_id: campaignId, user_id: input.userId });
    return { runId, campaignId };
  }
}
