import { Hono } from 'hono';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import { estimateRunCost, SANDBOX_PRICING, type Pricing, type RunCostEstimate } from '../../../domain/pricing/pricing.ts';
import type { PreviewImport } from '../../../ports/preview-import.port.ts';
import type { AppEnv } from '../context.ts';
import { CsvFileField, csvUpload, DemoField, formField, parseInput, readForm, rejectNonCsvType } from './input.ts';
import { previewBody } from './preview-body.ts';

const LIMIT_MESSAGE = 'limit must be a whole number from 0 to 1000';

const PreviewQuery = v.object({
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,4}$/, LIMIT_MESSAGE), v.transform(Number), v.maxValue(1000, LIMIT_MESSAGE)),
    '10',
  ),
});

const PreviewForm = v.object({ csv_file: CsvFileField, demo: DemoField });

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

  routes.post('/preview', csvUpload(limits), async (c) => {
    const { limit } = parseInput(PreviewQuery, c.req.query());
    const form = await readForm(c.req.formData());
    const { csv_file: file, demo } = parseInput(PreviewForm, {
      csv_file: formField(form, 'csv_file'),
      demo: formField(form, 'demo'),
    });
    rejectNonCsvType(file);
    const preview = await previewImport.preview({ file: file.stream(), demo, sampleSize: limit });
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
