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
  type RunSummary,
} from '../../../ports/campaign-queries.port.ts';
import { CampaignNameTakenError } from '../../../ports/campaign-store.port.ts';
import type { CampaignUpdate, ManageCampaigns } from '../../../ports/manage-campaigns.port.ts';
import { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';
import { parseInput, pathId } from './input.ts';

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
  q: v.optional(v.pipe(v.string(), v.maxLength(MAX_CAMPAIGN_NAME_LENGTH, `q must be at most ${MAX_CAMPAIGN_NAME_LENGTH} characters`))),
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

  routes.get('/', async (c) => {
    const { q, cursor, limit } = parseInput(CampaignListQuery, c.req.query());
    const page = await queries
      .campaigns(c.get('userId'), { limit, ...(q === undefined ? {} : { q }), ...(cursor === undefined ? {} : { cursor }) })
      .catch(badCursor);
    return c.json({ campaigns: page.campaigns.map(campaignBody), next_cursor: page.next_cursor });
  });

  routes.get('/:id', async (c) => {
    const campaignId = pathId(c.req.param('id'), CAMPAIGN_NOT_FOUND);
    const campaign = await queries.campaign(c.get('userId'), campaignId);
    if (campaign === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    return c.json(detailBody(campaign, options));
  });

  routes.patch(
    '/:id',
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

  routes.delete('/:id', async (c) => {
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

  routes.get('/:id/runs', async (c) => {
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

function runBody(run: RunSummary) {
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
