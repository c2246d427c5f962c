/**
 * A user's suppression list (the `/api/suppressions` routes): entries are normalized and checked
 * here (domain/suppression/), stored once per user and value, and read from CSV files with the
 * same reader as lead files, so encodings, BOMs and delimiters work alike.
 */
import { ImportError, type ImportLimits } from '../../domain/leads/import-error.ts';
import { matchHeader } from '../../domain/leads/headers.ts';
import { entryColumn, parseSuppressionEntry, type EntryColumn, type SuppressionEntry } from '../../domain/suppression/suppression.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { SuppressionList, SuppressionPage, SuppressionView } from '../../ports/suppression-store.port.ts';
import { InvalidSuppressionEntry, NoValidSuppressionEntries, type AddedEntries, type ImportedEntries, type Suppressions } from '../../ports/suppressions.port.ts';

export interface SuppressionServiceDeps {
  readonly store: SuppressionList;
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
}

export class SuppressionService implements Suppressions {
  readonly #deps: SuppressionServiceDeps;

  constructor(deps: SuppressionServiceDeps) {
    this.#deps = deps;
  }

  list(userId: string, page: { readonly q?: string; readonly cursor?: string; readonly limit: number }): Promise<SuppressionPage> {
    return this.#deps.store.list(userId, page);
  }

  async add(userId: string, values: readonly string[]): Promise<AddedEntries> {
    const valid = new Map<string, SuppressionEntry>();
    const invalid: { value: string; reason: string }[] = [];
    let duplicates = 0;
    for (const value of values) {
      const parsed = parseSuppressionEntry(value);
      if (!parsed.ok) invalid.push({ value, reason: parsed.reason });
      else if (valid.has(parsed.entry.value)) duplicates += 1;
      else valid.set(parsed.entry.value, parsed.entry);
    }
    if (valid.size === 0) throw new NoValidSuppressionEntries({ invalid });
    const added = await this.#deps.store.add(userId, [...valid.values()]);
    return { added, already_present: valid.size - added.length, duplicates, invalid };
  }

  async importFile(userId: string, file: AsyncIterable<Uint8Array>): Promise<ImportedEntries> {
    const valid = new Map<string, SuppressionEntry>();
    const invalid: { row: number; reason: string }[] = [];
    let column: EntryColumn | undefined;
    let rows = 0;
    let duplicates = 0;
    const { reader, limits } = this.#deps;
    for await (const record of reader.records(file, limits)) {
      if (record.cells.every((cell) => cell.trim() === '')) continue; // blank lines are not rows
      if (column === undefined) {
        column = entryColumn(record.cells, matchHeader);
        if (column.header !== null) continue;
      }
      rows += 1;
      const cell = record.cells[column.index] ?? '';
      const parsed = parseSuppressionEntry(cell);
      if (!parsed.ok) invalid.push({ row: record.row, reason: `row ${record.row}: ${cell.trim() === '' ? `the ${columnName(column)} cell is empty` : parsed.reason}` });
      else if (valid.has(parsed.entry.value)) duplicates += 1;
      else valid.set(parsed.entry.value, parsed.entry);
    }
    if (column === undefined) throw new ImportError('EMPTY_FILE', 'The file is empty. Upload a CSV file with one email address or domain per row.');
    if (rows === 0) {
      throw new ImportError('NO_DATA_ROWS', `The file has a header row (${columnName(column)}) but no entries below it. Put one email address or domain per row.`);
    }
    const report = { total_rows: rows, column: column.header, duplicates, invalid };
    if (valid.size === 0) throw new NoValidSuppressionEntries({ report: { ...report, added: 0, already_present: 0 } });
    const added = await this.#deps.store.add(userId, [...valid.values()]);
    return { ...report, added: added.length, already_present: valid.size - added.length };
  }

  remove(userId: string, id: string): Promise<boolean> {
    return this.#deps.store.remove(userId, id);
  }

  async removeValue(userId: string, value: string): Promise<SuppressionView | null> {
    const parsed = parseSuppressionEntry(value);
    if (!parsed.ok) throw new InvalidSuppressionEntry(`value ${parsed.reason}`);
    return this.#deps.store.removeValue(userId, parsed.entry.value);
  }
}

function columnName(column: EntryColumn): string {
  return column.header === null ? `column ${column.index + 1}` : `"${column.header}"`;
}
