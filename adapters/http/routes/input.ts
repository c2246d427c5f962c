/**
 * Request input shared by the route plugins: valibot validation with client-safe messages, and
 * the checks every CSV upload goes through (multipart only, a size limit enforced before the body
 * is read, a part type that could be a CSV, the `demo` flag).
 */
import { bodyLimit } from 'hono/body-limit';
import { every } from 'hono/combine';
import { createMiddleware } from 'hono/factory';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';

/** Room for the multipart framing around the file: boundaries, part headers, the small fields. */
const MULTIPART_ALLOWANCE_BYTES = 64 * 1024;

const FLAG_TRUE = ['true', '1', 'on', 'yes'];

/**
 * Declared part types that cannot be a CSV. Browsers label .csv files text/csv, text/plain,
 * application/vnd.ms-excel, application/octet-stream or nothing at all, so everything not listed
 * here goes on to content sniffing, which has the final word.
 */
const NOT_CSV_TYPE =
  /^(image|audio|video|font|model)\/|^application\/(json|[\w.+-]+\+json|xml|[\w.+-]+\+xml|pdf|zip|gzip|x-gzip|x-zip-compressed|x-7z-compressed|x-rar-compressed|x-tar|msword|vnd\.openxmlformats-officedocument\.[\w.-]+|vnd\.oasis\.opendocument\.[\w.-]+)$|^text\/(html|xml)$/;

const UUID = v.pipe(v.string(), v.uuid());

export const CsvFileField = v.instance(File, 'attach the CSV as a file in the form field csv_file');

/** A yes/no form field such as `demo`: true, 1, on or yes; false, 0 or empty; absent is false. */
export function FlagField(name: string) {
  const message = `${name} must be one of true, false, 1, 0, on, yes (or empty)`;
  return v.optional(
    v.pipe(
      v.string(message),
      v.trim(),
      v.toLowerCase(),
      v.picklist(['true', '1', 'on', 'yes', 'false', '0', ''], message),
      v.transform((value) => FLAG_TRUE.includes(value)),
    ),
    'false',
  );
}

/** The `demo` form field. */
export const DemoField = FlagField('demo');

/** A text parameter PostgreSQL can take: its text cannot hold a NUL, and the query would fail (a 500). */
export function withoutNul(name: string) {
  return v.check((value: string) => !value.includes('\u0000'), `${name} must not contain a NUL character`);
}

/** Validates request input; the schemas' messages name the field and are safe to show. */
export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (!result.success) throw new ProblemError(400, result.issues.map((issue) => issue.message).join('; '));
  return result.output;
}

/**
 * The middleware in front of a CSV upload route: a 415 for anything but multipart/form-data, then
 * a 413 for a declared Content-Length over the limit, answered without reading the body.
 */
export function csvUpload(limits: ImportLimits) {
  return every(
    requireMultipart,
    bodyLimit({
      maxSize: uploadLimitBytes(limits),
      onError: () => {
        throw uploadTooLarge(limits);
      },
    }),
  );
}

/**
 * The middleware in front of a streamed CSV upload: a 415 for anything but multipart/form-data,
 * then a 413 for a declared Content-Length over the limit, answered without reading the body.
 * The route counts the body as it streams it (`uploadLimitBytes`, `uploadTooLarge`).
 */
export function streamedCsvUpload(limits: ImportLimits) {
  return every(
    requireMultipart,
    createMiddleware<AppEnv>(async (c, next) => {
      const declared = c.req.header('Content-Length');
      if (declared !== undefined && c.req.header('Transfer-Encoding') === undefined && Number(declared) > uploadLimitBytes(limits)) {
        throw uploadTooLarge(limits);
      }
      await next();
    }),
  );
}

/** The most a CSV upload's body may hold: the file's limit and room for the form around it. */
export function uploadLimitBytes(limits: ImportLimits): number {
  return limits.maxBytes + MULTIPART_ALLOWANCE_BYTES;
}

/** The answer to an upload over the limit. */
export function uploadTooLarge(limits: ImportLimits): ProblemError {
  return new ProblemError(413, `The upload is larger than the ${formatBytes(limits.maxBytes)} limit.`);
}

/** The parsed form, or a 400 when the body is not multipart/form-data after all. */
export async function readForm(formData: Promise<FormData>): Promise<FormData> {
  try {
    return await formData;
  } catch {
    throw new ProblemError(400, 'The body is not valid multipart/form-data.');
  }
}

/** A form field for a valibot schema: a missing field is `undefined`, as `v.optional` expects. */
export function formField(form: FormData, name: string): File | string | undefined {
  return form.get(name) ?? undefined;
}

/**
 * A resource id from the path. A malformed id answers 404 like an unknown or another user's one,
 * so the answer never tells which ids exist.
 */
export function pathId(value: string, notFoundDetail: string): string {
  if (!v.is(UUID, value)) throw new ProblemError(404, notFoundDetail);
  return value;
}

/** A 415 when the part's declared type says it cannot be a CSV. */
export function rejectNonCsvType(file: { readonly type: string }): void {
  const declaredType = mediaType(file.type);
  if (NOT_CSV_TYPE.test(declaredType)) {
    throw new ProblemError(415, `csv_file must be a CSV file; it was sent as ${declaredType}.`);
  }
}

const requireMultipart = createMiddleware<AppEnv>(async (c, next) => {
  if (mediaType(c.req.header('Content-Type') ?? '') !== 'multipart/form-data') {
    throw new ProblemError(415, 'Send the file as multipart/form-data with the file in the field csv_file.');
  }
  await next();
});

/** `text/csv; charset=utf-8` → `text/csv` */
function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MB` : `${bytes} bytes`;
}
