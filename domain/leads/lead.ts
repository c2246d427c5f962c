/**
 * A lead as the import produces it: canonical fields for the pipeline, plus every original
 * column (header and value, in file order) so an export can give the user back their own sheet.
 */

/** Canonical lead fields, snake_case. Only `email` and `company` are required for a valid lead. */
export const CANONICAL_FIELDS = [
  'email',
  'first_name',
  'last_name',
  'full_name',
  'company',
  'title',
  'website',
  'linkedin_url',
  'company_linkedin_url',
  'phone',
  'city',
  'state',
  'country',
  /** A free-form place ("San Francisco Bay Area") as LinkedIn-based exports give it. */
  'location',
  'industry',
  'seniority',
  'department',
  'employees',
] as const;

export type CanonicalField = (typeof CANONICAL_FIELDS)[number];

export type CanonicalValues = Partial<Record<CanonicalField, string>>;

/** One original cell: the header as written in the file, and the cell's value as written. */
export interface OriginalField {
  readonly header: string;
  readonly value: string;
}

export interface Lead {
  /** 1-based row number as a spreadsheet shows it: the header is row 1, the first data row is row 2. */
  readonly row: number;
  /** Trimmed and lower-cased: the de-duplication key. */
  readonly email: string;
  readonly company: string;
  /** Every canonical field found in the row (email and company included), trimmed. */
  readonly canonical: CanonicalValues;
  /** Every original column of the row, in file order, values untouched. */
  readonly fields: readonly OriginalField[];
}

/** How one column of the file was understood. */
export interface ColumnMapping {
  readonly original: string;
  /** The canonical field this column feeds, or null when it is kept only as an original column. */
  readonly canonical: CanonicalField | null;
}

export interface RejectedRow {
  readonly row: number;
  readonly reason: string;
}

/**
 * A row of the file that is not a lead, kept so that an export can give back every row of the
 * file: rejected (no valid email, no company, too many cells) or a duplicate of an earlier row.
 */
export interface ImportRow {
  readonly row: number;
  readonly status: ImportRowStatus;
  /** Why, as the import report words it: "row 4: email 'bob@' is not a valid address". */
  readonly reason: string;
  /**
   * The row's cells under the header's columns (as many as the header has, missing ones empty);
   * null when the import's budget of kept cells was spent before this row (see LeadImport).
   */
  readonly cells: readonly string[] | null;
}

export type ImportRowStatus = 'rejected' | 'duplicate';

export interface ImportReport {
  /** Data rows in the file (blank lines are not rows). */
  readonly total_rows: number;
  readonly valid: number;
  readonly duplicates: number;
  readonly rejected: readonly RejectedRow[];
  readonly columns: readonly ColumnMapping[];
  /** Valid, non-duplicate leads left out because a demo import keeps only the first DEMO_LEAD_CAP. */
  readonly demo_excluded: number;
}
