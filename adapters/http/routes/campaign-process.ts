import { Hono } from 'hono';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import { CampaignNotFoundError } from '../../../ports/campaign-store.port.ts';
import type { SubmitCampaign } from '../../../ports/submit-campaign.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';
import { CsvFileField, csvUpload, DemoField, FlagField, formField, parseInput, readForm, rejectNonCsvType } from './input.ts';

const MAX_PROMPT_LENGTH = 4000;

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
    csv_file: CsvFileField,
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
    (form) => (form.campaign_name === undefined) !== (form.campaign_id === undefined),
    'send either campaign_name (a new campaign) or campaign_id (one of your campaigns), not both',
  ),
);

export interface CampaignProcessRoutesDeps {
  readonly submitCampaign: SubmitCampaign;
  readonly limits: ImportLimits;
}

/**
 * `POST /process`: submits a CSV for processing, into a new campaign (`campaign_name`) or one of
 * the caller's (`campaign_id`). The file is checked like the preview before anything is
 * recorded; the work then happens in the background, so the answer is 202 with where to follow it.
 */
export function campaignProcessRoutes({ submitCampaign, limits }: CampaignProcessRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.post('/process', csvUpload(limits), async (c) => {
    const form = await readForm(c.req.formData());
    const input = parseInput(ProcessForm, {
      csv_file: formField(form, 'csv_file'),
      demo: formField(form, 'demo'),
      campaign_name: formField(form, 'campaign_name'),
      campaign_id: formField(form, 'campaign_id'),
      research_prompt: formField(form, 'research_prompt'),
      personalization_prompt: formField(form, 'personalization_prompt'),
      allow_questions: formField(form, 'allow_questions'),
    });
    const file = input.csv_file;
    rejectNonCsvType(file);

    const submitted = await submitCampaign
      .submit({
        userId: c.get('userId'),
        // A File is a Blob: each stream() reads it again from the start.
        openFile: () => file.stream(),
        fileName: file.name,
        demo: input.demo,
        ...(input.campaign_id === undefined ? {} : { campaignId: input.campaign_id }),
        ...(input.campaign_name === undefined ? {} : { campaignName: input.campaign_name }),
        ...(input.research_prompt === undefined ? {} : { researchPrompt: input.research_prompt }),
        ...(input.personalization_prompt === undefined ? {} : { personalizationPrompt: input.personalization_prompt }),
        allowQuestions: input.allow_questions,
      })
      .catch((error: unknown) => {
        if (error instanceof CampaignNotFoundError) throw new ProblemError(404, 'No campaign with this campaign_id.');
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
