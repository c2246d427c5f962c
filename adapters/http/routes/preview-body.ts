/** The JSON body of `POST /api/campaigns/preview`, shaped from the use case's result. */
import type { Lead, OriginalField } from '../../../domain/leads/lead.ts';
import type { ImportPreview } from '../../../ports/preview-import.port.ts';

export function previewBody({ report, sample }: ImportPreview) {
  return {
    total_rows: report.total_rows,
    valid: report.valid,
    duplicates: report.duplicates,
    demo_excluded: report.demo_excluded,
    rejected: report.rejected.map(({ row, reason }) => ({ row, reason })),
    columns: report.columns.map(({ original, canonical }) => ({ original, canonical })),
    leads: sample.map(leadBody),
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
