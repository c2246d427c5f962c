/** A campaign's leads: as JSON pages, and as a CSV download (see ../csv-export.ts). */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import { InvalidCursorError, type CampaignQueries, type LeadView } from '../../../ports/campaign-queries.port.ts';
import type { AppEnv } from '../context.ts';
import { campaignCsv, contentDisposition, SEQUENCERS } from '../csv-export.ts';
import { ProblemError } from '../problem.ts';
import { leadResult } from '../result-record.ts';
import { parseInput, pathId } from './input.ts';
import { originalFields } from './preview-body.ts';

const CAMPAIGN_NOT_FOUND = 'No campaign with this id.';
const RUN_NOT_FOUND = 'No run with this id.';
const LIMIT_MESSAGE = 'limit must be a whole number from 1 to 500';

/** Every lead status, as a record so that the compiler notices a status added to the domain. */
const LEAD_STATUSES = Object.keys({
  pending: true,
  researched: true,
  personalized: true,
  needs_review: true,
  failed: true,
  suppressed: true,
} satisfies Record<LeadStatus, true>) as LeadStatus[];

const STATUS_MESSAGE = `status must be one or more (comma-separated) of ${LEAD_STATUSES.join(', ')}`;

/** `?status=failed,needs_review`: one or several lead statuses. */
export const StatusListParam = v.pipe(
  v.string(STATUS_MESSAGE),
  v.transform((value) => value.split(',').map((status) => status.trim())),
  v.array(v.picklist(LEAD_STATUSES, STATUS_MESSAGE)),
);

export const ResultsQuery = v.object({
  status: v.optional(StatusListParam),
  run_id: v.optional(v.pipe(v.string(), v.uuid('run_id must be the id of one of the campaign\'s runs (a UUID)'))),
  cursor: v.optional(v.pipe(v.string(), v.minLength(1, 'cursor must not be empty'))),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, LIMIT_MESSAGE), v.transform(Number), v.minValue(1, LIMIT_MESSAGE), v.maxValue(500, LIMIT_MESSAGE)),
    '100',
  ),
});

export const ExportQuery = v.object({
  only: v.optional(v.picklist(['personalized'], 'only must be personalized (or left out for every row)')),
  for: v.optional(v.picklist(SEQUENCERS, `for must be one of ${SEQUENCERS.join(', ')}`)),
});

export interface CampaignResultsRoutesDeps {
  readonly queries: CampaignQueries;
  /** The export's reads, on the pool of long reads (default `queries`). */
  readonly exportQueries?: CampaignQueries;
  /** The export's date, for its file name (default now). */
  readonly now?: () => Date;
}

/**
 * `GET /results/:campaignId?status=&run_id=&cursor=&limit=`: one page of the campaign's leads in
 * row order and the cursor of the next (null on the last page).
 * `GET /export/:campaignId?only=personalized&for=instantly|smartlead|lemlist`: a row for every
 * row of the file as a CSV file named after the campaign and the day.
 */
export function campaignResultsRoutes({ queries, exportQueries = queries, now = () => new Date() }: CampaignResultsRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/results/:campaignId', async (c) => {
    const campaignId = pathId(c.req.param('campaignId'), CAMPAIGN_NOT_FOUND);
    const { status, run_id: runId, cursor, limit } = parseInput(ResultsQuery, c.req.query());
    const page = await queries
      .leads(c.get('userId'), campaignId, {
        limit,
        ...(status === undefined ? {} : { statuses: [...new Set(status)] }),
        ...(runId === undefined ? {} : { runId }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      .catch((error: unknown) => {
        if (error instanceof InvalidCursorError) throw new ProblemError(400, 'cursor is not one this listing handed out');
        throw error;
      });
    if (page === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    return c.json({ leads: page.leads.map(leadBody), next_cursor: page.next_cursor });
  });

  routes.get('/runs/:runId/report', async (c) => {
    const runId = pathId(c.req.param('runId'), RUN_NOT_FOUND);
    const found = await queries.importReport(c.get('userId'), runId);
    if (found === null) throw new ProblemError(404, RUN_NOT_FOUND);
    if (found.report === null) {
      if (found.status === 'queued' || found.status === 'extracting') {
        throw new ProblemError(409, 'The file of this run is still being read: its import report is ready in a moment.', { 'Retry-After': '2' });
      }
      throw new ProblemError(404, 'This run has no import report: its file could not be read (see the run\'s error_message).');
    }
    return c.json({ run_id: runId, ...found.report });
  });

  routes.get('/export/:campaignId', async (c) => {
    const campaignId = pathId(c.req.param('campaignId'), CAMPAIGN_NOT_FOUND);
    const query = parseInput(ExportQuery, c.req.query());
    const campaign = await exportQueries.exportLeads(c.get('userId'), campaignId, { onlyPersonalized: query.only === 'personalized' });
    if (campaign === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    const logger = c.get('logger');
    const csv = campaignCsv(
      campaign,
      (err) => logger.warn({ err, campaign_id: campaignId }, 'export ended before the last row'),
      query.for === undefined ? {} : { for: query.for },
    );
    return c.body(csv, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': contentDisposition(campaign.campaign_name, now()),
    });
  });

  return routes;
}

/** A lead as `GET /results` lists it. */
export type LeadResultBody = ReturnType<typeof leadBody>;

/**
 * A lead as the results list it: its identity and original columns (keyed by header, like the
 * preview's), then its result under the export's names (result-record.ts).
 */
function leadBody(lead: LeadView) {
  return {
    id: lead.id,
    run_id: lead.run_id,
    row: lead.row,
    email: lead.email,
    company: lead.company,
    canonical: lead.canonical,
    fields: originalFields(lead.fields.map(([header, value]) => ({ header, value }))),
    ...leadResult(lead),
    outputs: lead.outputs,
    sandbox: lead.sandbox,
    attempts: lead.attempts,
    updated_at: lead.updated_at,
    settled_at: lead.settled_at,
  };
}
