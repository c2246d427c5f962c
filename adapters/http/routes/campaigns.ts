import { Hono } from 'hono';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import { estimateRunCost, SANDBOX_PRICING, type Pricing, type RunCostEstimate } from '../../../domain/pricing/pricing.ts';
import type { PreviewImport } from '../../../ports/preview-import.port.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, formBody, jsonResponse, problems, queryParams } from '../openapi.ts';
import { CsvFileField, csvUpload, DemoField, formField, parseInput, readForm, rejectNonCsvType } from './input.ts';
import { ImportReportEntries, PreviewLeadBody, previewBody } from './preview-body.ts';

const LIMIT_MESSAGE = 'limit must be a whole number from 0 to 1000';

export const PreviewQuery = v.object({
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,4}$/, LIMIT_MESSAGE), v.transform(Number), v.maxValue(1000, LIMIT_MESSAGE)),
    '10',
  ),
});

export const PreviewForm = v.object({ csv_file: CsvFileField, demo: DemoField });

const Usd = v.pipe(v.number(), v.minValue(0), v.description('USD, at most 6 decimals.'));
const Tokens = v.pipe(v.number(), v.integer(), v.minValue(0));

export const PreviewBody = v.object({
  ...ImportReportEntries,
  leads: v.pipe(v.array(PreviewLeadBody), v.description('The first `limit` valid leads, in file order.')),
  suppressed: v.pipe(
    v.array(v.object({ row: v.pipe(v.number(), v.integer(), v.minValue(2)), reason: v.string() })),
    v.description("Every valid lead on your suppression list, with why: a run ends them `suppressed`, before any paid call. Still counted in `valid` and the estimate, as the quotas count them."),
  ),
  estimate: v.object({
    per_lead_usd: Usd,
    total_usd: Usd,
    sandbox: v.pipe(v.boolean(), v.description('The providers are the in-process sandbox (PROVIDERS=sandbox): the run would cost $0, its research and lines made up.')),
    basis: v.pipe(v.string(), v.description('How the estimate was made.')),
    assumptions: v.object({
      research_calls_per_lead: Tokens,
      research_input_tokens: Tokens,
      research_output_tokens: Tokens,
      writer_calls_per_lead: v.number(),
      writer_input_tokens: Tokens,
      writer_output_tokens: Tokens,
    }),
  }),
});

const previewDoc = describeApiRoute({
  operationId: 'previewCampaignFile',
  tags: ['Campaigns'],
  summary: 'Preview the import of a CSV',
  description:
    'Runs the import of an uploaded CSV without saving anything: the import report (every rejected row and why, how each column was understood), a sample of its leads, the leads on your suppression list, and an estimate of what processing its valid leads would cost ($0, with `sandbox: true`, on the sandbox).',
  parameters: queryParams(PreviewQuery, { limit: 'How many leads of the sample to return: 0 to 1000.' }),
  requestBody: formBody(PreviewForm, {
    fields: { csv_file: 'The CSV file: UTF-8, UTF-16 with a BOM, or Windows-1252; comma, semicolon, tab or pipe separated.', demo: 'Yes/no: keep only the first 20 valid leads.' },
  }),
  responses: {
    200: jsonResponse('The import report, a sample of the leads and the cost estimate.', PreviewBody),
    ...problems({
      400: 'No csv_file, or a bad limit or demo.',
      413: 'Over the 10 MB limit, answered from Content-Length before the body is read.',
      415: 'Not multipart/form-data, or the file is not a CSV.',
      422: 'A whole-file problem (`code`: EMPTY_FILE, NO_HEADER, NO_EMAIL_COLUMN, MALFORMED_CSV, ...).',
    }),
  },
});

export interface CampaignRoutesDeps {
  readonly previewImport: PreviewImport;
  readonly limits: ImportLimits;
  /** Prices the run's cost estimate. */
  readonly pricing: Pricing;
  /** The providers are the in-process sandbox (PROVIDERS=sandbox): the estimate says so, at $0. */
  readonly sandbox?: boolean;
}

/**
 * `POST /preview`: the import report of an uploaded CSV, a sample of its leads and an estimate of
 * what processing its valid leads would cost; nothing is saved.
 */
export function campaignRoutes({ previewImport, limits, pricing, sandbox = false }: CampaignRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.post('/preview', previewDoc, csvUpload(limits), async (c) => {
    const { limit } = parseInput(PreviewQuery, c.req.query());
    const form = await readForm(c.req.formData());
    const { csv_file: file, demo } = parseInput(PreviewForm, {
      csv_file: formField(form, 'csv_file'),
      demo: formField(form, 'demo'),
    });
    rejectNonCsvType(file);
    const preview = await previewImport.preview({ file: file.stream(), demo, sampleSize: limit, userId: c.get('userId') });
    const estimate = sandbox ? estimateRunCost(preview.report.valid, SANDBOX_PRICING) : estimateRunCost(preview.report.valid, pricing);
    return c.json({ ...previewBody(preview), estimate: estimateBody(estimate, sandbox) });
  });

  return routes;
}

const ESTIMATE_BASIS = 'estimate: valid leads × expected calls × price; actual cost depends on tokens used';
export const SANDBOX_ESTIMATE_BASIS =
  'sandbox: the providers are the in-process sandbox (PROVIDERS=sandbox), which bills nobody; its research and lines are made up, cost $0 and do not count in your KPIs';

/**
 * USD amounts as JSON numbers (at most 6 decimals), like the actual costs in the run's status and
 * results; `sandbox` says the run would be made on the sandbox, at $0.
 */
function estimateBody({ perLeadUsd, totalUsd, assumptions }: RunCostEstimate, sandbox: boolean) {
  return {
    per_lead_usd: Number(perLeadUsd),
    total_usd: Number(totalUsd),
    sandbox,
    basis: sandbox ? SANDBOX_ESTIMATE_BASIS : ESTIMATE_BASIS,
    assumptions: {
      research_calls_per_lead: 1,
      research_input_tokens: assumptions.researchInputTokens,
      research_output_tokens: assumptions.researchOutputTokens,
      writer_calls_per_lead: assumptions.writerCallsPerLead,
      writer_input_tokens: assumptions.writerInputTokens,
      writer_output_tokens: assumptions.writerOutputTokens,
    },
  };
}
