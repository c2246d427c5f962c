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
 *
 * Asked to (`keepRows`, as extraction does), it also keeps the rows that are not leads (rejected
 * and duplicates) with their cells, so that the export can give back a row for every row of the
 * file: the cells up to a budget of characters per file, then only the row, status and reason.
 * The banner lines a file may have above its header (LinkedIn's "Notes:") are left out by the
 * reader (see headers.ts, `headerIndex`), so the header record given here is the real header.
 */
import { mapHeader, type HeaderMap } from './headers.ts';
import { normalizeEmail } from './email.ts';
import { DEMO_LEAD_CAP, ImportError } from './import-error.ts';
import type { CanonicalField, CanonicalValues, ColumnMapping, ImportReport, ImportRow, Lead, OriginalField, RejectedRow } from './lead.ts';

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
  /**
   * Keep the rows that are not leads (`rows`), their cells up to this many characters in all
   * (KEPT_ROW_CHARS for a stored run); not kept when absent.
   */
  readonly keepRows?: number;
}

/**
 * How many characters of cells the rows that are not leads keep per file, for the export: 2 Mi,
 * a fifth of the largest file. The leads' own cells are stored with each lead; this bounds what
 * the run's record (and an export reading it) holds on top, whatever the file.
 */
export const KEPT_ROW_CHARS = 2 * 1024 * 1024;

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
  readonly #rows: ImportRow[] = [];
  /** Characters of cells still to keep; undefined when rows are not kept. */
  #rowBudget: number | undefined;
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
    this.#rowBudget = options.keepRows;
  }

  /** How each column of the file is understood, in file order. */
  get columns(): readonly ColumnMapping[] {
    return this.#header.columns;
  }

  /** The rows accepted so far that are not leads, in file order (empty unless `keepRows`). */
  get rows(): readonly ImportRow[] {
    return this.#rows;
  }

  /** Decides one data record. Records must come in file order. */
  accept(record: SheetRecord): AcceptOutcome {
    const { row, cells } = record;
    if (cells.every((cell) => cell.trim() === '')) return { kind: 'blank' };
    this.#totalRows += 1;

    const width = this.#header.names.length;
    if (cells.slice(width).some((cell) => cell.trim() !== '')) {
      return this.#reject(
        record,
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
      return this.#reject(record, problems.join('; '));
    }

    const firstRow = this.#seen.get(email);
    if (firstRow !== undefined) {
      this.#duplicates += 1;
      this.#keep(record, 'duplicate', `row ${row}: same email as row ${firstRow}`);
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

  #reject(record: SheetRecord, problem: string): AcceptOutcome {
    const { row } = record;
    const reason = `row ${row}: ${problem}`;
    this.#rejected.push({ row, reason });
    this.#keep(record, 'rejected', reason);
    return { kind: 'rejected', row, reason };
  }

  /** Keeps a row that is not a lead, with its cells while the budget lasts. */
  #keep(record: SheetRecord, status: ImportRow['status'], reason: string): void {
    if (this.#rowBudget === undefined) return;
    const cells = this.#header.names.map((_, index) => record.cells[index] ?? '');
    const size = cells.reduce((sum, cell) => sum + cell.length, 0);
    const kept = size <= this.#rowBudget;
    // Once one row did not fit, none after it keeps its cells (-1): the rows with cells are the first ones.
    this.#rowBudget = kept ? this.#rowBudget - size : -1;
    this.#rows.push({ row: record.row, status, reason, cells: kept ? cells : null });
  }

  /**
   * The trimmed canonical values of a row: each field from its winning column, or from the next
   * candidate column when the winner's cell is empty (see headers.ts). When the row has a full
   * name but no first name, the first name is the full name's first word; likewise, without a
   * last name, the last name is the rest of the full name. A website on linkedin.com is not the
   * company's website: it is the LinkedIn URL (the company's page for /company/, else the
   * person's) unless the row has one already.
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
    // A "URL" column of LinkedIn's connections export is the person's profile, not the company's
    // website: a website on linkedin.com is a LinkedIn URL (the person's or the company's page).
    if (values.website !== undefined && LINKEDIN_URL.test(values.website)) {
      splitInto(values, /linkedin\.com\/company\//i.test(values.website) ? 'company_linkedin_url' : 'linkedin_url', values.website);
      delete values.website;
    }
    return values;
  }
}

/** An address on linkedin.com (any subdomain, with or without the scheme). */
const LINKEDIN_URL = /^(?:https?:\/\/)?(?:[\w-]+\.)*linkedin\.com(?:[/?#]|$)/i;

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
