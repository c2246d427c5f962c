/**
 * Submission of a lead file (the edge's `POST /api/campaigns/process`): validate and store in one
 * pass, then record and announce. The upload is read once: the preview's import validates it
 * while the object store takes the same chunks, so a whole-file problem is still answered before
 * anything is recorded (and never becomes a failed run), and a valid file is already stored when
 * its run is. A file that fails, or whose form fails, is not kept.
 *
 * The run and its `campaign.submitted` event are committed together (the outbox): the event is
 * published by the relay, so a broker that is down delays the run but never loses it.
 *
 * The user's quotas are checked in that same transaction (the store locks per user, counts and
 * refuses), so concurrent submissions cannot pass a limit together. With an idempotency key, the
 * key is claimed before the upload is read and completed in the run's transaction: a retry of a
 * submission that created its run gets that run back and starts nothing, and a submission that
 * failed gives its key up, so the client can fix the request and send it again with the same key.
 *
 * Templates: a submission's `templateId` supplies the prompts and custom outputs its own fields do
 * not give; the personalization prompt's and the outputs' `{{variables}}` are then checked against
 * the file's header (known once the file is validated) and the canonical lead fields, so a name the
 * run could never fill is a 400 at submit, not a line written without its value.
 */
import { DEMO_LEAD_CAP, ImportError, type ImportLimits } from '../../domain/leads/import-error.ts';
import type { ImportReport } from '../../domain/leads/lead.ts';
import type { OutputSpec } from '../../domain/personalization/outputs.ts';
import { checkTemplates, templateProblemMessage } from '../../domain/personalization/template.ts';
import { DEFAULT_PRICING, estimateRunCost, type Pricing } from '../../domain/pricing/pricing.ts';
import { NO_QUOTAS, type QuotaLimits } from '../../domain/quotas/quota.ts';
import type { IdempotencyClaim, SubmissionStore } from '../../ports/submission-store.port.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import {
  IdempotencyKeyInUse,
  IdempotencyKeyReused,
  TemplateVariablesError,
  type SubmissionDetails,
  type SubmitCampaign,
  type SubmitCampaignInput,
  type SubmittedRun,
} from '../../ports/submit-campaign.port.ts';
import { TemplateNotFoundError, type TemplateStore } from '../../ports/template-store.port.ts';
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
  /** The user's limits; default none. */
  readonly quotas?: QuotaLimits;
  /** Prices the run's estimate, which the spend quota counts; default DEFAULT_PRICING (as the preview's). */
  readonly pricing?: Pricing;
  /** The users' saved templates, for `templateId`; without, every `templateId` is unknown. */
  readonly templates?: Pick<TemplateStore, 'get'>;
  /**
   * The providers are the in-process sandbox (PROVIDERS=sandbox): every run is recorded as a
   * sandbox run ($0, shown as such, never in the KPIs). Default false.
   */
  readonly sandbox?: boolean;
}

/** The object store key of a run's uploaded file. */
export function runFileKey(runId: string): string {
  return `runs/${runId}`;
}

/** How often a submission renews the claim on its idempotency key (the claim lapses after 30 s without). */
const IDEMPOTENCY_RENEW_MS = 10_000;

export class SubmitCampaignService implements SubmitCampaign {
  readonly #validator: PreviewImportService;
  readonly #store: SubmissionStore;
  readonly #uow: UnitOfWork;
  readonly #files: LeadFileStore;
  readonly #checkOptions: (values: Readonly<Record<string, string>>) => Promise<Record<string, string>>;
  readonly #quotas: QuotaLimits;
  readonly #pricing: Pricing;
  readonly #templates: Pick<TemplateStore, 'get'> | undefined;
  readonly #sandbox: boolean;

  constructor(deps: SubmitCampaignDeps) {
    this.#validator = new PreviewImportService({ reader: deps.reader, limits: deps.limits });
    this.#store = deps.store;
    this.#uow = deps.uow;
    this.#files = deps.files;
    this.#checkOptions = deps.checkOptions ?? noOptions;
    this.#quotas = deps.quotas ?? NO_QUOTAS;
    this.#pricing = deps.pricing ?? DEFAULT_PRICING;
    this.#templates = deps.templates;
    this.#sandbox = deps.sandbox ?? false;
  }

  async submit(input: SubmitCampaignInput): Promise<SubmittedRun> {
    const idempotency = input.idempotency;
    if (idempotency === undefined) return this.#submit(input, undefined);
    // Claimed before the upload is read: a second request with the key is told at once.
    const found = await this.#uow.commit(this.#store.claimIdempotencyKey(input.userId, idempotency.key));
    if (found.state === 'in_progress') throw new IdempotencyKeyInUse();
    if (found.state === 'completed') return replay(input, found);
    // Renewed while the upload is read: a claim that stops being renewed (this edge crashed) frees
    // the key within 30 s, so the client's retry with the same key goes through.
    const renewal = setInterval(() => {
      this.#uow.commit(this.#store.renewIdempotencyKey(input.userId, idempotency.key, found.claim)).catch(() => {});
    }, IDEMPOTENCY_RENEW_MS);
    try {
      return await this.#submit(input, { key: idempotency.key, claim: found.claim, fingerprint: idempotency.fingerprint });
    } catch (error) {
      // Only a created run keeps its key: a refused request may be fixed and sent again with it.
      await this.#uow.commit(this.#store.releaseIdempotencyKey(input.userId, idempotency.key, found.claim)).catch(() => {});
      throw error;
    } finally {
      clearInterval(renewal);
    }
  }

  async #submit(input: SubmitCampaignInput, idempotency: HeldKey | undefined): Promise<SubmittedRun> {
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
      (preview) => preview.report,
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
    // And the template, when one is named, supplies what the fields do not.
    const details = input.details.then(async (submission) => {
      const [options, withTemplate] = await Promise.all([this.#checkOptions(submission.options ?? {}), this.#withTemplate(input.userId, submission)]);
      return { ...withTemplate, options };
    });
    const [checked, validation, storage] = await Promise.allSettled([details, validated, stored, upload.done]);

    // A bad form field wins over a bad file, as it would had the fields come first; then the
    // file's problem; then a failure to store it.
    const failure = [checked, validation, storage].find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined || checked.status === 'rejected' || validation.status === 'rejected') {
      // A failed put leaves nothing behind (the object store purges its chunks).
      if (storage.status === 'fulfilled') await this.#discard(key);
      throw failure?.reason;
    }

    const submission = checked.value;
    const variables = variableProblems(submission, validation.value);
    if (variables !== null) {
      if (storage.status === 'fulfilled') await this.#discard(key);
      throw variables;
    }
    // Nothing to research: refused now, with the report that says why each row was rejected,
    // rather than accepted and failed a moment later.
    if (validation.value.valid === 0) {
      if (storage.status === 'fulfilled') await this.#discard(key);
      throw new ImportError(
        'NO_VALID_LEADS',
        'No row of the file is a lead that can be processed: each needs a valid email address and a company, once. The report lists every rejected row and why.',
        validation.value,
      );
    }
    const leads = leadsToProcess(validation.value, submission.demo);
    let created: SubmittedRun;
    try {
      const fingerprint = idempotency === undefined ? undefined : await idempotency.fingerprint;
      const change = this.#store.createRun({
        runId,
        userId: input.userId,
        demo: submission.demo,
        sandbox: this.#sandbox,
        fileName: input.fileName,
        ...(submission.campaignId === undefined ? {} : { campaignId: submission.campaignId }),
        ...(submission.campaignName === undefined ? {} : { campaignName: submission.campaignName }),
        ...(submission.researchPrompt === undefined ? {} : { researchPrompt: submission.researchPrompt }),
        ...(submission.personalizationPrompt === undefined ? {} : { personalizationPrompt: submission.personalizationPrompt }),
        ...(submission.outputs === undefined || submission.outputs.length === 0 ? {} : { outputs: submission.outputs }),
        ...(submission.templateId === undefined ? {} : { templateId: submission.templateId }),
        ...(submission.allowQuestions === undefined ? {} : { allowQuestions: submission.allowQuestions }),
        ...(Object.keys(submission.options).length === 0 ? {} : { options: submission.options }),
        leads,
        estimatedCostUsd: estimateRunCost(leads, this.#pricing).totalUsd,
        quotas: this.#quotas,
        ...(idempotency === undefined || fingerprint === undefined
          ? {}
          : { idempotency: { key: idempotency.key, claim: idempotency.claim, fingerprint } }),
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

  /** The submission with its template's prompts and outputs where it gives none of its own. */
  async #withTemplate(userId: string, submission: SubmissionDetails): Promise<SubmissionDetails> {
    if (submission.templateId === undefined) return submission;
    const template = await this.#templates?.get(userId, submission.templateId);
    if (template == null) throw new TemplateNotFoundError();
    return {
      ...submission,
      personalizationPrompt: submission.personalizationPrompt ?? template.personalizationPrompt,
      ...(submission.researchPrompt === undefined && template.researchPrompt === null ? {} : { researchPrompt: submission.researchPrompt ?? template.researchPrompt! }),
      ...(submission.outputs === undefined && template.outputs.length === 0 ? {} : { outputs: submission.outputs ?? template.outputs }),
    };
  }

  /** Best effort: a file nobody will read expires with the bucket's TTL anyway. */
  async #discard(key: string): Promise<void> {
    await this.#files.delete(key).catch(() => {});
  }
}

interface HeldKey {
  readonly key: string;
  readonly claim: string;
  readonly fingerprint: Promise<string>;
}

/**
 * The variables of the prompt and of the outputs' instructions that the file cannot fill (see
 * domain/personalization/template.ts), as the error to answer; null when every one resolves.
 */
function variableProblems(submission: SubmissionDetails, report: ImportReport): TemplateVariablesError | null {
  const headers = report.columns.map((column) => column.original);
  const outputs: readonly OutputSpec[] = submission.outputs ?? [];
  const templates = [...(submission.personalizationPrompt === undefined ? [] : [submission.personalizationPrompt]), ...outputs.map((output) => output.instruction)];
  if (templates.length === 0) return null;
  const problems = checkTemplates(templates, headers);
  const what = outputs.length === 0 ? 'The personalization prompt' : 'The personalization prompt or an output\'s instruction';
  const message = templateProblemMessage(problems, what, headers);
  return message === null ? null : new TemplateVariablesError(message, problems.unknown, problems.private);
}

/** The valid leads a run of this file will process: in a demo, only the first DEMO_LEAD_CAP. */
function leadsToProcess(report: ImportReport, demo: boolean): number {
  return demo ? Math.min(report.valid, DEMO_LEAD_CAP) : report.valid;
}

/**
 * The answer to a retry of a submission that created its run: the upload is read to its end (the
 * fingerprint covers all of it) but neither validated nor stored; nothing new starts.
 */
async function replay(input: SubmitCampaignInput, found: Extract<IdempotencyClaim, { state: 'completed' }>): Promise<SubmittedRun> {
  for await (const chunk of input.file) void chunk;
  const fingerprint = await input.idempotency!.fingerprint;
  if (fingerprint !== found.fingerprint) throw new IdempotencyKeyReused();
  return { runId: found.runId, campaignId: found.campaignId, replayed: true };
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
