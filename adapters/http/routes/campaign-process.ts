import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import { QuotaExceededError, type QuotaExceeded } from '../../../domain/quotas/quota.ts';
import { CampaignNameTakenError } from '../../../ports/campaign-store.port.ts';
import { CampaignNotFoundError, IdempotencyKeyLostError } from '../../../ports/submission-store.port.ts';
import {
  IdempotencyKeyInUse,
  IdempotencyKeyReused,
  InvalidCampaignOption,
  TemplateVariablesError,
  type SubmitCampaign,
} from '../../../ports/submit-campaign.port.ts';
import { TemplateNotFoundError } from '../../../ports/template-store.port.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, formBody, headerParam, jsonResponse, problems, responseHeader } from '../openapi.ts';
import { ProblemError } from '../problem.ts';
import { readStreamedForm, StreamedFile } from '../multipart.ts';
import { campaignNameTaken } from './campaign-management.ts';
import { DemoField, parseInput, rejectNonCsvType, streamedCsvUpload, uploadLimitBytes, uploadTooLarge } from './input.ts';
import { OutputsField, PersonalizationPromptField, promptField } from './prompt-input.ts';

/** A campaign option's value (a URL, an id): longer is a mistake. */
const MAX_OPTION_LENGTH = 2000;

/**
 * A yes/no field whose absence means "as the campaign has it" (a new campaign: no): true, 1, on or
 * yes; false or 0; absent or blank: undefined. (An HTML checkbox left unticked sends nothing.)
 */
const OptionalFlag = (name: string) => {
  const message = `${name} must be one of true, false, 1, 0, on, yes (or empty)`;
  return v.optional(
    v.pipe(
      v.string(message),
      v.trim(),
      v.toLowerCase(),
      v.picklist(['true', '1', 'on', 'yes', 'false', '0', ''], message),
      v.transform((value) => (value === '' ? undefined : ['true', '1', 'on', 'yes'].includes(value))),
    ),
  );
};

export const ProcessForm = v.pipe(
  v.object({
    csv_file: v.instance(StreamedFile, 'attach the CSV as a file in the form field csv_file'),
    demo: DemoField,
    campaign_name: v.optional(
      v.pipe(
        v.string('campaign_name must be text'),
        v.trim(),
        v.minLength(1, 'campaign_name must not be blank'),
        v.maxLength(200, 'campaign_name must be at most 200 characters'),
      ),
    ),
    campaign_id: v.optional(v.pipe(v.string('campaign_id must be text'), v.trim(), v.uuid('campaign_id must be a UUID'))),
    research_prompt: promptField('research_prompt'),
    personalization_prompt: PersonalizationPromptField,
    outputs: OutputsField,
    template_id: v.optional(v.pipe(v.string('template_id must be text'), v.trim(), v.uuid('template_id must be the id of one of your templates (a UUID)'))),
    allow_questions: OptionalFlag('allow_questions'),
  }),
  v.check(
    (form) => form.campaign_name !== undefined || form.campaign_id !== undefined,
    'send either campaign_name (a new campaign) or campaign_id (one of your campaigns)',
  ),
  v.check(
    (form) => form.campaign_name === undefined || form.campaign_id === undefined,
    'send campaign_name (a new campaign) or campaign_id (one of your campaigns), not both',
  ),
);

/** A campaign option a consumer declared: its form field (e.g. `webhook_url`) and what it does. */
export interface CampaignOptionField {
  readonly field: string;
  readonly description?: string;
}

export interface CampaignProcessRoutesDeps {
  readonly submitCampaign: SubmitCampaign;
  readonly limits: ImportLimits;
  /** Campaign options the consumers declared (form fields, e.g. `webhook_url`); each is checked by the submission. */
  readonly options: readonly CampaignOptionField[];
}

/** A campaign option's field: text of at most MAX_OPTION_LENGTH characters; blank is the same as absent. */
function optionField({ field, description }: CampaignOptionField) {
  return v.optional(
    v.pipe(
      v.string(`${field} must be text`),
      v.trim(),
      v.maxLength(MAX_OPTION_LENGTH, `${field} must be at most ${MAX_OPTION_LENGTH} characters`),
      v.description(`A campaign option${description === undefined ? '' : `: ${description}`}. Checked before anything is recorded.`),
      v.transform((value) => (value === '' ? undefined : value)),
    ),
  );
}

/** The form fields of the declared campaign options. */
function optionsForm(options: readonly CampaignOptionField[]) {
  return v.object(Object.fromEntries(options.map((option) => [option.field, optionField(option)])));
}

/** The campaign options sent, blank ones left out. */
function optionValues(fields: ReadonlyMap<string, unknown>, form: ReturnType<typeof optionsForm>): Record<string, string> {
  const values = parseInput(form, Object.fromEntries(Object.keys(form.entries).map((name) => [name, fields.get(name)])));
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** Problem types a client handles by kind (RFC 9457 `type`): identifiers, documented in the README, not links. */
export const PROBLEM_TYPES = {
  quotaExceeded: { uri: 'tag:ai-growth-accelerator,2026:quota-exceeded', title: 'Quota exceeded' },
  idempotencyKeyInUse: { uri: 'tag:ai-growth-accelerator,2026:idempotency-key-in-use', title: 'Idempotency key in use' },
  idempotencyKeyReused: { uri: 'tag:ai-growth-accelerator,2026:idempotency-key-reused', title: 'Idempotency key reused' },
} as const;

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const IDEMPOTENCY_KEY_FORMAT = `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, e.g. a fresh UUID per submission: Idempotency-Key: "<uuid>"`;

/**
 * The Idempotency-Key header (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): a
 * structured-field string, `"…"`; the bare value many clients send is taken as it is.
 */
export function idempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  let key = header.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1).replace(/\\(["\\])/g, '$1');
  if (key === '' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(key)) throw new ProblemError(400, IDEMPOTENCY_KEY_FORMAT);
  return key;
}

/**
 * The file's bytes as they stream through, hashed on the way (SHA-256); `digest` resolves once the
 * last chunk has passed.
 */
function hashed(chunks: AsyncIterable<Uint8Array>): { chunks: AsyncGenerator<Uint8Array>; digest: Promise<string> } {
  const hash = createHash('sha256');
  let resolve!: (digest: string) => void;
  const digest = new Promise<string>((done) => (resolve = done));
  async function* tap(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      hash.update(chunk);
      yield chunk;
    }
    resolve(hash.digest('hex'));
  }
  return { chunks: tap(), digest };
}

/**
 * A request's fingerprint: SHA-256 over the file's bytes, its name and type, and the text fields.
 * Not over the raw body: a browser's FormData picks a new multipart boundary for every request, so
 * the same form sent twice never has the same body bytes.
 */
function fingerprintOf(fileDigest: string, file: StreamedFile, fields: ReadonlyMap<string, string | StreamedFile>): string {
  const text = [...fields].filter((entry): entry is [string, string] => typeof entry[1] === 'string').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify({ file: fileDigest, name: file.name, type: file.type, fields: text })).digest('hex');
}

function usd(amount: number): string {
  return `$${amount.toFixed(2)}`;
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} seconds`;
  if (seconds < 2 * 3600) return `${Math.ceil(seconds / 60)} minutes`;
  return `${Math.ceil(seconds / 3600)} hours`;
}

/** What the user can do about the limit they reached. */
function quotaDetail(q: QuotaExceeded): string {
  const wait = q.retryAfterSec === undefined ? '' : ` Retry in about ${duration(q.retryAfterSec)} (Retry-After), or`;
  switch (q.limit) {
    case 'concurrent_runs':
      return `You have ${q.used} runs in progress, the most allowed at once (${q.limitValue}). Wait for one to end (follow it at its status_url), then submit again.`;
    case 'leads_per_run':
      return `This file has ${q.used} valid leads; a run may have at most ${q.limitValue}. Split it into files of at most ${q.limitValue} leads and submit each: waiting will not help.`;
    case 'leads_per_day':
      return q.retryAfterSec === undefined
        ? `This file has ${q.requested} valid leads, more than the ${q.limitValue} you may submit in 24 hours: split it into files of at most ${q.limitValue} leads.`
        : `You submitted ${q.used} valid leads in the last 24 hours; this file's ${q.requested} would pass the limit of ${q.limitValue} a day.${wait} submit a smaller file.`;
    case 'spend_per_day_usd':
      return q.retryAfterSec === undefined
        ? `This file's estimated cost, ${usd(q.requested)}, is more than the ${usd(q.limitValue)} of provider spend allowed in 24 hours: split it into smaller files.`
        : `Your runs of the last 24 hours are estimated at ${usd(q.used)}; this file's ${usd(q.requested)} would pass the limit of ${usd(q.limitValue)} a day.${wait} submit a smaller file.`;
  }
}

/** A form field sent blank is the same as one not sent. */
function blankAsAbsent(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

/** The 400 for variables the file cannot fill: the message, and the names in `unknown_variables` (and `private_variables`). */
function templateVariablesProblem(error: TemplateVariablesError): ProblemError {
  return new ProblemError(400, error.message, {}, {
    members: {
      unknown_variables: error.unknown,
      ...(error.private.length === 0 ? {} : { private_variables: error.private }),
    },
  });
}

/** The 429 of a quota the request would pass; `detail` says what to do (default: about a submitted file). */
export function quotaProblem(q: QuotaExceeded, detail: string = quotaDetail(q)): ProblemError {
  return new ProblemError(429, detail, q.retryAfterSec === undefined ? {} : { 'Retry-After': String(q.retryAfterSec) }, {
    type: PROBLEM_TYPES.quotaExceeded,
    members: { limit: q.limit, limit_value: q.limitValue, used: q.used, requested: q.requested },
  });
}

export const ProcessAccepted = v.object({
  run_id: v.pipe(v.string(), v.uuid()),
  campaign_id: v.pipe(v.string(), v.uuid()),
  status_url: v.pipe(v.string(), v.description("GET it for the run's status (also the Location header).")),
  events_url: v.pipe(v.string(), v.description("The run's live progress, as server-sent events.")),
  results_url: v.pipe(v.string(), v.description("The campaign's leads and their lines.")),
});

function processDoc(options: ReturnType<typeof optionsForm>) {
  return describeApiRoute({
    operationId: 'processCampaignFile',
    tags: ['Campaigns'],
    summary: 'Submit a CSV for processing',
    description:
      'Submits a CSV into a new campaign (`campaign_name`) or another run of one of yours (`campaign_id`: send one of the two, not both). ' +
      'The file is validated like the preview and stored as it streams in, before anything is recorded; the work then happens in the background: ' +
      'the answer is 202 with where to follow the run. Prompts and allow_questions given become the campaign\'s settings for its next runs; ' +
      'absent, the run takes the template\'s (`template_id`), else the campaign\'s. Leads a campaign already personalized are `skipped` on its next runs; ' +
      'leads on your suppression list end `suppressed`, with no provider call. ' +
      'Over one of your quotas the answer is 429 and nothing is kept.',
    parameters: [
      headerParam(
        'Idempotency-Key',
        'Makes a retry safe: the same key with the same request answers the first answer again (with Idempotent-Replayed: true) and starts nothing. 1 to 255 printable characters, e.g. a fresh UUID per submission, quoted or bare; kept 24 hours.',
      ),
    ],
    requestBody: formBody(v.object({ ...ProcessForm.pipe[0].entries, ...options.entries }), {
      fields: {
        csv_file: 'The CSV file, as for the preview.',
        demo: 'Yes/no: process only the first 20 valid leads.',
        campaign_name: 'A new campaign of this name.',
        campaign_id: 'Another run of one of your campaigns.',
        research_prompt: "How to research each lead's company (at most 4,000 characters). Absent: the template's, else the campaign's.",
        personalization_prompt:
          "How to write each opening line (at most 4,000 characters): a template whose `{{Column Name}}` or `{{first_name | \"there\"}}` variables are filled from each lead's row; a variable the file cannot fill is a 400 naming it (`unknown_variables`). Absent: the template's, else the campaign's.",
        outputs:
          'Custom outputs written with each line, as JSON text: a list of `{ "name", "instruction", "max_words" }` (names snake_case, unique); `[]` asks for none. Absent: the template\'s.',
        template_id: "One of your saved templates (GET /api/templates): its prompts and outputs, each unless the form gives its own.",
        allow_questions: 'Yes/no: the opening line may be a question. Absent: as the campaign has it (a new campaign: no).',
      },
    }),
    responses: {
      202: jsonResponse('The run is queued.', ProcessAccepted, {
        Location: responseHeader("The run's status URL."),
        'Idempotent-Replayed': responseHeader('true when this is the first answer again, for a retry with the same Idempotency-Key.'),
      }),
      ...problems({
        400: 'A bad field (the detail names it), prompt variables the file cannot fill (`unknown_variables`, and `private_variables` for the email or phone), a bad Idempotency-Key, or a campaign option its consumer refused (e.g. a webhook_url that is not https).',
        404: 'No campaign with this campaign_id, or no template with this template_id.',
        409: 'You already have a campaign named campaign_name (`campaign_id`: add a run to it instead; names compare ignoring case), or a request with this Idempotency-Key is still being processed (Retry-After: 30).',
        413: 'Over the upload limit: from Content-Length before the body is read, or as soon as a chunked body passes it.',
        415: 'Not multipart/form-data, or the file is not a CSV.',
        422: 'A whole-file problem (`code`: EMPTY_FILE, NO_HEADER, NO_EMAIL_COLUMN, MALFORMED_CSV, ...; NO_VALID_LEADS, every row rejected, carries the import `report`), or an Idempotency-Key used for another submission.',
        429: 'Over a quota (`limit`: concurrent_runs, leads_per_run, leads_per_day or spend_per_day_usd); Retry-After when waiting helps.',
      }),
    },
  });
}

/**
 * `POST /process`: submits a CSV for processing, into a new campaign (`campaign_name`) or one of
 * the caller's (`campaign_id`). The file is checked like the preview before anything is
 * recorded; the work then happens in the background, so the answer is 202 with where to follow it.
 */
export function campaignProcessRoutes({ submitCampaign, limits, options }: CampaignProcessRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const optionFields = optionsForm(options);

  routes.post('/process', processDoc(optionFields), streamedCsvUpload(limits), async (c) => {
    const key = idempotencyKey(c.req.header('Idempotency-Key'));
    // The file streams through validation into the object store while it arrives; the small
    // fields, which may come after it, are checked once the whole form is read and before any
    // run is recorded.
    const form = readStreamedForm(c.req.raw, {
      fileField: 'csv_file',
      maxBytes: uploadLimitBytes(limits),
      tooLarge: () => uploadTooLarge(limits),
    });
    const input = form.fields.then((fields) => ({
      ...parseInput(ProcessForm, {
        csv_file: fields.get('csv_file'),
        demo: fields.get('demo'),
        campaign_name: fields.get('campaign_name'),
        campaign_id: fields.get('campaign_id'),
        research_prompt: fields.get('research_prompt'),
        personalization_prompt: fields.get('personalization_prompt'),
        outputs: blankAsAbsent(fields.get('outputs')),
        template_id: blankAsAbsent(fields.get('template_id')),
        allow_questions: fields.get('allow_questions'),
      }),
      options: optionValues(fields, optionFields),
    }));
    input.catch(() => {}); // awaited below, or by the submission
    const file = await form.file;
    if (file === undefined) {
      await input; // rejects: csv_file is required
      throw new ProblemError(400, 'attach the CSV as a file in the form field csv_file');
    }
    try {
      rejectNonCsvType(file);
    } catch (error) {
      // A bad field wins over the part's type, as when the fields came first.
      file.drain();
      await input;
      throw error;
    }

    const upload = hashed(file.chunks());
    const fingerprint = Promise.all([upload.digest, form.fields]).then(([digest, fields]) => fingerprintOf(digest, file, fields));
    fingerprint.catch(() => {}); // awaited by the submission, when it has a key

    const submitted = await submitCampaign
      .submit({
        userId: c.get('userId'),
        file: upload.chunks,
        fileName: file.name,
        ...(key === undefined ? {} : { idempotency: { key, fingerprint } }),
        details: input.then((form) => ({
          demo: form.demo,
          ...(form.campaign_id === undefined ? {} : { campaignId: form.campaign_id }),
          ...(form.campaign_name === undefined ? {} : { campaignName: form.campaign_name }),
          ...(form.research_prompt === undefined ? {} : { researchPrompt: form.research_prompt }),
          ...(form.personalization_prompt === undefined ? {} : { personalizationPrompt: form.personalization_prompt }),
          ...(form.outputs === undefined ? {} : { outputs: form.outputs }),
          ...(form.template_id === undefined ? {} : { templateId: form.template_id }),
          ...(form.allow_questions === undefined ? {} : { allowQuestions: form.allow_questions }),
          options: form.options,
        })),
      })
      .catch((error: unknown) => {
        if (error instanceof CampaignNotFoundError) throw new ProblemError(404, 'No campaign with this campaign_id.');
        if (error instanceof TemplateNotFoundError) throw new ProblemError(404, 'No template with this template_id: list yours with GET /api/templates.');
        if (error instanceof TemplateVariablesError) throw templateVariablesProblem(error);
        if (error instanceof CampaignNameTakenError) throw campaignNameTaken(error);
        if (error instanceof InvalidCampaignOption) throw new ProblemError(400, error.message);
        if (error instanceof QuotaExceededError) throw quotaProblem(error.exceeded);
        if (error instanceof IdempotencyKeyInUse || error instanceof IdempotencyKeyLostError) {
          throw new ProblemError(
            409,
            'A request with this Idempotency-Key is still being processed. Wait for its answer; if you got none (the connection broke), retry with the same key after Retry-After: a request that died frees its key within 30 seconds.',
            { 'Retry-After': '30' },
            { type: PROBLEM_TYPES.idempotencyKeyInUse },
          );
        }
        if (error instanceof IdempotencyKeyReused) {
          throw new ProblemError(
            422,
            'This Idempotency-Key was used for a different submission (another file or other fields) in the last 24 hours. Use a new key for a new submission.',
            {},
            { type: PROBLEM_TYPES.idempotencyKeyReused },
          );
        }
        throw error;
      });

    const statusUrl = `/api/campaigns/status/${submitted.runId}`;
    c.header('Location', statusUrl);
    // The first answer again, for a retry of a submission that created its run.
    if (submitted.replayed === true) c.header('Idempotent-Replayed', 'true');
    return c.json(
      {
        run_id: submitted.runId,
        campaign_id: submitted.campaignId,
        status_url: statusUrl,
        events_url: `/api/campaigns/events/${submitted.runId}`,
        results_url: `/api/campaigns/results/${submitted.campaignId}`,
      },
      202,
    );
  });

  return routes;
}
