/**
 * Submission of a lead file (the edge's `POST /api/campaigns/process`): validate and store in one
 * pass, then record and announce. The upload is read once: the preview's import validates it
 * while the object store takes the same chunks, so a whole-file problem is still answered before
 * anything is recorded (and never becomes a failed run), and a valid file is already stored when
 * its run is. A file that fails, or whose form fails, is not kept.
 *
 * The run and its `campaign.submitted` event are committed together (the outbox): the event is
 * published by the relay, so a broker that is down delays the run but never loses it.
 */
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { SubmissionStore } from '../../ports/submission-store.port.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { SubmitCampaign, SubmitCampaignInput, SubmittedRun } from '../../ports/submit-campaign.port.ts';
import type { UnitOfWork } from '../../ports/unit-of-work.port.ts';
import { fanOut, type FanOutBranch } from './fan-out.ts';
import { PreviewImportService } from './preview-import.ts';

export interface SubmitCampaignDeps {
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
  readonly store: SubmissionStore;
  readonly uow: UnitOfWork;
  readonly files: LeadFileStore;
  /**
   * Checks the campaign options (fields consumers declared, e.g. `webhook_url`) and returns what to
   * store; rejects with `InvalidCampaignOption` (kernel/assemble.ts campaignOptionChecker).
   */
  readonly checkOptions?: (values: Readonly<Record<string, string>>) => Promise<Record<string, string>>;
}

/** The object store key of a run's uploaded file. */
export function runFileKey(runId: string): string {
  return `runs/${runId}`;
}

export class SubmitCampaignService implements SubmitCampaign {
  readonly #validator: PreviewImportService;
  readonly #store: SubmissionStore;
  readonly #uow: UnitOfWork;
  readonly #files: LeadFileStore;
  readonly #checkOptions: (values: Readonly<Record<string, string>>) => Promise<Record<string, string>>;

  constructor(deps: SubmitCampaignDeps) {
    this.#validator = new PreviewImportService({ reader: deps.reader, limits: deps.limits });
    this.#store = deps.store;
    this.#uow = deps.uow;
    this.#files = deps.files;
    this.#checkOptions = deps.checkOptions ?? noOptions;
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
    // The options are checked (a webhook URL's host resolved, say) as soon as the fields are read.
    const details = input.details.then(async (submission) => ({ ...submission, options: await this.#checkOptions(submission.options ?? {}) }));
    const [checked, validation, storage] = await Promise.allSettled([details, validated, stored, upload.done]);

    // A bad form field wins over a bad file, as it would had the fields come first; then the
    // file's problem; then a failure to store it.
    const failure = [checked, validation, storage].find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined || checked.status === 'rejected') {
      // A failed put leaves nothing behind (the object store purges its chunks).
      if (storage.status === 'fulfilled') await this.#discard(key);
      throw failure?.reason;
    }

    const submission = checked.value;
    let created: SubmittedRun;
    try {
      const change = this.#store.createRun({
        runId,
        userId: input.userId,
        demo: submission.demo,
        fileName: input.fileName,
        ...(submission.campaignId === undefined ? {} : { campaignId: submission.campaignId }),
        ...(submission.campaignName === undefined ? {} : { campaignName: submission.campaignName }),
        ...(submission.researchPrompt === undefined ? {} : { researchPrompt: submission.researchPrompt }),
        ...(submission.personalizationPrompt === undefined ? {} : { personalizationPrompt: submission.personalizationPrompt }),
        ...(submission.allowQuestions === undefined ? {} : { allowQuestions: submission.allowQuestions }),
        ...(Object.keys(submission.options).length === 0 ? {} : { options: submission.options }),
      });
      created = await this.#uow.commit(change, (run) => [
        { type: 'campaign.submitted', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId },
      ]);
    } catch (error) {
      await this.#discard(key);
      throw error;
    }
    return { runId: created.runId, campaignId: created.campaignId };
  }

  /** Best effort: a file nobody will read expires with the bucket's TTL anyway. */
  async #discard(key: string): Promise<void> {
    await this.#files.delete(key).catch(() => {});
  }
}

function noOptions(values: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  const fields = Object.keys(values);
  return fields.length === 0 ? Promise.resolve({}) : Promise.reject(new TypeError(`no campaign options are declared, but ${fields.join(', ')} came`));
}

/** The chunks of `source` until `signal` aborts; then it throws, which stops the reader (and the put). */
async function* untilAborted(source: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    signal.throwIfAborted();
    yield chunk;
  }
}
