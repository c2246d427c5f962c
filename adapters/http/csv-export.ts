/**
 * A campaign's export as a CSV download: a row for every row of its file, in row order: each lead
 * in its latest state, and each row that is not a lead (rejected, duplicate) with its reason.
 * Every original column in its original order, then the result's fields (result-record.ts:
 * `personalized_message`, `enrichment_status`, `error`, `unsupported_specifics` (joined with
 * "; "), `research_summary`, `sources`, `message_basis`, `model`, `research_model`, `cost_usd`),
 * the same names as the results JSON.
 * Then, when some run of the campaign was made on the sandbox (PROVIDERS=sandbox), `sandbox`
 * (`true` on its made-up, $0 leads); then one column per custom output the campaign's runs asked
 * for (a subject line, a P.S.), named as the output, empty for a row without it (outputColumns).
 *
 * - UTF-8 with a byte order mark, so that Excel reads the accents right; CRLF line ends (RFC 4180).
 * - A file that already has a column named like one we add keeps it; ours gets " (aga)" appended,
 *   e.g. "error (aga)".
 * - A sequencer preset (`?for=`) names the line's column as that tool's merge variable expects
 *   (SEQUENCER_VARIABLES). There the tool's variable must be ours: a column of the file with that
 *   name (an Instantly export's own "personalization") is renamed "<name> (original)".
 * - Formula injection (OWASP "CSV Injection"): any cell, headers included, that starts with `=`,
 *   `+`, `-`, `@`, a tab or a carriage return (or a full-width `=`, `+`, `-`, `@`) is prefixed with
 *   a single quote, so a spreadsheet shows it as text instead of running it. A value such as
 *   "-5" therefore reads "'-5": the price of never executing a lead's cell.
 */
import { pipeline, Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { stringify } from 'csv-stringify';
import type { ExportRow, LeadView } from '../../ports/campaign-queries.port.ts';
import { importRowResult, leadResult, RESULT_FIELDS, resultCells } from './result-record.ts';

/** The sequencers an export can be shaped for. */
export const SEQUENCERS = ['instantly', 'smartlead', 'lemlist'] as const;
export type Sequencer = (typeof SEQUENCERS)[number];

/**
 * The name each sequencer gives the line, so that its CSV import maps our column onto the variable
 * the user's sequence uses without a manual mapping:
 * - Instantly: `personalization` is a lead field of its own (the lead object of its API v2,
 *   developer.instantly.ai/api-reference/lead), used in a sequence as `{{personalization}}`.
 * - Smartlead: a column that is not one of its standard fields becomes a custom field named after
 *   its header, used as `{{field_name}}` (api.smartlead.ai/guides/lead-management); it reserves no
 *   name for the line, so it gets Instantly's, and one sequence copy serves both tools.
 * - lemlist: `icebreaker` is one of its default lead variables, next to email, firstName, lastName,
 *   companyName… (developer.lemlist.com, "Add Custom Variables on Leads"), used as `{{icebreaker}}`.
 */
export const SEQUENCER_VARIABLES: Readonly<Record<Sequencer, string>> = {
  instantly: 'personalization',
  smartlead: 'personalization',
  lemlist: 'icebreaker',
};

export interface CsvExport {
  /** The original headers in order (a header may repeat, as in the file). */
  readonly headers: readonly string[];
  /** The custom outputs' names, in order: one column each after ours (none by default). */
  readonly outputs?: readonly string[];
  /** Some run of the campaign was made on the sandbox: a `sandbox` column says which rows (`true`/`false`). */
  readonly sandbox?: boolean;
  readonly rows: AsyncIterable<ExportRow>;
}

export interface CsvOptions {
  /**
   * Names the line's column for this sequencer (`personalized_message` otherwise), and fills it
   * (and the custom outputs) for personalized leads only: a file shaped for a sequencer is loaded
   * into it, and it would send a draft left for review.
   */
  readonly for?: Sequencer;
}

/**
 * The CSV as a byte stream, produced as the client reads it. `onError` hears of a failure after
 * the download started (the stream then errors, so the client sees a broken download, never a
 * short file that looks whole); a client that goes away stops the reading of rows.
 */
export function campaignCsv(campaign: CsvExport, onError: (error: Error) => void, options: CsvOptions = {}): ReadableStream<Uint8Array> {
  const csv = stringify({
    bom: true,
    escape_formulas: true,
    record_delimiter: 'windows',
    // Quote a cell holding a bare \n or \r too, not only one holding the CRLF record delimiter.
    quote_record_delimiter: true,
  });
  // pipeline() destroys both streams when either fails or the client cancels, which ends the
  // rows iterator (and with it the reading of the database) early.
  const output = pipeline(Readable.from(records(campaign, options)), csv, (error) => {
    if (error) onError(error);
  });
  return Readable.toWeb(output) as ReadableStream<Uint8Array>;
}

async function* records({ headers, rows, outputs = [], sandbox = false }: CsvExport, options: CsvOptions): AsyncGenerator<string[]> {
  const head = headerRow(headers, options);
  const custom = outputColumns(outputs, head);
  yield [...head, ...(sandbox ? [SANDBOX_COLUMN] : []), ...custom.headers];
  for await (const row of rows) {
    if (row.kind === 'lead') {
      // A sequencer sends what its line column holds: only a line that passed the gates goes there.
      // A draft left for review stays out of it (the standard export and the results still show it).
      const lead = options.for === undefined || row.lead.status === 'personalized' ? row.lead : { ...row.lead, message: null, outputs: {} };
      yield [...originalValues(headers, lead.fields), ...resultCells(leadResult(lead)), ...(sandbox ? [String(lead.sandbox)] : []), ...custom.values(lead)];
    } else {
      yield [...originalValues(headers, row.row.fields), ...resultCells(importRowResult(row.row)), ...(sandbox ? ['false'] : []), ...custom.values(null)];
    }
  }
}

/** Added after the result's fields when some run of the campaign was made on the sandbox. */
const SANDBOX_COLUMN = 'sandbox';

/**
 * The custom outputs' columns: each named as its output (" (aga)" appended when a column before it
 * has that name), and a lead's values under them ('' for an output the lead has not, or a row that
 * is not a lead).
 */
export function outputColumns(
  names: readonly string[],
  before: readonly string[],
): { headers: string[]; values: (lead: Pick<LeadView, 'outputs'> | null) => string[] } {
  const taken = new Set([...before, SANDBOX_COLUMN]);
  return {
    headers: names.map((name) => (taken.has(name) ? `${name} (aga)` : name)),
    values: (lead) => names.map((name) => lead?.outputs[name] ?? ''),
  };
}

/** The first row: the original headers, then the result's fields, named as described at the top. */
export function headerRow(headers: readonly string[], options: CsvOptions = {}): string[] {
  const variable = options.for === undefined ? undefined : SEQUENCER_VARIABLES[options.for];
  const sameName = (header: string) => variable !== undefined && header.trim().toLowerCase() === variable;
  const originals = headers.map((header) => (sameName(header) ? `${header} (original)` : header));
  const taken = new Set(originals);
  const added = RESULT_FIELDS.map((field) => {
    if (field === 'personalized_message' && variable !== undefined) return variable;
    return taken.has(field) ? `${field} (aga)` : field;
  });
  return [...originals, ...added];
}

/**
 * The download's name, from the campaign's name and the day (UTC) of the export: an ASCII
 * `filename` any client can use ("acme-q4-2026-12-03.csv"; accents dropped, anything else a
 * hyphen; "campaign" when no letter or digit is left) and an RFC 8187 (5987) `filename*` in
 * UTF-8 that keeps the name's letters in any script ("café-q4-2026-12-03.csv"), which browsers prefer.
 * `variant` ("instantly", "personalized", "instantly-personalized") is appended after the day.
 */
export function contentDisposition(campaignName: string, day: Date, variant?: string): string {
  // A file shaped for a sequencer, or of the personalized leads only, says so in its name: the
  // files of one campaign and day are told apart (the browser would name the second "… (1).csv").
  const date = variant === undefined ? day.toISOString().slice(0, 10) : `${day.toISOString().slice(0, 10)}-${variant}`;
  const ascii = slug(campaignName.normalize('NFKD').replace(/\p{M}/gu, ''), /[^a-z0-9]+/g) || 'campaign';
  const unicode = slug(campaignName.normalize('NFC'), /[^\p{L}\p{N}]+/gu) || 'campaign';
  return `attachment; filename="${ascii}-${date}.csv"; filename*=UTF-8''${rfc8187(`${unicode}-${date}.csv`)}`;
}

/** Lower case, each run of other characters one hyphen, none at the ends, at most 80 characters. */
function slug(name: string, other: RegExp): string {
  const words = name.toLowerCase().replace(other, '-').replace(/^-+|-+$/g, '');
  return [...words].slice(0, 80).join('').replace(/-+$/, '');
}

/** Percent-encodes all but RFC 8187's attr-char (letters, digits and !#$&+-.^_`|~). */
function rfc8187(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The lead's values placed under the export's headers. The n-th column named H takes the lead's
 * n-th value under H, so repeated headers keep their values apart; a header the lead's file did
 * not have is empty.
 */
function originalValues(headers: readonly string[], fields: readonly (readonly [header: string, value: string])[]): string[] {
  const byHeader = new Map<string, string[]>();
  for (const [header, value] of fields) {
    const values = byHeader.get(header);
    if (values === undefined) byHeader.set(header, [value]);
    else values.push(value);
  }
  const seen = new Map<string, number>();
  return headers.map((header) => {
    const occurrence = seen.get(header) ?? 0;
    seen.set(header, occurrence + 1);
    return byHeader.get(header)?.[occurrence] ?? '';
  });
}
