/** A campaign's leads: as JSON pages, and as a CSV download (see ../csv-export.ts). */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import { InvalidCursorError, type CampaignQueries, type LeadView } from '../../../ports/campaign-queries.port.ts';
import type { AppEnv } from '../context.ts';
import { campaignCsv } from '../csv-export.ts';
import { ProblemError } from '../problem.ts';
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
  cancelled: true,
} satisfies Record<LeadStatus, true>) as LeadStatus[];

const ResultsQuery = v.object({
  status: v.optional(v.picklist(LEAD_STATUSES, `status must be one of ${LEAD_STATUSES.join(', ')}`)),
  cursor: v.optional(v.pipe(v.string(), v.minLength(1, 'cursor must not be empty'))),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, LIMIT_MESSAGE), v.transform(Number), v.minValue(1, LIMIT_MESSAGE), v.maxValue(500, LIMIT_MESSAGE)),
    '100',
  ),
});

export interface CampaignResultsRoutesDeps {
  readonly queries: CampaignQueries;
  /** The export's reads, on the pool of long reads (default `queries`). */
  readonly exportQueries?: CampaignQueries;
}

/**
 * `GET /results/:campaignId?status=&cursor=&limit=`: one page of the campaign's leads and the
 * cursor of the next (null on the last page).
 * `GET /export/:campaignId`: every lead as a CSV file.
 */
export function campaignResultsRoutes({ queries, exportQueries = queries }: CampaignResultsRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/results/:campaignId', async (c) => {
    const campaignId = pathId(c.req.param('campaignId'), CAMPAIGN_NOT_FOUND);
    const { status, cursor, limit } = parseInput(ResultsQuery, c.req.query());
    const page = await queries
      .leads(c.get('userId'), campaignId, { limit, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) })
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
      if (found.status === 'queued' || found.status === 'extracting' || found.status === 'paused') {
        throw new ProblemError(409, 'The file of this run is still being read: its import report is ready in a moment.', { 'Retry-After': '2' });
      }
      if (found.status === 'cancelled') {
        throw new ProblemError(404, 'This run has no import report: it was cancelled before its file was read to the end.');
      }
      throw new ProblemError(404, 'This run has no import report: its file could not be read (see the run\'s error_message).');
    }
    return c.json({ run_id: runId, ...found.report });
  });

  routes.get('/export/:campaignId', async (c) => {
    const campaignId = pathId(c.req.param('campaignId'), CAMPAIGN_NOT_FOUND);
    const campaign = await exportQueries.exportLeads(c.get('userId'), campaignId);
    if (campaign === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    const logger = c.get('logger');
    const csv = campaignCsv(campaign, (err) => logger.warn({ err, campaign_id: campaignId }, 'export ended before the last lead'));
    return c.body(csv, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="campaign-${campaignId}.csv"`,
    });
  });

  return routes;
}

/** A lead as the results list it: its original columns keyed by header, like the preview's. */
function leadBody(lead: LeadView) {
  return { ...lead, fields: originalFields(lead.fields.map(([header, value]) => ({ header, value }))) };
}
