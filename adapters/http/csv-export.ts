/**
 * A campaign's leads as a CSV download: every original column in its original order, then
 * `personalized_message`, `enrichment_status` (the lead's status), `error` and `cost_usd` (what
 * the lead's provider calls cost, in USD with 6 decimals); and, when some run of the campaign was
 * made on the sandbox (PROVIDERS=sandbox), `sandbox` (`true` on its made-up, $0 leads).
 *
 * - UTF-8 with a byte order mark, so that Excel reads the accents right; CRLF line ends (RFC 4180).
 * - Then one column per custom output the campaign's runs asked for (a subject line, a P.S.), named
 *   as the output, in order of first appearance; empty for a lead without it (outputColumns).
 * - A file that already has a column named like one we add keeps it; ours gets " (aga)" appended,
 *   e.g. "error (aga)".
 * - Formula injection (OWASP "CSV Injection"): any cell, headers included, that starts with `=`,
 *   `+`, `-`, `@`, a tab or a carriage return (or a full-width `=`, `+`, `-`, `@`) is prefixed with
 *   a single quote, so a spreadsheet shows it as text instead of running it. A value such as
 *   "-5" therefore reads "'-5": the price of never executing a lead's cell.
 */
import { pipeline, Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { stringify } from 'csv-stringify';
import type { LeadView } from '../../ports/campaign-queries.port.ts';

const ADDED_COLUMNS = ['personalized_message', 'enrichment_status', 'error', 'cost_usd'] as const;
/** Added after them when some run of the campaign was made on the sandbox: `true` on its made-up leads. */
const SANDBOX_COLUMN = 'sandbox';

export interface CampaignExport {
  /** The original headers in order (a header may repeat, as in the file). */
  readonly headers: readonly string[];
  /** The custom outputs' names, in order: one column each after ours (none by default). */
  readonly outputs?: readonly string[];
  readonly leads: AsyncIterable<LeadView>;
  /** Some run of the campaign was made on the sandbox: a `sandbox` column says which leads (`true`/`false`). */
  readonly sandbox?: boolean;
}

/**
 * The CSV as a byte stream, produced as the client reads it. `onError` hears of a failure after
 * the download started (the stream then errors, so the client sees a broken download, never a
 * short file that looks whole); a client that goes away stops the reading of leads.
 */
export function campaignCsv(campaign: CampaignExport, onError: (error: Error) => void): ReadableStream<Uint8Array> {
  const csv = stringify({
    bom: true,
    escape_formulas: true,
    record_delimiter: 'windows',
    // Quote a cell holding a bare \n or \r too, not only one holding the CRLF record delimiter.
    quote_record_delimiter: true,
  });
  // pipeline() destroys both streams when either fails or the client cancels, which ends the
  // leads iterator (and with it the database cursor) early.
  const output = pipeline(Readable.from(rows(campaign)), csv, (error) => {
    if (error) onError(error);
  });
  return Readable.toWeb(output) as ReadableStream<Uint8Array>;
}

async function* rows({ headers, outputs = [], leads, sandbox = false }: CampaignExport): AsyncGenerator<string[]> {
  const added = addedColumns(headers, sandbox);
  const custom = outputColumns(outputs, [...headers, ...added]);
  yield [...headers, ...added, ...custom.headers];
  for await (const lead of leads) {
    const values = [...originalValues(headers, lead.fields), lead.message ?? '', lead.status, lead.error ?? '', lead.cost_usd.toFixed(6)];
    yield [...values, ...(sandbox ? [String(lead.sandbox)] : []), ...custom.values(lead)];
  }
}

/**
 * The custom outputs' columns: each named as its output (" (aga)" appended when a column before it
 * has that name), and a lead's values under them ('' for an output the lead has not).
 */
export function outputColumns(names: readonly string[], before: readonly string[]): { headers: string[]; values: (lead: Pick<LeadView, 'outputs'>) => string[] } {
  const taken = new Set(before);
  return {
    headers: names.map((name) => (taken.has(name) ? `${name} (aga)` : name)),
    values: (lead) => names.map((name) => lead.outputs[name] ?? ''),
  };
}

function addedColumns(headers: readonly string[], sandbox: boolean): string[] {
  const taken = new Set(headers);
  return [...ADDED_COLUMNS, ...(sandbox ? [SANDBOX_COLUMN] : [])].map((name) => (taken.has(name) ? `${name} (aga)` : name));
}

/**
 * The lead's values placed under the export's headers. The n-th column named H takes the lead's
 * n-th value under H, so repeated headers keep their values apart; a header the lead's file did
 * not have is empty.
 */
function originalValues(headers: readonly string[], fields: LeadView['fields']): string[] {
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
