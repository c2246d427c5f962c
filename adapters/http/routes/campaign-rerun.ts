/**
 * `POST /:id/runs` (under /api/campaigns): re-run some of a campaign's stored leads without
 * uploading the file again (issue 10, item 3), selected by status or by id, optionally with new
 * prompts; their stored research is reused unless `"research": "refresh"`. Answered like
 * `POST /process`: 202 with where to follow the run, the same quotas and Idempotency-Key.
 */
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import * as v from 'valibot';
import { RERUNNABLE_LEAD_STATUSES, type LeadStatus } from '../../../domain/campaigns/run.ts';
import { QuotaExceededError, type QuotaExceeded } from '../../../domain/quotas/quota.ts';
import type { RerunCampaign } from '../../../ports/rerun-campaign.port.ts';
import { NothingToRerunError, RunInProgressError } from '../../../ports/rerun-store.port.ts';
import { CampaignNotFoundError, IdempotencyKeyLostError } from '../../../ports/submission-store.port.ts';
import { IdempotencyKeyInUse, IdempotencyKeyReused } from '../../../ports/submit-campaign.port.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, headerParam, jsonBody, jsonResponse, pathParam, problems, responseHeader } from '../openapi.ts';
import { ProblemError } from '../problem.ts';
import { idempotencyKey, ProcessAccepted, PROBLEM_TYPES, quotaProblem } from './campaign-process.ts';
import { PersonalizationPromptField, promptField } from './prompt-input.ts';
import { parseInput, pathId } from './input.ts';

/** The lead statuses a re-run may select: a processed or cancelled lead's (a lead still in a run belongs to it; a suppressed one stays suppressed). */
export const RERUN_STATUSES: readonly LeadStatus[] = RERUNNABLE_LEAD_STATUSES;
/** Lead ids one request may list; a larger selection is made by status. */
export const MAX_RERUN_LEAD_IDS = 10_000;
/** The body's limit: 10,000 ids and two prompts fit in well under it. */
const MAX_BODY_BYTES = 1024 * 1024;

const STATUS_LIST = RERUN_STATUSES.join(', ');

/** The re-run request's JSON body. */
export const RerunBody = v.pipe(
  v.strictObject(
    {
      statuses: v.optional(
        v.pipe(
          v.array(
            v.picklist(RERUN_STATUSES, (issue) => `statuses: ${issue.received} is not a status a lead can be re-run from; use ${STATUS_LIST}`),
            `statuses must be a list of lead statuses, e.g. ["failed", "needs_review"]`,
          ),
          v.minLength(1, 'statuses must name at least one status'),
        ),
      ),
      lead_ids: v.optional(
        v.pipe(
          v.array(
            v.pipe(v.string('each of lead_ids must be a lead id (a UUID)'), v.uuid((issue) => `lead_ids: ${issue.received} is not a lead id (a UUID)`)),
            'lead_ids must be a list of lead ids',
          ),
          v.minLength(1, 'lead_ids must list at least one lead id'),
          v.maxLength(MAX_RERUN_LEAD_IDS, `lead_ids may list at most ${MAX_RERUN_LEAD_IDS} leads; select more by statuses`),
        ),
      ),
      research_prompt: promptField('research_prompt'),
      personalization_prompt: PersonalizationPromptField,
      allow_questions: v.optional(v.boolean('allow_questions must be true or false')),
      research: v.optional(
        v.picklist(['reuse', 'refresh'], 'research must be "reuse" (the default: keep each lead\'s stored research) or "refresh" (research again, once per company)'),
        'reuse',
      ),
    },
    (issue) => `unknown field ${issue.received}; the body takes statuses or lead_ids, and optionally research_prompt, personalization_prompt, allow_questions, research`,
  ),
  v.check(
    (body) => (body.statuses === undefined) !== (body.lead_ids === undefined),
    'send either statuses (e.g. ["failed", "needs_review"]) or lead_ids (a list of lead ids), not both and not neither',
  ),
);

const rerunDoc = describeApiRoute({
  operationId: 'rerunCampaign',
  tags: ['Campaigns'],
  summary: "Re-run some of a campaign's leads",
  description:
    "Starts a new run of the campaign over some of its stored leads, without uploading the file again: selected by `statuses` or by `lead_ids` (one of the two), " +
    "optionally with new prompts. Each lead's stored research is reused unless `research` is `refresh`. The run takes the campaign's settings and custom outputs; " +
    'a suppressed lead is never re-run. Answered like POST /process: 202 with where to follow the run, under the same quotas and Idempotency-Key.',
  parameters: [
    pathParam('id', 'The campaign id.'),
    headerParam('Idempotency-Key', 'Makes a retry safe, as for POST /api/campaigns/process: the same key with the same body answers the first answer again and starts nothing.'),
  ],
  requestBody: jsonBody(RerunBody, {
    fields: {
      statuses: `Re-run the leads in these statuses (${STATUS_LIST}).`,
      lead_ids: `Re-run these leads (at most ${MAX_RERUN_LEAD_IDS.toLocaleString('en-US')}); only those in one of the statuses above are taken.`,
      research_prompt: "The run's research prompt (at most 4,000 characters); absent: the campaign's.",
      personalization_prompt: "The run's personalization prompt (at most 4,000 characters); absent: the campaign's.",
      allow_questions: "Whether the lines may be questions; absent: the campaign's setting.",
      research: '`reuse` (the default): keep each lead\'s stored research; `refresh`: research again, once per company.',
    },
  }),
  responses: {
    202: jsonResponse('The run is recorded and its leads queued.', ProcessAccepted, {
      Location: responseHeader("The run's status URL."),
      'Idempotent-Replayed': responseHeader('true when this is the first answer again, for a retry with the same Idempotency-Key.'),
    }),
    ...problems({
      400: 'Not valid JSON, a bad field, both or neither of statuses and lead_ids, or a bad Idempotency-Key.',
      404: 'No campaign with this id (or not yours).',
      409: 'A run of the campaign is still in progress (`run_id`, `run_status`; Retry-After: 30), or a request with this Idempotency-Key is still being processed (Retry-After: 30).',
      413: 'A body over 1 MB.',
      415: 'Not JSON (Content-Type: application/json).',
      422: 'No lead of the campaign matches the selection, or an Idempotency-Key used for another request.',
      429: 'Over a quota (`limit`: concurrent_runs, leads_per_run, leads_per_day or spend_per_day_usd); Retry-After when waiting helps.',
    }),
  },
});

export interface CampaignRerunRoutesDeps {
  readonly rerunCampaign: RerunCampaign;
}

const RERUN_PROBLEM_TYPES = {
  runInProgress: { uri: 'tag:ai-growth-accelerator,2026:run-in-progress', title: 'Run in progress' },
  nothingToRerun: { uri: 'tag:ai-growth-accelerator,2026:nothing-to-rerun', title: 'Nothing to re-run' },
} as const;

/** What the user can do about the limit a re-run would pass (a re-run has no file to split). */
function rerunQuotaDetail(q: QuotaExceeded): string {
  const wait = q.retryAfterSec === undefined ? '' : ' Retry after Retry-After, or';
  switch (q.limit) {
    case 'concurrent_runs':
      return `You have ${q.used} runs in progress, the most allowed at once (${q.limitValue}). Wait for one to end, then re-run.`;
    case 'leads_per_run':
      return `This selection has ${q.used} leads; a run may have at most ${q.limitValue}. Select fewer (by lead_ids, or fewer statuses).`;
    case 'leads_per_day':
      return `This selection's ${q.requested} leads would pass your limit of ${q.limitValue} leads a day (${q.used} used in the last 24 hours).${wait} select fewer.`;
    case 'spend_per_day_usd':
      return `This re-run's estimated cost, $${q.requested.toFixed(2)}, would pass your limit of $${q.limitValue.toFixed(2)} a day ($${q.used.toFixed(2)} used in the last 24 hours).${wait} select fewer.`;
  }
}

function rerunProblem(error: unknown): unknown {
  if (error instanceof CampaignNotFoundError) return new ProblemError(404, 'No campaign with this id.');
  if (error instanceof RunInProgressError) {
    return new ProblemError(
      409,
      error.status === 'paused'
        ? `Run ${error.runId} of this campaign is paused, not ended: a re-run would take its leads from under it. Resume it (POST /api/campaigns/runs/${error.runId}/resume) and wait for it to end, or cancel it (POST /api/campaigns/runs/${error.runId}/cancel), then re-run.`
        : `Run ${error.runId} of this campaign is still ${error.status}: a re-run would take its leads from under it. Wait for it to end (follow /api/campaigns/status/${error.runId}), then re-run.`,
      { 'Retry-After': '30' },
      { type: RERUN_PROBLEM_TYPES.runInProgress, members: { run_id: error.runId, run_status: error.status } },
    );
  }
  if (error instanceof NothingToRerunError) {
    return new ProblemError(
      422,
      `No lead of this campaign matches the selection: nothing to re-run. Leads can be re-run once their run is over, from the statuses ${STATUS_LIST}; see the campaign's results for their ids and statuses.`,
      {},
      { type: RERUN_PROBLEM_TYPES.nothingToRerun },
    );
  }
  if (error instanceof QuotaExceededError) return quotaProblem(error.exceeded, rerunQuotaDetail(error.exceeded));
  if (error instanceof IdempotencyKeyInUse || error instanceof IdempotencyKeyLostError) {
    return new ProblemError(
      409,
      'A request with this Idempotency-Key is still being processed. Wait for its answer; if you got none (the connection broke), retry with the same key after Retry-After.',
      { 'Retry-After': '30' },
      { type: PROBLEM_TYPES.idempotencyKeyInUse },
    );
  }
  if (error instanceof IdempotencyKeyReused) {
    return new ProblemError(
      422,
      'This Idempotency-Key was used for a different request in the last 24 hours. Use a new key for a new request.',
      {},
      { type: PROBLEM_TYPES.idempotencyKeyReused },
    );
  }
  return error;
}

export function campaignRerunRoutes({ rerunCampaign }: CampaignRerunRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.post(
    '/:id/runs',
    rerunDoc,
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ProblemError(413, `The body is larger than ${MAX_BODY_BYTES / 1024} KB: select the leads by statuses, or list fewer lead_ids.`);
      },
    }),
    async (c) => {
      const campaignId = pathId(c.req.param('id'), 'No campaign with this id.');
      const key = idempotencyKey(c.req.header('Idempotency-Key'));
      const type = (c.req.header('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        throw new ProblemError(415, 'Send the body as JSON (Content-Type: application/json), e.g. {"statuses": ["failed", "needs_review"]}.');
      }
      let json: unknown;
      try {
        json = await c.req.json();
      } catch {
        throw new ProblemError(400, 'The body is not valid JSON.');
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) {
        throw new ProblemError(400, 'The body must be a JSON object, e.g. {"statuses": ["failed", "needs_review"]}.');
      }
      const body = parseInput(RerunBody, json);
      const fingerprint = createHash('sha256').update(JSON.stringify({ campaign_id: campaignId, body })).digest('hex');

      const run = await rerunCampaign
        .rerun({
          userId: c.get('userId'),
          campaignId,
          ...(body.statuses === undefined ? {} : { statuses: body.statuses }),
          ...(body.lead_ids === undefined ? {} : { leadIds: body.lead_ids }),
          ...(body.research_prompt === undefined ? {} : { researchPrompt: body.research_prompt }),
          ...(body.personalization_prompt === undefined ? {} : { personalizationPrompt: body.personalization_prompt }),
          ...(body.allow_questions === undefined ? {} : { allowQuestions: body.allow_questions }),
          research: body.research,
          ...(key === undefined ? {} : { idempotency: { key, fingerprint } }),
        })
        .catch((error: unknown) => {
          throw rerunProblem(error);
        });

      const statusUrl = `/api/campaigns/status/${run.runId}`;
      c.header('Location', statusUrl);
      if (run.replayed === true) c.header('Idempotent-Replayed', 'true');
      return c.json(
        {
          run_id: run.runId,
          campaign_id: run.campaignId,
          status_url: statusUrl,
          events_url: `/api/campaigns/events/${run.runId}`,
          results_url: `/api/campaigns/results/${run.campaignId}`,
        },
        202,
      );
    },
  );

  return routes;
}
