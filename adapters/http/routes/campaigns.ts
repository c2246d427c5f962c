import { Hono } from 'hono';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
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
}

/** `POST /preview`: the import report of an uploaded CSV and a sample of its leads; nothing is saved. */
export function campaignRoutes({ previewImport, limits }: CampaignRoutesDeps) {
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
    return c.json(previewBody(preview));
  });

  return routes;
}
