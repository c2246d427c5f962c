import type { ImportLimits } from '../domain/leads/import-error.ts';

/**
 * Turns the bytes of an uploaded lead file into records of cells, header first, without
 * holding the file in memory. Detects the encoding (UTF-8 with or without BOM, UTF-16 LE/BE
 * with BOM, Windows-1252) and the delimiter (`,` `;` tab `|`).
 *
 * Each record carries its 1-based row number as a spreadsheet shows it (the header is row 1);
 * blank lines are yielded as records of empty cells so that row numbers stay true.
 *
 * Whole-file problems (not a CSV, over the limits, unreadable quoting) are thrown as
 * `ImportError` from the iteration.
 */
export interface LeadFileReader {
  records(source: AsyncIterable<Uint8Array>, limits: ImportLimits): AsyncIterable<LeadFileRecord>;
}

export interface LeadFileRecord {
  readonly row: number;
  readonly cells: readonly string[];
}
