/** A campaign's leads: as JSON pages, and as a CSV download (see ../csv-export.ts). */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import { InvalidCursorError, type CampaignQueries, type LeadView } from '../../../ports/campaign-queries.port.ts';
import type { AppEnv } from '../context.ts';
import { campaignCsv, contentDisposition, SEQUENCER_VARIABLES, SEQUENCERS } from '../csv-export.ts';
import { describeApiRoute, jsonResponse, pathParam, problems, queryParams, responseHeader, type FieldSchemas } from '../openapi.ts';
import { ProblemError } from '../problem.ts';
import { leadResult } from '../result-record.ts';
import { parseInput, pathId, withoutNul } from './input.ts';
import { ImportReportEntries, OriginalFieldsBody, originalFields } from './preview-body.ts';

const CAMPAIGN_NOT_FOUND = 'No campaign with this id.';
const RUN_NOT_FOUND = 'No run with this id.';
const LIMIT_MESSAGE = 'limit must be a whole number from 1 to 500';

/** Every lead status, as a record so that the compiler notices a status added to the domain. */
export const RESULT_STATUSES = Object.keys({
  pending: true,
  researched: true,
  personalized: true,
  needs_review: true,
  failed: true,
  suppressed: true,
  cancelled: true,
} satisfies Record<LeadStatus, true>) as LeadStatus[];

const STATUS_MESSAGE = `status must be one or more (comma-separated) of ${RESULT_STATUSES.join(', ')}`;

/** `?status=failed,needs_review`: one or several lead statuses. */
export const StatusListParam = v.pipe(
  v.string(STATUS_MESSAGE),
  v.transform((value) => value.split(',').map((status) => status.trim())),
  v.array(v.picklist(RESULT_STATUSES, STATUS_MESSAGE)),
);

export const ResultsQuery = v.object({
  status: v.optional(StatusListParam),
  run_id: v.optional(v.pipe(v.string(), v.uuid('run_id must be the id of one of the campaign\'s runs (a UUID)'))),
  q: v.optional(
    v.pipe(
      v.string(),
      v.maxLength(200, 'q must be at most 200 characters'),
      withoutNul('q'),
    ),
  ),
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

const Timestamp = v.pipe(v.string(), v.isoTimestamp());

/** A lead as the results list it: one schema per field of the answer (see leadBody). */
export const ResultLeadBody = v.object({
  id: v.pipe(v.string(), v.uuid()),
  run_id: v.pipe(v.string(), v.uuid(), v.description('The run that last took the lead.')),
  row: v.pipe(v.number(), v.integer(), v.description("The row in its run's file, as a spreadsheet numbers it.")),
  email: v.string(),
  company: v.string(),
  canonical: v.pipe(v.record(v.string(), v.string()), v.description('Every canonical field found in the row (first_name, title, website, ...).')),
  fields: OriginalFieldsBody,
  personalized_message: v.pipe(v.nullable(v.string()), v.description('The opening line; null until written (a draft that failed the quality gates stays here, for review).')),
  enrichment_status: v.pipe(
    v.picklist(RESULT_STATUSES),
    v.description("The lead's status (`cancelled`: its run was cancelled before its work was done; the export also has `rejected` and `duplicate`, for rows that are not leads)."),
  ),
  error: v.pipe(v.nullable(v.string()), v.description('Why the lead failed, needs review, was suppressed or cancelled.')),
  unsupported_specifics: v.pipe(
    v.array(v.string()),
    v.description(
      'For a lead that needs review: the specifics of its line (numbers, money, dates and times, names) that neither the research, the lead\'s fields nor the campaign\'s prompts support, e.g. ["$50M", "Sequoia", "last week"]; empty otherwise.',
    ),
  ),
  research_summary: v.pipe(v.nullable(v.string()), v.description('What the research found about the company.')),
  sources: v.pipe(v.array(v.string()), v.description('The URLs the research cites.')),
  message_basis: v.pipe(v.nullable(v.string()), v.description('The fact of the research the line relies on.')),
  model: v.pipe(v.nullable(v.string()), v.description('The model that wrote the line.')),
  research_model: v.pipe(v.nullable(v.string()), v.description('The model that did the research.')),
  cost_usd: v.pipe(v.number(), v.minValue(0), v.description("USD spent on the lead's provider calls, at most 6 decimals; 0 on the sandbox, and for research it did not pay for.")),
  outputs: v.pipe(v.record(v.string(), v.string()), v.description("The run's custom outputs written with the line, by name; {} when it asked for none or none is written yet.")),
  sandbox: v.pipe(v.boolean(), v.description('Its run was made on the in-process sandbox: made-up research and line, at $0.')),
  research_cached: v.pipe(v.boolean(), v.description("The lead's research was not paid for in its run: another lead's of the same company, or its own reused by a re-run.")),
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  updated_at: Timestamp,
  settled_at: v.nullable(Timestamp),
} satisfies FieldSchemas<LeadResultBody>);

export const ResultsPage = v.object({
  leads: v.array(ResultLeadBody),
  next_cursor: v.pipe(v.nullable(v.string()), v.description('Pass back as `cursor` for the next page; null on the last page.')),
});

export const ImportReportBody = v.object({ run_id: v.pipe(v.string(), v.uuid()), ...ImportReportEntries });

const CAMPAIGN_ID = pathParam('campaignId', "The campaign id, from the submission's answer.");

const resultsDoc = describeApiRoute({
  operationId: 'listCampaignResults',
  tags: ['Results'],
  summary: "A campaign's leads, a page at a time",
  description:
    "The campaign's leads in row order, each in its latest state: its original columns, then its result under the export's column names (personalized_message, enrichment_status, error, unsupported_specifics, research_summary, sources, message_basis, model, research_model, cost_usd), its custom outputs, and whether its run was on the sandbox and its research reused.",
  parameters: [
    CAMPAIGN_ID,
    ...queryParams(ResultsQuery, {
      status: `Only leads in one of these statuses, comma-separated: ${RESULT_STATUSES.map((status) => `\`${status}\``).join(', ')}.`,
      q: "Only leads whose email, company, name (first, last or full) or opening line contains it, ignoring case (up to 200 characters). Pages carry on with the same `q`.",
      cursor: 'The `next_cursor` of the previous page.',
      limit: 'Leads per page: 1 to 500.',
    }),
  ],
  responses: {
    200: jsonResponse('One page of leads.', ResultsPage),
    ...problems({ 400: 'A bad status or limit, or a cursor this listing did not hand out.', 404: 'No campaign with this id (or not yours).' }),
  },
});

const reportDoc = describeApiRoute({
  operationId: 'getRunImportReport',
  tags: ['Runs'],
  summary: "A run's import report",
  description: "How the run's file was read: rows, valid leads, duplicates, how each column was understood, and every rejected row with its reason.",
  parameters: [pathParam('runId', 'The run id.')],
  responses: {
    200: jsonResponse('The import report.', ImportReportBody),
    ...problems({
      404: 'No run with this id (or not yours), a run whose file could not be read (see its error_message), or one cancelled before its file was read to the end.',
      409: 'The file is still being read (a paused run\'s file is read too): the report is ready in a moment (Retry-After: 2).',
    }),
  },
});

const exportDoc = describeApiRoute({
  operationId: 'exportCampaign',
  tags: ['Results'],
  summary: "A campaign's leads as a CSV file",
  description:
    "A row for every row of the file, in file order (rows that are not leads say why: `rejected`, `duplicate`): every original column in its original order (the union over the campaign's runs), then the result columns (personalized_message, enrichment_status, error, unsupported_specifics, research_summary, sources, message_basis, model, research_model, cost_usd), a `sandbox` column when some run was made on the sandbox, and one column per custom output. UTF-8 with a BOM; a cell that a spreadsheet would run as a formula is prefixed with '.",
  parameters: [
    CAMPAIGN_ID,
    ...queryParams(ExportQuery, {
      only: '`personalized`: only the personalized leads (no other lead, no row that is not a lead).',
      for: `Names the line's column as this sequencer's merge variable expects: ${SEQUENCERS.map((name) => `\`${name}\` (${SEQUENCER_VARIABLES[name]})`).join(', ')}.`,
    }),
  ],
  responses: {
    200: {
      description: 'The CSV file.',
      headers: { 'Content-Disposition': responseHeader('attachment, with the file name.') },
      content: { 'text/csv': { schema: { type: 'string' } } },
    },
    ...problems({ 400: 'A bad `only` or `for`.', 404: 'No campaign with this id (or not yours).' }),
  },
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

  routes.get('/results/:campaignId', resultsDoc, async (c) => {
    const campaignId = pathId(c.req.param('campaignId'), CAMPAIGN_NOT_FOUND);
    const { status, run_id: runId, q, cursor, limit } = parseInput(ResultsQuery, c.req.query());
    const page = await queries
      .leads(c.get('userId'), campaignId, {
        limit,
        ...(status === undefined ? {} : { statuses: [...new Set(status)] }),
        ...(runId === undefined ? {} : { runId }),
        ...(q === undefined || q.trim() === '' ? {} : { q }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      .catch((error: unknown) => {
        if (error instanceof InvalidCursorError) throw new ProblemError(400, 'cursor is not one this listing handed out');
        throw error;
      });
    if (page === null) throw new ProblemError(404, CAMPAIGN_NOT_FOUND);
    return c.json({ leads: page.leads.map(leadBody), next_cursor: page.next_cursor });
  });

  routes.get('/runs/:runId/report', reportDoc, async (c) => {
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
      throw new ProblemError(404, "This run has no import report: its file could not be read (see the run's error_message).");
    }
    return c.json({ run_id: runId, ...found.report });
  });

  routes.get('/export/:campaignId', exportDoc, async (c) => {
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
      'Content-Disposition': contentDisposition(campaign.campaign_name, now(), exportVariant(query.for, query.only === 'personalized')),
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
    research_cached: lead.research_cached,
    attempts: lead.attempts,
    updated_at: lead.updated_at,
    settled_at: lead.settled_at,
  };
}

/** How an export differs from the standard one, for its file name ("instantly-personalized"); none for the standard one. */
function exportVariant(sequencer: string | undefined, onlyPersonalized: boolean): string | undefined {
  const parts = [...(sequencer === undefined ? [] : [sequencer]), ...(onlyPersonalized ? ['personalized'] : [])];
  return parts.length === 0 ? undefined : parts.join('-');
}
