/**
 * Submission of a lead file (the edge's `POST /api/campaigns/process`): validate and store in one
 * pass, then record and announce. The upload is read once: the preview's import validates it
 * while the object store takes the same chunks, so a whole-file problem is still answered before
 * anything is recorded (and never becomes a failed run), and a valid file is already stored when
 * its run is. A file that fails, or whose form fails, is not kept.
 *
 * Not atomic across the database and the broker, on purpose: when publishing fails after the run
 * was recorded, the run stays `queued` and the reconciler re-publishes `campaign.submitted` once
 * its lease has passed. The caller gets the error and may retry.
 */
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { SubmissionStore } from '../../ports/campaign-store.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { SubmitCampaign, SubmitCampaignInput, SubmittedRun } from '../../ports/submit-campaign.port.ts';
import { fanOut, type FanOutBranch } from './fan-out.ts';
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
    // Chosen here so the file can be stored under the run's key before the run is recorded.
    const runId = crypto.randomUUID();
    const key = runFileKey(runId);
    // Both branches get the same chunks; the file is read to its end whatever they do.
    const upload = fanOut(input.file, 2);
    const [forValidation, forStorage] = upload.branches as [FanOutBranch, FanOutBranch];
    const invalid = new AbortController();
    // Whether a file is valid does not depend on `demo` (it only moves leads past the demo cap to
    // demo_excluded), which a form may send after the file.
    const validated = this.#validator.preview({ file: forValidation, demo: false, sampleSize: 0 }).then(
      () => undefined,
      (error: unknown) => {
        invalid.abort(error);
        throw error;
      },
    );
    const stored = this.#files.put(key, untilAborted(forStorage, invalid.signal), { fileName: input.fileName });
    // A reader that gave up without saying so must not hold the rest of the upload back.
    void validated.finally(() => forValidation.stop()).catch(() => {});
    void stored.finally(() => forStorage.stop()).catch(() => {});
    const [details, validation, storage] = await Promise.allSettled([input.details, validated, stored, upload.done]);

    // A bad form field wins over a bad file, as it would had the fields come first; then the
    // file's problem; then a failure to store it.
    const failure = [details, validation, storage].find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined || details.status === 'rejected') {
      // A failed put leaves nothing behind (the object store purges its chunks).
      if (storage.status === 'fulfilled') await this.#discard(key);
      throw failure?.reason;
    }

    const submission = details.value;
    let created: { runId: string; campaignId: string };
    try {
      created = await this.#store.createRun({
        runId,
        userId: input.userId,
        demo: submission.demo,
        fileName: input.fileName,
        ...(submission.campaignId === undefined ? {} : { campaignId: submission.campaignId }),
        ...(submission.campaignName === undefined ? {} : { campaignName: submission.campaignName }),
        ...(submission.researchPrompt === undefined ? {} : { researchPrompt: submission.researchPrompt }),
        ...(submission.personalizationPrompt === undefined ? {} : { personalizationPrompt: submission.personalizationPrompt }),
        ...(submission.allowQuestions === undefined ? {} : { allowQuestions: submission.allowQuestions }),
      });
    } catch (error) {
      await this.#discard(key);
      throw error;
    }
    await this.#publisher.publish({ type: 'campaign.submitted', run_id: created.runId, campaign_id: created.campaignId, user_id: input.userId });
    return created;
  }

  /** Best effort: a file nobody will read expires with the bucket's TTL anyway. */
  async #discard(key: string): Promise<void> {
    await this.#files.delete(key).catch(() => {});
  }
}

/** The chunks of `source` until `signal` aborts; then it throws, which stops the reader (and the put). */
async function* untilAborted(source: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    signal.throwIfAborted();
    yield chunk;
  }
}
