import type { ImportReport, Lead } from '../domain/leads/lead.ts';

/** Inbound port: run the import of a lead file without saving anything. */
export interface PreviewImport {
  preview(input: PreviewImportInput): Promise<ImportPreview>;
}

export interface PreviewImportInput {
  readonly file: AsyncIterable<Uint8Array>;
  readonly demo: boolean;
  /** How many normalized leads to return as a sample (0 to 1000). */
  readonly sampleSize: number;
  /** The caller: the valid leads on their suppression list are found (when the preview can look it up). */
  readonly userId?: string;
}

export interface ImportPreview {
  readonly report: ImportReport;
  /** The first `sampleSize` valid leads, in file order. */
  readonly sample: readonly Lead[];
  /** Every valid lead on the caller's suppression list, in file order, with why; empty when not looked up. */
  readonly suppressed: readonly { readonly row: number; readonly reason: string }[];
}
