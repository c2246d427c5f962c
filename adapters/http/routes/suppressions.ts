/**
 * The caller's suppression list: addresses and domains no campaign of theirs processes.
 *
 * - `GET /` lists it in value order, paged (`?q=`, `?cursor=`, `?limit=`);
 * - `POST /` adds `{ "entries": [...] }` or `{ "value": "..." }` (JSON);
 * - `POST /import` adds the entries of a CSV (multipart, `csv_file`);
 * - `DELETE /:id` and `DELETE /?value=` remove one.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import * as v from 'valibot';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import { InvalidSuppressionCursorError, type SuppressionPage, type SuppressionView } from '../../../ports/suppression-store.port.ts';
import { InvalidSuppressionEntry, NoValidSuppressionEntries, type AddedEntries, type ImportedEntries, type Suppressions } from '../../../ports/suppressions.port.ts';
import type { SuppressionKind } from '../../../domain/suppression/suppression.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, formBody, jsonBody, jsonResponse, pathParam, problems, queryParams, type FieldSchemas } from '../openapi.ts';
import { ProblemError } from '../problem.ts';
import { CsvFileField, csvUpload, formField, parseInput, pathId, readForm, rejectNonCsvType, withoutNul } from './input.ts';

/** Entries one JSON request may add; a longer list goes as a CSV to `/import`. */
export const MAX_ENTRIES_PER_REQUEST = 10_000;
/** 10,000 entries of up to 254 characters, quoted, and room around them. */
const MAX_JSON_BYTES = 4 * 1024 * 1024;
const MAX_QUERY_LENGTH = 254;
const LIMIT_MESSAGE = 'limit must be a whole number from 1 to 500';
const NOT_FOUND = 'No suppression entry with this id.';

export const SuppressionsQuery = v.object({
  q: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(MAX_QUERY_LENGTH, `q must be at most ${MAX_QUERY_LENGTH} characters`), withoutNul('q'))),
  cursor: v.optional(v.pipe(v.string(), v.minLength(1, 'cursor must not be empty'))),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, LIMIT_MESSAGE), v.transform(Number), v.minValue(1, LIMIT_MESSAGE), v.maxValue(500, LIMIT_MESSAGE)),
    '100',
  ),
});

const ENTRY_MESSAGE = 'each entry must be text: an email address or a domain';

/** `{ "entries": ["ada@example.com", "example.org"] }`, or one entry as `{ "value": "example.org" }`. */
export const AddSuppressionsBody = v.pipe(
  v.object(
    {
      entries: v.optional(
        v.pipe(
          v.array(v.string(ENTRY_MESSAGE), 'entries must be a list of email addresses and domains'),
          v.minLength(1, 'entries must not be empty'),
          v.maxLength(MAX_ENTRIES_PER_REQUEST, `send at most ${MAX_ENTRIES_PER_REQUEST} entries per request, or upload them as a CSV to POST /api/suppressions/import`),
        ),
      ),
      value: v.optional(v.string('value must be text: an email address or a domain')),
    },
    'the body must be a JSON object: { "entries": [...] } or { "value": "..." }',
  ),
  v.check((body) => body.entries !== undefined || body.value !== undefined, 'send { "entries": ["ada@example.com", "example.org"] } or { "value": "example.org" }'),
  v.check((body) => body.entries === undefined || body.value === undefined, 'send entries or value, not both'),
);

const DELETE_MESSAGE = 'send the entry to remove as ?value=, e.g. DELETE /api/suppressions?value=example.org, or remove it by id: DELETE /api/suppressions/<id>';

/** `?value=example.org` (any spelling of an entry: it is normalized first). */
export const DeleteSuppressionQuery = v.object({
  // Absent is the same as empty: the message says what to send.
  value: v.optional(v.pipe(v.string(DELETE_MESSAGE), v.trim(), v.minLength(1, DELETE_MESSAGE)), ''),
});

export const ImportSuppressionsForm = v.object({ csv_file: CsvFileField });

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** The kinds of entry, as a record so that the compiler notices a kind added to the domain. */
const SUPPRESSION_KINDS = Object.keys({ email: true, domain: true } satisfies Record<SuppressionKind, true>) as SuppressionKind[];

/** An entry of the list. */
export const SuppressionBody = v.object({
  id: v.pipe(v.string(), v.uuid()),
  value: v.pipe(v.string(), v.description('The email address or domain, normalized: lower-cased; a URL or `@example.org` becomes its domain, without `www.`.')),
  kind: v.picklist(SUPPRESSION_KINDS),
  created_at: v.pipe(v.string(), v.isoTimestamp()),
} satisfies FieldSchemas<SuppressionView>);

export const SuppressionsPage = v.object({
  suppressions: v.pipe(v.array(SuppressionBody), v.description('In value order.')),
  next_cursor: v.pipe(v.nullable(v.string()), v.description('Pass back as `cursor` for the next page; null on the last page.')),
} satisfies FieldSchemas<SuppressionPage>);

const AlreadyPresent = v.pipe(Count, v.description('Valid entries the list had already: not an error.'));
const Duplicates = v.pipe(Count, v.description('Entries repeated in the request (after normalization), counted once.'));

/** The answer to `POST /api/suppressions`. */
export const AddedSuppressionsBody = v.object({
  added: v.pipe(Count, v.description('How many entries were added.')),
  already_present: AlreadyPresent,
  duplicates: Duplicates,
  invalid: v.pipe(v.array(v.object({ value: v.string(), reason: v.string() })), v.description('Each refused entry as sent, and why.')),
  suppressions: v.pipe(v.array(SuppressionBody), v.description('The entries added, in value order.')),
} satisfies FieldSchemas<Omit<AddedEntries, 'added'> & { added: number; suppressions: AddedEntries['added'] }>);

/** The answer to `POST /api/suppressions/import`. */
export const ImportedSuppressionsBody = v.object({
  total_rows: v.pipe(Count, v.description('Data rows read (blank lines are not rows).')),
  column: v.pipe(v.nullable(v.string()), v.description('The column read, as its header says; null for a file without a header row.')),
  added: Count,
  already_present: AlreadyPresent,
  duplicates: Duplicates,
  invalid: v.pipe(
    v.array(v.object({ row: v.pipe(v.number(), v.integer(), v.minValue(1)), reason: v.string() })),
    v.description('Each refused row (numbered as a spreadsheet shows it: a header is row 1), and why.'),
  ),
} satisfies FieldSchemas<ImportedEntries>);

const listDoc = describeApiRoute({
  operationId: 'listSuppressions',
  tags: ['Suppressions'],
  summary: 'Your suppression list, a page at a time',
  description: 'Email addresses and domains no campaign of yours processes: a lead whose email, or whose email\'s or website\'s domain (or a parent domain), is on it ends `suppressed`, before any provider call.',
  parameters: queryParams(SuppressionsQuery, {
    q: 'Only entries containing this.',
    cursor: 'The `next_cursor` of the previous page.',
    limit: 'Entries per page: 1 to 500 (default 100).',
  }),
  responses: {
    200: jsonResponse('One page of entries.', SuppressionsPage),
    ...problems({ 400: 'A bad q or limit, or a cursor this listing did not hand out.' }),
  },
});

const addDoc = describeApiRoute({
  operationId: 'addSuppressions',
  tags: ['Suppressions'],
  summary: 'Add entries to your suppression list',
  description: `Email addresses and domains, normalized first; invalid ones are listed with why, the valid ones added. At most ${MAX_ENTRIES_PER_REQUEST.toLocaleString('en-US')} a request: a longer list goes as a CSV to POST /api/suppressions/import.`,
  requestBody: jsonBody(AddSuppressionsBody, {
    fields: { entries: 'Email addresses and domains (send this or value).', value: 'One email address or domain.' },
  }),
  responses: {
    201: jsonResponse('Some entries were added.', AddedSuppressionsBody),
    200: jsonResponse('None was added: each was on the list already (or repeated).', AddedSuppressionsBody),
    ...problems({
      400: 'Not valid JSON, a bad body, or no valid entry among those sent (`invalid`: each and why); nothing was added.',
      413: 'A body over 4 MB: upload a long list as a CSV.',
      415: 'Not JSON (Content-Type: application/json).',
    }),
  },
});

const importDoc = describeApiRoute({
  operationId: 'importSuppressions',
  tags: ['Suppressions'],
  summary: 'Add the entries of a CSV to your suppression list',
  description:
    "Reads the file's email column, else its domain or website column, else its first column (a file without a header too); the encodings, separators and size limit of a lead file.",
  requestBody: formBody(ImportSuppressionsForm, { fields: { csv_file: 'The CSV file.' } }),
  responses: {
    201: jsonResponse('Some entries were added.', ImportedSuppressionsBody),
    200: jsonResponse('None was added: each was on the list already (or repeated).', ImportedSuppressionsBody),
    ...problems({
      400: 'No csv_file.',
      413: 'Over the upload limit.',
      415: 'Not multipart/form-data, or the file is not a CSV.',
      422: 'A whole-file problem (`code`), or no row with a valid entry (`code`: NO_VALID_ENTRIES, with the `report`); nothing was added.',
    }),
  },
});

const removeValueDoc = describeApiRoute({
  operationId: 'removeSuppressionByValue',
  tags: ['Suppressions'],
  summary: 'Remove an entry from your suppression list, by value',
  parameters: queryParams(DeleteSuppressionQuery, { value: 'The address or domain to remove, in any spelling (it is normalized first).' }),
  responses: {
    204: { description: 'Removed.' },
    ...problems({ 400: 'No value, or one that is not an email address or a domain.', 404: 'Your list has no such entry.' }),
  },
});

const removeDoc = describeApiRoute({
  operationId: 'removeSuppression',
  tags: ['Suppressions'],
  summary: 'Remove an entry from your suppression list',
  parameters: [pathParam('id', 'The entry id.')],
  responses: { 204: { description: 'Removed.' }, ...problems({ 404: 'No entry with this id (or not yours).' }) },
});

export interface SuppressionRoutesDeps {
  readonly suppressions: Suppressions;
  readonly limits: ImportLimits;
}

export function suppressionRoutes({ suppressions, limits }: SuppressionRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/', listDoc, async (c) => {
    const { q, cursor, limit } = parseInput(SuppressionsQuery, c.req.query());
    const page = await suppressions
      .list(c.get('userId'), { limit, ...(q === undefined || q === '' ? {} : { q }), ...(cursor === undefined ? {} : { cursor }) })
      .catch((error: unknown) => {
        if (error instanceof InvalidSuppressionCursorError) throw new ProblemError(400, 'cursor is not one this listing handed out');
        throw error;
      });
    return c.json(page);
  });

  routes.post(
    '/',
    addDoc,
    bodyLimit({
      maxSize: MAX_JSON_BYTES,
      onError: () => {
        throw new ProblemError(413, `The body is larger than ${MAX_JSON_BYTES / 1024 / 1024} MB: upload a long list as a CSV to POST /api/suppressions/import.`);
      },
    }),
    async (c) => {
      if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(c.req.header('Content-Type') ?? '')) {
        throw new ProblemError(415, 'Send the entries as JSON (Content-Type: application/json), or a CSV file to POST /api/suppressions/import.');
      }
      const json: unknown = await c.req.json().catch(() => {
        throw new ProblemError(400, 'The body is not valid JSON.');
      });
      const body = parseInput(AddSuppressionsBody, json);
      const values = body.entries ?? (body.value === undefined ? [] : [body.value]);
      const outcome = await suppressions.add(c.get('userId'), values).catch((error: unknown) => {
        if (error instanceof NoValidSuppressionEntries) {
          throw new ProblemError(400, noValidEntry(values.length), {}, { members: { invalid: error.invalid ?? [] } });
        }
        throw error;
      });
      return c.json(
        { added: outcome.added.length, already_present: outcome.already_present, duplicates: outcome.duplicates, invalid: outcome.invalid, suppressions: outcome.added },
        outcome.added.length > 0 ? 201 : 200,
      );
    },
  );

  routes.post('/import', importDoc, csvUpload(limits), async (c) => {
    const form = await readForm(c.req.formData());
    const { csv_file: file } = parseInput(ImportSuppressionsForm, { csv_file: formField(form, 'csv_file') });
    rejectNonCsvType(file);
    const report = await suppressions.importFile(c.get('userId'), file.stream()).catch((error: unknown) => {
      if (error instanceof NoValidSuppressionEntries && error.report !== undefined) {
        throw new ProblemError(422, 'No row of the file holds a valid email address or domain: see invalid for the reason of each row. Nothing was added.', {}, {
          members: { code: 'NO_VALID_ENTRIES', report: error.report },
        });
      }
      throw error;
    });
    return c.json(report, report.added > 0 ? 201 : 200);
  });

  routes.delete('/', removeValueDoc, async (c) => {
    const { value } = parseInput(DeleteSuppressionQuery, c.req.query());
    const removed = await suppressions.removeValue(c.get('userId'), value).catch((error: unknown) => {
      if (error instanceof InvalidSuppressionEntry) throw new ProblemError(400, error.reason);
      throw error;
    });
    if (removed === null) throw new ProblemError(404, 'Your suppression list has no such entry.');
    return c.body(null, 204);
  });

  routes.delete('/:id', removeDoc, async (c) => {
    const id = pathId(c.req.param('id'), NOT_FOUND);
    if (!(await suppressions.remove(c.get('userId'), id))) throw new ProblemError(404, NOT_FOUND);
    return c.body(null, 204);
  });

  return routes;
}

function noValidEntry(sent: number): string {
  return sent === 1
    ? 'The entry is not a valid email address or domain (see invalid for why). Nothing was added.'
    : `None of the ${sent} entries is a valid email address or domain (see invalid for why). Nothing was added.`;
}
