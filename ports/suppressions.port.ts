/** Inbound port: a user's suppression list, as the HTTP edge's `/api/suppressions` routes manage it. */
import type { SuppressionPage, SuppressionView } from './suppression-store.port.ts';

export interface AddedEntries {
  /** The entries added, in value order. */
  readonly added: readonly SuppressionView[];
  /** Valid entries the list had already: not an error. */
  readonly already_present: number;
  /** Entries repeated in the request (after normalization), counted once. */
  readonly duplicates: number;
  /** Each refused entry as sent, and why. */
  readonly invalid: readonly { readonly value: string; readonly reason: string }[];
}

export interface ImportedEntries {
  /** Data rows read (blank lines are not rows). */
  readonly total_rows: number;
  /** The column read, as its header says; null for a file without a header row. */
  readonly column: string | null;
  readonly added: number;
  readonly already_present: number;
  readonly duplicates: number;
  /** Each refused row (numbered as a spreadsheet shows it: the header is row 1), and why. */
  readonly invalid: readonly { readonly row: number; readonly reason: string }[];
}

/** Not one valid entry among those sent: nothing was added. */
export class NoValidSuppressionEntries extends Error {
  readonly invalid: AddedEntries['invalid'] | undefined;
  readonly report: ImportedEntries | undefined;

  constructor(problem: { readonly invalid: AddedEntries['invalid'] } | { readonly report: ImportedEntries }) {
    super('no valid suppression entry');
    this.name = 'NoValidSuppressionEntries';
    this.invalid = 'invalid' in problem ? problem.invalid : undefined;
    this.report = 'report' in problem ? problem.report : undefined;
  }
}

/** An entry that is neither an address nor a domain (a removal by value), with why. */
export class InvalidSuppressionEntry extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidSuppressionEntry';
    this.reason = reason;
  }
}

export interface Suppressions {
  list(userId: string, page: { readonly q?: string; readonly cursor?: string; readonly limit: number }): Promise<SuppressionPage>;
  /** Normalizes and adds entries; rejects with NoValidSuppressionEntries when none is valid. */
  add(userId: string, values: readonly string[]): Promise<AddedEntries>;
  /**
   * Reads a CSV of entries (any encoding, delimiter and BOM the lead import takes): its email
   * column, else its domain or website column, else its first. A whole-file problem rejects with
   * `ImportError`; a file without one valid entry with NoValidSuppressionEntries.
   */
  importFile(userId: string, file: AsyncIterable<Uint8Array>): Promise<ImportedEntries>;
  /** False when the user has no entry with this id. */
  remove(userId: string, id: string): Promise<boolean>;
  /** The entry removed (`value` normalized first); null when the list does not have it. Rejects with InvalidSuppressionEntry. */
  removeValue(userId: string, value: string): Promise<SuppressionView | null>;
}
