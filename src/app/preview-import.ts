/**
 * Preview of a lead import: runs the whole import over the uploaded file and answers with the
 * report and the first leads, without saving anything.
 */
import { ImportError, type ImportLimits } from '../../domain/leads/import-error.ts';
import type { Lead } from '../../domain/leads/lead.ts';
import { LeadImport } from '../../domain/leads/lead-import.ts';
import { suppressionKeys, suppressionMatch, suppressionReason } from '../../domain/suppression/suppression.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { LeadScreen } from '../../ports/suppression-store.port.ts';
import type { ImportPreview, PreviewImport, PreviewImportInput } from '../../ports/preview-import.port.ts';

export interface PreviewImportDeps {
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
  /** Looks the caller's suppression list up, as extraction will; without it nothing is found suppressed. */
  readonly suppressions?: LeadScreen;
}

/** Leads looked up in the suppression list at once: one round trip, as extraction's batches. */
const SCREEN_BATCH = 1_000;

export class PreviewImportService implements PreviewImport {
  readonly #reader: LeadFileReader;
  readonly #limits: ImportLimits;
  readonly #suppressions: LeadScreen | undefined;

  constructor(deps: PreviewImportDeps) {
    this.#reader = deps.reader;
    this.#limits = deps.limits;
    this.#suppressions = deps.suppressions;
  }

  /** Throws `ImportError` for a whole-file problem (from the reader or the import). */
  async preview(input: PreviewImportInput): Promise<ImportPreview> {
    let leadImport: LeadImport | undefined;
    const sample: Lead[] = [];
    const suppressed: { row: number; reason: string }[] = [];
    const userId = input.userId;
    const screen = this.#suppressions === undefined || userId === undefined ? undefined : this.#screen.bind(this, this.#suppressions, userId);
    let batch: Lead[] = [];
    for await (const record of this.#reader.records(input.file, this.#limits)) {
      if (leadImport === undefined) {
        leadImport = new LeadImport(record, { demo: input.demo, maxColumns: this.#limits.maxColumns });
        continue;
      }
      const outcome = leadImport.accept(record);
      if (outcome.kind !== 'lead') continue;
      if (sample.length < input.sampleSize) sample.push(outcome.lead);
      if (screen === undefined) continue;
      batch.push(outcome.lead);
      if (batch.length >= SCREEN_BATCH) {
        suppressed.push(...(await screen(batch)));
        batch = [];
      }
    }
    if (leadImport === undefined) {
      throw new ImportError('EMPTY_FILE', 'The file is empty. Upload a CSV file with a header row and one row per lead.');
    }
    if (screen !== undefined && batch.length > 0) suppressed.push(...(await screen(batch)));
    return { report: leadImport.report(), sample, suppressed };
  }

  /** The leads of `batch` on the user's list, with the reason extraction will give them. */
  async #screen(suppressions: LeadScreen, userId: string, batch: readonly Lead[]): Promise<{ row: number; reason: string }[]> {
    const screened = await suppressions.screen({ userId, campaignId: null }, batch.map((lead) => ({ email: lead.email, keys: suppressionKeys(lead) })), null);
    return batch.flatMap((lead) => {
      const listed = screened.get(lead.email)?.listed;
      const match = listed === undefined ? null : suppressionMatch(lead, new Set(listed));
      return match === null ? [] : [{ row: lead.row, reason: suppressionReason(match) }];
    });
  }
}
