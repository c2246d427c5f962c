import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import type { PreviewImport } from '../../../ports/preview-import.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';
import { previewBody } from './preview-body.ts';

/** Room for the multipart framing around the file: boundaries, part headers, the small fields. */
const MULTIPART_ALLOWANCE_BYTES = 64 * 1024;

const LIMIT_MESSAGE = 'limit must be a whole number from 0 to 1000';
const DEMO_MESSAGE = 'demo must be one of true, false, 1, 0, on, yes (or empty)';
const DEMO_TRUE = ['true', '1', 'on', 'yes'];

const PreviewQuery = v.object({
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,4}$/, LIMIT_MESSAGE), v.transform(Number), v.maxValue(1000, LIMIT_MESSAGE)),
    '10',
  ),
});

const PreviewForm = v.object({
  csv_file: v.instance(File, 'attach the CSV as a file in the form field csv_file'),
  demo: v.optional(
    v.pipe(
      v.string(DEMO_MESSAGE),
      v.trim(),
      v.toLowerCase(),
      v.picklist(['true', '1', 'on', 'yes', 'false', '0', ''], DEMO_MESSAGE),
      v.transform((value) => DEMO_TRUE.includes(value)),
    ),
    'false',
  ),
});

/**
 * Declared part types that cannot be a CSV. Browsers label .csv files text/csv, text/plain,
 * application/vnd.ms-excel, application/octet-stream or nothing at all, so everything not listed
 * here goes on to content sniffing, which has the final word.
 */
const NOT_CSV_TYPE =
  /^(image|audio|video|font|model)\/|^application\/(json|[\w.+-]+\+json|xml|[\w.+-]+\+xml|pdf|zip|gzip|x-gzip|x-zip-compressed|x-7z-compressed|x-rar-compressed|x-tar|msword|vnd\.openxmlformats-officedocument\.[\w.-]+|vnd\.oasis\.opendocument\.[\w.-]+)$|^text\/(html|xml)$/;

export interface CampaignRoutesDeps {
  readonly previewImport: PreviewImport;
  readonly limits: ImportLimits;
}

/** `POST /preview`: the import report of an uploaded CSV and a sample of its leads; nothing is saved. */
export function campaignRoutes({ previewImport, limits }: CampaignRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.post(
    '/preview',
    requireMultipart,
    // Before any parsing: a declared Content-Length over the limit is answered without reading the body.
    bodyLimit({
      maxSize: limits.maxBytes + MULTIPART_ALLOWANCE_BYTES,
      onError: () => {
        throw new ProblemError(413, `The upload is larger than the ${formatBytes(limits.maxBytes)} limit.`);
      },
    }),
    async (c) => {
      const { limit } = parseInput(PreviewQuery, c.req.query());
      const form = await readForm(c.req.formData());
      const { csv_file: file, demo } = parseInput(PreviewForm, {
        csv_file: form.get('csv_file') ?? undefined,
        demo: form.get('demo') ?? undefined,
      });
      const declaredType = mediaType(file.type);
      if (NOT_CSV_TYPE.test(declaredType)) {
        throw new ProblemError(415, `csv_file must be a CSV file; it was sent as ${declaredType}.`);
      }
      const preview = await previewImport.preview({ file: file.stream(), demo, sampleSize: limit });
      return c.json(previewBody(preview));
    },
  );

  return routes;
}

const requireMultipart = createMiddleware<AppEnv>(async (c, next) => {
  if (mediaType(c.req.header('Content-Type') ?? '') !== 'multipart/form-data') {
    throw new ProblemError(415, 'Send the file as multipart/form-data with the file in the field csv_file.');
  }
  await next();
});

/** Validates request input; the schemas' messages name the field and are safe to show. */
function parseInput<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (!result.success) throw new ProblemError(400, result.issues.map((issue) => issue.message).join('; '));
  return result.output;
}

async function readForm(formData: Promise<FormData>): Promise<FormData> {
  try {
    return await formData;
  } catch {
    throw new ProblemError(400, 'The body is not valid multipart/form-data.');
  }
}

/** `text/csv; charset=utf-8` → `text/csv` */
function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MB` : `${bytes} bytes`;
}
