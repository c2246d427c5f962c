/**
 * The lead import as a streaming state machine: fed the records of a lead file one at a time
 * (header first), it decides for each row whether it is a lead, a duplicate, a rejected row or
 * a blank line, and keeps the counts for the import report. It holds no row once decided, only
 * the de-duplication keys, so the preview and the extraction consumer can both run it over a
 * file of any length.
 *
 * Rules, in the order they apply to a record:
 *   1. A record whose cells are all empty or whitespace is a blank line, not a row: not counted.
 *   2. A row with more cells than the header is rejected when one of the extra cells is not
 *      empty (a value with an unquoted delimiter); empty extra cells are dropped, missing cells
 *      are empty.
 *   3. A row needs a syntactically valid email (see email.ts) and a non-empty company; a row
 *      that lacks either is rejected with every reason that applies.
 *   4. A valid row whose normalized email was already seen in a valid row is a duplicate: the
 *      first occurrence is kept. Rejected rows do not take part in de-duplication.
 *   5. In a demo, valid rows past the first DEMO_LEAD_CAP leads are counted as demo_excluded.
 * So every data row is counted once: total_rows = valid + duplicates + rejected + demo_excluded.
 */
import { mapHeader, type HeaderMap } from './headers.ts';
import { normalizeEmail } from './email.ts';
import { DEMO_LEAD_CAP, ImportError } from './import-error.ts';
import type { CanonicalField, CanonicalValues, ColumnMapping, ImportReport, Lead, OriginalField, RejectedRow } from './lead.ts';

/** A record of the file as a reader yields it: its 1-based spreadsheet row number and its cells. */
export interface SheetRecord {
  readonly row: number;
  readonly cells: readonly string[];
}

export interface LeadImportOptions {
  /** Keep only the first DEMO_LEAD_CAP valid leads; the rest of the file is still read and counted. */
  readonly demo: boolean;
  /** A header with more cells than this is a whole-file error. */
  readonly maxColumns: number;
  /** The file's delimiter, named in the reason of a row with too many cells. */
  readonly delimiter?: string;
}

export type AcceptOutcome =
  | { readonly kind: 'lead'; readonly lead: Lead }
  | { readonly kind: 'duplicate'; readonly row: number; readonly firstRow: number }
  | { readonly kind: 'rejected'; readonly row: number; readonly reason: string }
  | { readonly kind: 'blank' }
  | { readonly kind: 'demo_excluded'; readonly row: number };

/** An invalid value longer than this is shortened in a reason, so a runaway cell cannot flood the report. */
const MAX_QUOTED_VALUE = 80;

export class LeadImport {
  readonly #header: HeaderMap;
  readonly #options: LeadImportOptions;
  /** Normalized email → row of its first valid occurrence. */
  readonly #seen = new Map<string, number>();
  readonly #rejected: RejectedRow[] = [];
  #totalRows = 0;
  #valid = 0;
  #duplicates = 0;
  #demoExcluded = 0;

  /** Throws `ImportError` TOO_MANY_COLUMNS, NO_HEADER or NO_EMAIL_COLUMN for a header that cannot be used. */
  constructor(header: SheetRecord, options: LeadImportOptions) {
    if (header.cells.length > options.maxColumns) {
      throw new ImportError(
        'TOO_MANY_COLUMNS',
        `The header has ${header.cells.length} columns; at most ${options.maxColumns} are supported. Remove the columns you do not need.`,
      );
    }
    this.#header = mapHeader(header.cells);
    this.#options = options;
  }

  /** How each column of the file is understood, in file order. */
  get columns(): readonly ColumnMapping[] {
    return this.#header.columns;
  }

  /** Decides one data record. Records must come in file order. */
  accept(record: SheetRecord): AcceptOutcome {
    const { row, cells } = record;
    if (cells.every((cell) => cell.trim() === '')) return { kind: 'blank' };
    this.#totalRows += 1;

    const width = this.#header.names.length;
    if (cells.slice(width).some((cell) => cell.trim() !== '')) {
      return this.#reject(
        row,
        `${cells.length} cells but the header has ${width} — a value probably contains an unquoted ${describe(this.#options.delimiter)} (put that value in double quotes)`,
      );
    }

    const canonical = this.#canonicalValues(cells);
    const problems: string[] = [];
    const rawEmail = canonical.email ?? '';
    const email = normalizeEmail(rawEmail);
    if (rawEmail === '') problems.push('email is empty');
    else if (email === null) problems.push(`email '${shorten(rawEmail)}' is not a valid address`);
    if (canonical.company === undefined) problems.push('company is empty');
    if (email === null || canonical.company === undefined) {
      return this.#reject(row, problems.join('; '));
    }

    const firstRow = this.#seen.get(email);
    if (firstRow !== undefined) {
      this.#duplicates += 1;
      return { kind: 'duplicate', row, firstRow };
    }
    this.#seen.set(email, row);
    if (this.#options.demo && this.#valid >= DEMO_LEAD_CAP) {
      this.#demoExcluded += 1;
      return { kind: 'demo_excluded', row };
    }
    this.#valid += 1;
    const fields: OriginalField[] = this.#header.names.map((header, index) => ({ header, value: cells[index] ?? '' }));
    canonical.email = email;
    return { kind: 'lead', lead: { row, email, company: canonical.company, canonical, fields } };
  }

  /** The report of everything accepted so far. Throws `ImportError` NO_DATA_ROWS when no data row was seen. */
  report(): ImportReport {
    if (this.#totalRows === 0) {
      throw new ImportError('NO_DATA_ROWS', 'The file has a header row but no data rows below it.');
    }
    return {
      total_rows: this.#totalRows,
      valid: this.#valid,
      duplicates: this.#duplicates,
      rejected: [...this.#rejected],
      columns: this.#header.columns,
      demo_excluded: this.#demoExcluded,
    };
  }

  #reject(row: number, problem: string): AcceptOutcome {
    const reason = `row ${row}: ${problem}`;
    this.#rejected.push({ row, reason });
    return { kind: 'rejected', row, reason };
  }

  /**
   * The trimmed canonical values of a row: each field from its winning column, or from the next
   * candidate column when the winner's cell is empty (see headers.ts). When the row has a full
   * name but no first name, the first name is the full name's first word; likewise, without a
   * last name, the last name is the rest of the full name.
   */
  #canonicalValues(cells: readonly string[]): CanonicalValues {
    const values: CanonicalValues = {};
    for (const [field, candidates] of this.#header.candidates) {
      const value = candidates.map((index) => (cells[index] ?? '').trim()).find((cell) => cell !== '');
      if (value !== undefined) values[field] = value;
    }
    if (values.full_name !== undefined) {
      const [first = '', ...rest] = values.full_name.split(/\s+/u);
      splitInto(values, 'first_name', first);
      splitInto(values, 'last_name', rest.join(' '));
    }
    return values;
  }
}

function splitInto(values: CanonicalValues, field: CanonicalField, value: string): void {
  if (values[field] === undefined && value !== '') values[field] = value;
}

function shorten(value: string): string {
  return value.length > MAX_QUOTED_VALUE ? `${value.slice(0, MAX_QUOTED_VALUE)}…` : value;
}

function describe(delimiter: string | undefined): string {
  if (delimiter === undefined) return 'separator';
  return delimiter === '\t' ? 'tab' : `'${delimiter}'`;
}
