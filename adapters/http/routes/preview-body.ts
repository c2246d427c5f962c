/** The JSON body of `POST /api/campaigns/preview`, shaped from the use case's result. */
import * as v from 'valibot';
import { CANONICAL_FIELDS, type Lead, type OriginalField } from '../../../domain/leads/lead.ts';
import type { ImportPreview } from '../../../ports/preview-import.port.ts';

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Row = v.pipe(v.number(), v.integer(), v.minValue(2), v.description('The row as a spreadsheet numbers it: the header is row 1.'));

/** The original columns, keyed by header in file order; a repeated header is suffixed (" (2)"). */
export const OriginalFieldsBody = v.pipe(v.record(v.string(), v.string()), v.description('Every original column of the row, keyed by its header, in file order; a repeated header gets " (2)", " (3)".'));

/** An import report (the preview's, and a run's at GET /runs/:runId/report). */
export const ImportReportEntries = {
  total_rows: v.pipe(Count, v.description('Data rows in the file (blank lines are not rows).')),
  valid: Count,
  duplicates: Count,
  demo_excluded: v.pipe(Count, v.description('Valid leads left out because a demo keeps only the first 20.')),
  rejected: v.pipe(v.array(v.object({ row: Row, reason: v.string() })), v.description('Every rejected row and why.')),
  columns: v.pipe(
    v.array(v.object({ original: v.string(), canonical: v.nullable(v.picklist(CANONICAL_FIELDS)) })),
    v.description('How each column was understood: the canonical field it feeds, or null when it is kept only as an original column.'),
  ),
};

/** A lead of the preview's sample: its row, its canonical fields (email and company always), its original columns. */
export const PreviewLeadBody = v.object({
  row: Row,
  ...Object.fromEntries(CANONICAL_FIELDS.map((field) => [field, v.optional(v.string())])),
  email: v.pipe(v.string(), v.description('Trimmed and lower-cased.')),
  company: v.string(),
  fields: OriginalFieldsBody,
});

export function previewBody({ report, sample, suppressed }: ImportPreview) {
  return {
    total_rows: report.total_rows,
    valid: report.valid,
    duplicates: report.duplicates,
    demo_excluded: report.demo_excluded,
    rejected: report.rejected.map(({ row, reason }) => ({ row, reason })),
    columns: report.columns.map(({ original, canonical }) => ({ original, canonical })),
    leads: sample.map(leadBody),
    suppressed: suppressed.map(({ row, reason }) => ({ row, reason })),
  };
}

/** A lead: its row, every canonical field it has (email normalized), and its original columns. */
function leadBody(lead: Lead) {
  return {
    row: lead.row,
    ...lead.canonical,
    email: lead.email,
    company: lead.company,
    fields: originalFields(lead.fields),
  };
}

/**
 * The original columns as an object keyed by header, in file order. A JSON object cannot hold a
 * key twice, so a repeated header is suffixed: the second "Email" becomes "Email (2)", the third
 * "Email (3)", skipping any name the file already uses. `Object.fromEntries` defines own
 * properties, so a header such as "__proto__" is kept like any other.
 */
export function originalFields(fields: readonly OriginalField[]): Record<string, string> {
  const taken = new Set<string>();
  const entries: [string, string][] = [];
  for (const { header, value } of fields) {
    let key = header;
    for (let n = 2; taken.has(key); n += 1) key = `${header} (${n})`;
    taken.add(key);
    entries.push([key, value]);
  }
  return Object.fromEntries(entries);
}
