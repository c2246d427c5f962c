/**
 * Preview of a lead import: runs the whole import over the uploaded file and answers with the
 * report and the first leads, without saving anything.
 */
import { ImportError, type ImportLimits } from '../../domain/leads/import-error.ts';
import type { Lead } from '../../domain/leads/lead.ts';
import { LeadImport } from '../../domain/leads/lead-import.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { ImportPreview, PreviewImport, PreviewImportInput } from '../../ports/preview-import.port.ts';

export interface PreviewImportDeps {
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
}

export class PreviewImportService implements PreviewImport {
  readonly #reader: LeadFileReader;
  readonly #limits: ImportLimits;

  constructor(deps: PreviewImportDeps) {
    this.#reader = deps.reader;
    this.#limits = deps.limits;
  }

  /** Throws `ImportError` for a whole-file problem (from the reader or the import). */
  async preview(input: PreviewImportInput): Promise<ImportPreview> {
    let leadImport: LeadImport | undefined;
    const sample: Lead[] = [];
    for await (const record of this.#reader.records(input.file, this.#limits)) {
      if (leadImport === undefined) {
        leadImport = new LeadImport(record, { demo: input.demo, maxColumns: this.#limits.maxColumns });
        continue;
      }
      const outcome = leadImport.accept(record);
      if (outcome.kind === 'lead' && sample.length < input.sampleSize) sample.push(outcome.lead);
    }
    if (leadImport === undefined) {
      throw new ImportError('EMPTY_FILE', 'The file is empty. Upload a CSV file with a header row and one row per lead.');
    }
    return { report: leadImport.report(), sample };
  }
}
