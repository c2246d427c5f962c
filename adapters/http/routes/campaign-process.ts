import { Hono } from 'hono';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import { CampaignNotFoundError } from '../../../ports/submission-store.port.ts';
import { InvalidCampaignOption, type SubmitCampaign } from '../../../ports/submit-campaign.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';
import { readStreamedForm, StreamedFile } from '../multipart.ts';
import { DemoField, FlagField, parseInput, rejectNonCsvType, streamedCsvUpload, uploadLimitBytes, uploadTooLarge } from './input.ts';

const MAX_PROMPT_LENGTH = 4000;
/** A campaign option's value (a URL, an id): longer is a mistake. */
const MAX_OPTION_LENGTH = 2000;

/** A prompt: at most 4000 characters; empty (or blank) is the same as absent. */
const promptField = (name: string) =>
  v.optional(
    v.pipe(
      v.string(`${name} must be text`),
      v.trim(),
      v.maxLength(MAX_PROMPT_LENGTH, `${name} must be at most ${MAX_PROMPT_LENGTH} characters`),
      v.transform((value) => (value === '' ? undefined : value)),
    ),
  );

const ProcessForm = v.pipe(
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
    personalization_prompt: promptField('personalization_prompt'),
    allow_questions: FlagField('allow_questions'),
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

export interface CampaignProcessRoutesDeps {
  readonly submitCampaign: SubmitCampaign;
  readonly limits: ImportLimits;
  /** Campaign options the consumers declared (form fields, e.g. `webhook_url`); each is checked by the submission. */
  readonly options: readonly string[];
}

/** The campaign options sent: text of at most MAX_OPTION_LENGTH characters; blank is the same as absent. */
function optionValues(fields: ReadonlyMap<string, unknown>, names: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of names) {
    const value = fields.get(name);
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new ProblemError(400, `${name} must be text`);
    const trimmed = value.trim();
    if (trimmed === '') continue;
    if (trimmed.length > MAX_OPTION_LENGTH) throw new ProblemError(400, `${name} must be at most ${MAX_OPTION_LENGTH} characters`);
    values[name] = trimmed;
  }
  return values;
}

/**
 * `POST /process`: submits a CSV for processing, into a new campaign (`campaign_name`) or one of
 * the caller's (`campaign_id`). The file is checked like the preview before anything is
 * recorded; the work then happens in the background, so the answer is 202 with where to follow it.
 */
export function campaignProcessRoutes({ submitCampaign, limits, options }: CampaignProcessRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.post('/process', streamedCsvUpload(limits), async (c) => {
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
        allow_questions: fields.get('allow_questions'),
      }),
      options: optionValues(fields, options),
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

    const submitted = await submitCampaign
      .submit({
        userId: c.get('userId'),
        file: file.chunks(),
        fileName: file.name,
        details: input.then((form) => ({
          demo: form.demo,
          ...(form.campaign_id === undefined ? {} : { campaignId: form.campaign_id }),
          ...(form.campaign_name === undefined ? {} : { campaignName: form.campaign_name }),
          ...(form.research_prompt === undefined ? {} : { researchPrompt: form.research_prompt }),
          ...(form.personalization_prompt === undefined ? {} : { personalizationPrompt: form.personalization_prompt }),
          allowQuestions: form.allow_questions,
          options: form.options,
        })),
      })
      .catch((error: unknown) => {
        if (error instanceof CampaignNotFoundError) throw new ProblemError(404, 'No campaign with this campaign_id.');
        if (error instanceof InvalidCampaignOption) throw new ProblemError(400, error.message);
        throw error;
      });

    const statusUrl = `/api/campaigns/status/${submitted.runId}`;
    c.header('Location', statusUrl);
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
