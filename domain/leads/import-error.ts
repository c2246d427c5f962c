/**
 * A whole-file problem: the file as a whole cannot be imported, as opposed to a rejected row.
 * `code` is stable for programs; `message` is written for the person who uploaded the file.
 */
import type { ImportReport } from './lead.ts';

export type ImportErrorCode =
  | 'NOT_CSV' // binary, JSON, HTML, a spreadsheet workbook, ...
  | 'INVALID_ENCODING' // UTF-8 or UTF-16 with bytes that are not text in it
  | 'EMPTY_FILE'
  | 'NO_HEADER'
  | 'NO_EMAIL_COLUMN'
  | 'NO_DATA_ROWS'
  | 'FILE_TOO_LARGE'
  | 'TOO_MANY_COLUMNS'
  | 'CELL_TOO_LARGE'
  | 'MALFORMED_CSV'
  | 'NO_VALID_LEADS'; // every data row rejected (or a duplicate): nothing to research

export class ImportError extends Error {
  readonly code: ImportErrorCode;
  /** The import report, for a problem found once the file was read (NO_VALID_LEADS): every rejected row and why. */
  readonly report: ImportReport | undefined;

  constructor(code: ImportErrorCode, message: string, report?: ImportReport) {
    super(message);
    this.name = 'ImportError';
    this.code = code;
    this.report = report;
  }
}

/** Limits of one import. The HTTP edge enforces `maxBytes` on the request body too. */
export interface ImportLimits {
  readonly maxBytes: number;
  readonly maxColumns: number;
  readonly maxCellChars: number;
}

export const DEFAULT_IMPORT_LIMITS: ImportLimits = {
  maxBytes: 10 * 1024 * 1024,
  maxColumns: 500,
  maxCellChars: 32 * 1024,
};

/** A demo import keeps at most this many valid leads. */
export const DEMO_LEAD_CAP = 20;
