/**
 * A user's campaigns: the list, one campaign with the settings of its next runs, changing them,
 * erasing it, and its runs. Mounted after the other `/api/campaigns` plugins; its paths are the
 * collection itself, `/:id` and `/:id/runs`, which none of theirs (`/status/:runId`,
 * `/results/:campaignId`, `/runs/:runId/report`, ...) can be taken for, and a path id that is not
 * a UUID answers 404 like an unknown one.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import * as v from 'valibot';
import { MAX_CAMPAIGN_NAME_LENGTH } from '../../../domain/campaigns/campaign.ts';
import {
  InvalidCursorError,
  type CampaignDetail,
  type CampaignQueries,
  type CampaignSummary,
  type CampaignRunView,
  type LeadCounts,
  type RunCounters,
  type RunSummary,
} from '../../../ports/campaign-queries.port.ts';
import { CampaignNameTakenError } from '../../../ports/campaign-store.port.ts';
import type { CampaignUpdate, ManageCampaigns } from '../../../ports/manage-campaigns.port.ts';
import { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, jsonBody as jsonRequestBody, jsonResponse, pathParam, problems, queryParams, type FieldSchemas } from '../openapi.ts';
import { ProblemError } from '../problem.ts';
import { parseInput, pathId, withoutNul } from './input.ts';
import { RUN_STATUSES } from './run-progress.ts';

const CAMPAIGN_NOT_FOUND = 'No campaign with this id.';
const MAX_PROMPT_LENGTH = 4000;
/** A campaign option's value (a URL): longer is a mistake (as the process route's). */
const MAX_OPTION_LENGTH = 2000;
/** A PATCH body: a name, two prompts and a URL fit many times over. */
const MAX_PATCH_BYTES = 64 * 1024;
const LIMIT_MESSAGE = 'limit must be a whole number from 1 to 200';

/** Problem types a client handles by kind (RFC 9457 `type`): identifiers, documented in the README, not links. */
export const CAMPAIGN_PROBLEM_TYPES = {
  campaignNameTaken: { uri: 'tag:ai-growth-accelerator,2026:campaign-name-taken', title: 'Campaign name taken' },
  runInProgress: { uri: 'tag:ai-growth-accelerator,2026:run-in-progress', title: 'Run in progress' },
} as const;

/** The 409 for a name the user already gave another campaign: with that campaign's id. */
export function campaignNameTaken(error: CampaignNameTakenError): ProblemError {
  return new ProblemError(
    409,
    `You already have a campaign with this name (campaign_id ${error.campaignId}; names are compared ignoring case). Choose another name, or add a run to that campaign with its campaign_id.`,
    {},
    { type: CAMPAIGN_PROBLEM_TYPES.campaignNameTaken, members: { campaign_id: error.campaignId } },
  );
}

const PageFields = {
  cursor: v.optional(v.pipe(v.string(), v.minLength(1, 'cursor must not be empty'))),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, LIMIT_MESSAGE), v.transform(Number), v.minValue(1, LIMIT_MESSAGE), v.maxValue(200, LIMIT_MESSAGE)),
    '50',
  ),
};

/** `GET /api/campaigns?q=&cursor=&limit=` */
export const CampaignListQuery = v.object({
  q: v.optional(v.pipe(v.string(), v.maxLength(MAX_CAMPAIGN_NAME_LENGTH, `q must be at most ${MAX_CAMPAIGN_NAME_LENGTH} characters`), withoutNul('q'))),
  ...PageFields,
});

/** `GET /api/campaigns/:id/runs?cursor=&limit=` */
export const CampaignRunsQuery = v.object(PageFields);

/** A prompt to set: at most 4000 characters; null or blank clears it (the runs use the default prompt). */
const PromptChange = (name: string) =>
  v.optional(
    v.nullable(
      v.pipe(
        v.string(`${name} must be text, or null to clear it`),
        v.trim(),
        v.maxLength(MAX_PROMPT_LENGTH, `${name} must be at most ${MAX_PROMPT_LENGTH} characters`),
        v.transform((value) => (value === '' ? null : value)),
      ),
    ),
  );

const PATCH_FIELDS = ['name', 'research_prompt', 'personalization_prompt', 'webhook_url', 'allow_questions'] as const;

/** `PATCH /api/campaigns/:id`: the fields to change; an absent field is left as it is. */
export const CampaignPatchBody = v.pipe(
  v.strictObject(
    {
      name: v.optional(
        v.pipe(
          v.string('name must be text'),
          v.trim(),
          v.minLength(1, 'name must not be blank'),
          v.maxLength(MAX_CAMPAIGN_NAME_LENGTH, `name must be at most ${MAX_CAMPAIGN_NAME_LENGTH} characters`),
        ),
      ),
      research_prompt: PromptChange('research_prompt'),
      personalization_prompt: PromptChange('personalization_prompt'),
      webhook_url: v.optional(
        v.nullable(
          v.pipe(
            v.string('webhook_url must be a URL, or null to remove it'),
            v.trim(),
            v.maxLength(MAX_OPTION_LENGTH, `webhook_url must be at most ${MAX_OPTION_LENGTH} characters`),
            v.transform((value) => (value === '' ? null : value)),
          ),
        ),
      ),
      allow_questions: v.optional(v.boolean('allow_questions must be true or false')),
    },
    (issue) =>
      issue.expected === 'never'
        ? `${String(issue.input)} is not a field of a campaign you can change; send any of ${PATCH_FIELDS.join(', ')}`
        : `the body must be a JSON object with any of ${PATCH_FIELDS.join(', ')}`,
  ),
  v.check((body) => Object.keys(body).length > 0, `send at least one of ${PATCH_FIELDS.join(', ')}`),
);

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Timestamp = v.pipe(v.string(), v.isoTimestamp());
const Id = v.pipe(v.string(), v.uuid());
const Usd = (what: string) => v.pipe(v.number(), v.minValue(0), v.description(`USD spent on ${what}, at most 6 decimals.`));
const NextCursor = v.pipe(v.nullable(v.string()), v.description('Pass back as `cursor` for the next page; null on the last page.'));

/** A run's counters, as its status shows them. */
export const RunCountersBody = v.object({
  total_rows: Count,
  valid: Count,
  duplicates: Count,
  rejected_rows: Count,
  skipped: Count,
  processed: Count,
  personalized: Count,
  needs_review: Count,
  failed: Count,
  suppressed: Count,
  cancelled: v.pipe(Count, v.description("Leads the run's cancel left unsettled: not processed.")),
} satisfies FieldSchemas<RunCounters>);

const RunSummaryFields = {
  id: Id,
  status: v.picklist(RUN_STATUSES),
  demo: v.boolean(),
  file_name: v.pipe(v.nullable(v.string()), v.description("The uploaded file's name.")),
  counters: RunCountersBody,
  cost_usd: Usd("the run's counted leads"),
  error_message: v.nullable(v.string()),
  created_at: Timestamp,
  updated_at: Timestamp,
  completed_at: v.nullable(Timestamp),
  status_url: v.pipe(v.string(), v.description("GET it for the run's full status.")),
} satisfies FieldSchemas<ReturnType<typeof runBody>>;

/** A run in a list: a campaign's last run. */
export const RunSummaryBody = v.object(RunSummaryFields);

/** A run of a campaign's list of runs: with the settings it was run with. */
export const CampaignRunBody = v.object({
  ...RunSummaryFields,
  research_prompt: v.nullable(v.string()),
  personalization_prompt: v.nullable(v.string()),
  allow_questions: v.boolean(),
} satisfies FieldSchemas<ReturnType<typeof runBody<CampaignRunView>>>);

const CampaignFields = {
  id: Id,
  name: v.string(),
  created_at: Timestamp,
  updated_at: Timestamp,
  run_count: Count,
  counts: v.pipe(
    v.object({
      total: Count,
      pending: v.pipe(Count, v.description('Not settled yet: waiting for research or for its line.')),
      personalized: Count,
      needs_review: Count,
      failed: Count,
      suppressed: v.pipe(Count, v.description('Ended before any paid call: on your suppression list, or personalized in another campaign lately.')),
      cancelled: v.pipe(Count, v.description('Ended without their work done: their run was cancelled first.')),
    } satisfies FieldSchemas<LeadCounts>),
    v.description("The campaign's leads by where they stand, each lead once (under the run that last took it)."),
  ),
  cost_usd: Usd('the campaign: the sum of its runs'),
  last_run: v.pipe(v.nullable(RunSummaryBody), v.description('The newest run; null for a campaign with none.')),
  runs_url: v.string(),
  results_url: v.string(),
  export_url: v.string(),
} satisfies FieldSchemas<ReturnType<typeof campaignBody>>;

/** A campaign in the list. */
export const CampaignBody = v.object(CampaignFields);

/** A campaign with the settings its next runs take, and each declared campaign option (e.g. `webhook_url`) as a field of its own, null when unset. */
export function campaignDetailBody(options: readonly string[]) {
  return v.object({
    ...CampaignFields,
    research_prompt: v.pipe(v.nullable(v.string()), v.description('The research prompt of its next runs; null: the default.')),
    personalization_prompt: v.pipe(v.nullable(v.string()), v.description('The personalization prompt of its next runs; null: the default.')),
    allow_questions: v.pipe(v.boolean(), v.description('Whether the opening lines of its next runs may be questions.')),
    ...Object.fromEntries(options.map((option) => [option, v.pipe(v.nullable(v.string()), v.description('A campaign option; null when unset.'))])),
  } satisfies FieldSchemas<Omit<CampaignDetail, 'options' | 'last_run'>>);
}

export const CampaignsPage = v.object({ campaigns: v.array(CampaignBody), next_cursor: NextCursor });
export const CampaignRunsPage = v.object({ runs: v.array(CampaignRunBody), next_cursor: NextCursor });

const CAMPAIGN_ID = pathParam('id', 'The campaign id.');
const PAGE_PARAMS = { cursor: 'The `next_cursor` of the previous page.', limit: 'Per page: 1 to 200 (default 50).' };

const listDoc = describeApiRoute({
  operationId: 'listCampaigns',
  tags: ['Campaigns'],
  summary: 'Your campaigns, a page at a time',
  description: 'Newest first, each with its lead counts, cost and last run.',
  parameters: queryParams(CampaignListQuery, { q: 'Only campaigns whose name contains this (any case).', ...PAGE_PARAMS }),
  responses: {
    200: jsonResponse('One page of campaigns.', CampaignsPage),
    ...problems({ 400: 'A bad q or limit, or a cursor this listing did not hand out.' }),
  },
});

const runsDoc = describeApiRoute({
  operationId: 'listCampaignRuns',
  tags: ['Runs'],
  summary: "A campaign's runs, a page at a time",
  description: 'Newest first, each with its counters, cost and the settings it was run with.',
  parameters: [CAMPAIGN_ID, ...queryParams(CampaignRunsQuery, PAGE_PARAMS)],
  responses: {
    200: jsonResponse('One page of runs.', CampaignRunsPage),
    ...problems({ 400: 'A bad limit, or a cursor this listing did not hand out.', 404: 'No campaign with this id (or not yours).' }),
  },
});

const deleteDoc = describeApiRoute({
  operationId: 'deleteCampaign',
  tags: ['Campaigns'],
  summary: 'Erase a campaign',
  description: 'Erases the campaign, its runs, its leads and their files, for good.',
  parameters: [CAMPAIGN_ID],
  responses: {
    204: { description: 'Erased.' },
    ...problems({
      404: 'No campaign with this id (or not yours).',
      409: 'A run of the campaign is still in progress (`run_ids`): cancel it or wait for it to end. Nothing was deleted.',
    }),
  },
});

/** The descriptions of the routes whose answer shows the declared campaign options. */
function campaignDocs(options: readonly string[]) {
  const detail = campaignDetailBody(options);
  return {
    get: describeApiRoute({
      operationId: 'getCampaign',
      tags: ['Campaigns'],
      summary: 'A campaign',
      description: 'The campaign with its lead counts, cost, last run, and the settings its next runs take.',
      parameters: [CAMPAIGN_ID],
      responses: { 200: jsonResponse('The campaign.', detail), ...problems({ 404: 'No campaign with this id (or not yours).' }) },
    }),
    patch: describeApiRoute({
      operationId: 'updateCampaign',
      tags: ['Campaigns'],
      summary: 'Rename a campaign or change its settings',
      description: 'Changes the fields sent (at least one); the others stay as they are. The settings apply to the next runs.',
      parameters: [CAMPAIGN_ID],
      requestBody: jsonRequestBody(CampaignPatchBody, {
        fields: {
          name: 'Unique among your campaigns, ignoring case.',
          research_prompt: 'At most 4,000 characters; null or blank: the default prompt.',
          personalization_prompt: 'At most 4,000 characters; null or blank: the default prompt.',
          webhook_url: 'Receives a signed POST when each run ends (when the webhook consumer is enabled); null or blank removes it.',
          allow_questions: 'Whether the opening lines may be questions.',
        },
      }),
      responses: {
        200: jsonResponse('The campaign, changed.', detail),
        ...problems({
          400: 'Not valid JSON, a bad field, no field, or a field that is not one of these; or a webhook_url refused.',
          404: 'No campaign with this id (or not yours).',
          409: 'Another campaign of yours has this name (`campaign_id`).',
          413: 'A body over 64 KB.',
          415: 'Not JSON (Content-Type: application/json).',
        }),
      },
    }),
  };
}

export interface CampaignManagementRoutesDeps {
  readonly queries: CampaignQueries;
  readonly manage: ManageCampaigns;
  /** Campaign options the consumers declared (e.g. `webhook_url`): shown on a campaign, and changed by PATCH. */
  readonly options: readonly string[];
}

/**
 * `GET /`: the user's campaigns, newest first, `?q=` by name, paged.
 * `GET /:id`: one campaign with its settings. `PATCH /:id`: rename it, change its settings.
 * `DELETE /:id`: erase it (204), or 409 while a run of it is in progress.
 * `GET /:id/runs`: its runs, newest first, paged.
 */
export function campaignManagementRoutes({ queries, manage, options }: CampaignManagementRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const docs = campaignDocs(options);

  routes.get('/', listDoc, async (c) => {
    const { q, cursor, limit } = parseInput(CampaignListQuery, c.req.query());
    const page = await queries
      .campaigns(c.get('userId'), { limit, ...(q === undefined ? {} : { q }), ...(cursor === undefined ? {} : { cursor }) })
      .catch(badCursor);
    return c.json({ campaigns: page.campaigns.map(campaignBody), next_cursor: page.next_cursor });
  });

  routes.get('/:id', docs.get, async (c) => {
    const campaignId = pathId(c.req.param('id'), CAMPAIGN_NOT_FOUND);
    const campaign = await queries.campaign(c.get('userId'), campaignId);
    if (campaign === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    return c.json(detailBody(campaign, options));
  });

  routes.patch(
    '/:id',
    docs.patch,
    bodyLimit({
      maxSize: MAX_PATCH_BYTES,
      onError: () => {
        throw new ProblemError(413, `The body is larger than ${MAX_PATCH_BYTES / 1024} KB.`);
      },
    }),
    async (c) => {
      const campaignId = pathId(c.req.param('id'), CAMPAIGN_NOT_FOUND);
      const body = parseInput(CampaignPatchBody, await jsonBody(c.req.header('Content-Type'), () => c.req.text()));
      if (body.webhook_url !== undefined && !options.includes('webhook_url')) {
        throw new ProblemError(400, 'webhook_url is not a campaign option on this server.');
      }
      const userId = c.get('userId');
      const update: CampaignUpdate = {
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.research_prompt === undefined ? {} : { researchPrompt: body.research_prompt }),
        ...(body.personalization_prompt === undefined ? {} : { personalizationPrompt: body.personalization_prompt }),
        ...(body.allow_questions === undefined ? {} : { allowQuestions: body.allow_questions }),
        ...(body.webhook_url === undefined ? {} : { options: { webhook_url: body.webhook_url } }),
      };
      const found = await manage.update(userId, campaignId, update).catch((error: unknown) => {
        if (error instanceof CampaignNameTakenError) throw campaignNameTaken(error);
        if (error instanceof InvalidCampaignOption) throw new ProblemError(400, error.message);
        throw error;
      });
      const campaign = found ? await queries.campaign(userId, campaignId) : null;
      if (campaign === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
      return c.json(detailBody(campaign, options));
    },
  );

  routes.delete('/:id', deleteDoc, async (c) => {
    const campaignId = pathId(c.req.param('id'), CAMPAIGN_NOT_FOUND);
    const erased = await manage.erase(c.get('userId'), campaignId);
    if (erased.kind === 'not_found') throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    if (erased.kind === 'in_progress') {
      const [runId] = erased.runIds;
      throw new ProblemError(
        409,
        `A run of this campaign is still in progress (run ${runId}): cancel it (POST /api/campaigns/runs/${runId}/cancel) or wait for it to end, then delete the campaign. Nothing was deleted.`,
        {},
        { type: CAMPAIGN_PROBLEM_TYPES.runInProgress, members: { run_ids: erased.runIds } },
      );
    }
    c.get('logger').info({ campaign_id: campaignId, runs: erased.runIds.length }, 'campaign erased');
    return c.body(null, 204);
  });

  routes.get('/:id/runs', runsDoc, async (c) => {
    const campaignId = pathId(c.req.param('id'), CAMPAIGN_NOT_FOUND);
    const { cursor, limit } = parseInput(CampaignRunsQuery, c.req.query());
    const page = await queries.campaignRuns(c.get('userId'), campaignId, { limit, ...(cursor === undefined ? {} : { cursor }) }).catch(badCursor);
    if (page === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    return c.json({ runs: page.runs.map((run: CampaignRunView) => runBody(run)), next_cursor: page.next_cursor });
  });

  return routes;
}

function badCursor(error: unknown): never {
  if (error instanceof InvalidCursorError) throw new ProblemError(400, 'cursor is not one this listing handed out');
  throw error;
}

/** The body as JSON: 415 unless it says it is JSON, 400 when it is not valid JSON. */
async function jsonBody(contentType: string | undefined, text: () => Promise<string>): Promise<unknown> {
  const type = (contentType?.split(';')[0] ?? '').trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[\w.+-]+\+json$/.test(type)) {
    throw new ProblemError(415, 'Send the changes as JSON (Content-Type: application/json).');
  }
  try {
    return JSON.parse(await text()) as unknown;
  } catch {
    throw new ProblemError(400, 'The body is not valid JSON.');
  }
}

/** Links a client follows from a campaign. */
function campaignLinks(id: string) {
  return { runs_url: `/api/campaigns/${id}/runs`, results_url: `/api/campaigns/results/${id}`, export_url: `/api/campaigns/export/${id}` };
}

function runBody<Run extends RunSummary>(run: Run) {
  return { ...run, status_url: `/api/campaigns/status/${run.id}` };
}

function campaignBody(campaign: CampaignSummary) {
  return { ...campaign, last_run: campaign.last_run === null ? null : runBody(campaign.last_run), ...campaignLinks(campaign.id) };
}

/** The campaign with its settings; each declared campaign option as a field of its own (null when unset). */
function detailBody(campaign: CampaignDetail, options: readonly string[]) {
  const { options: stored, ...rest } = campaign;
  return { ...campaignBody(rest), ...Object.fromEntries(options.map((option) => [option, stored[option] ?? null])) };
}
