/** Extraction's writes: a run's leads stored from its file, in batches. */
import type { ColumnMapping, ImportReport, ImportRow, Lead } from '../domain/leads/lead.ts';
import type { RunCompletion } from './projection-store.port.ts';
import type { Change } from './unit-of-work.port.ts';

export interface RunToExtract {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
  readonly demo: boolean;
  /**
   * The campaign's options (fields consumers declared, e.g. `skip_personalized_within_days`) as
   * the run's extraction began; absent where they are not read (the reconciler's re-drives).
   */
  readonly options?: Readonly<Record<string, string>>;
}

export interface StoredLeads {
  /**
   * The leads this batch released, in file order: stored new, or taken over from an earlier run
   * (reset to pending). Each gets its `lead.extracted` with the batch. A lead this run had stored
   * already (a redelivered extraction) is not in it, whatever its status: its event was committed
   * with it the first time.
   */
  readonly pending: readonly string[];
  /** Leads already personalized by an earlier run of the campaign: no paid call is made for them. */
  readonly skipped: number;
  /**
   * The run takes no more leads (cancelled, or ended otherwise, while its file was read): nothing
   * of the batch was stored, and extraction stops.
   */
  readonly stopped: boolean;
}

export interface ExtractionResult {
  readonly report: ImportReport;
  readonly columns: readonly ColumnMapping[];
  readonly skipped: number;
  readonly rows?: readonly ImportRow[];
}

export interface ExtractionStore {
  /**
   * Moves a `queued` run to `extracting` (or keeps an `extracting` one, for a redelivery, or a
   * paused one whose file was not read to the end) and reports it; null when the run is unknown,
   * already past extraction, or cancelled.
   */
  beginExtraction(runId: string): Change<RunToExtract | null>;
  /**
   * Upserts a batch of leads into the run's campaign (unique by normalized email). A lead
   * personalized by an earlier run is left alone and counted as skipped; any other existing lead
   * is taken over by this run and reset to `pending`, unless this run owns it already (a
   * redelivered extraction), in which case its progress is kept. Stores nothing (`stopped`) once
   * the run has ended (cancelled while its file was read, or failed).
   *
   * A lead of `suppressed` (by email, with the reason as its error) is stored (or taken over)
   * `suppressed` instead of `pending`: settled, counted for this run (it needs no projection) and
   * not released, so no event and no paid call follows.
   */
  storeLeads(run: RunToExtract, leads: readonly Lead[], suppressed?: ReadonlyMap<string, string>): Change<StoredLeads>;
  /**
   * Records the import report, the column mapping, the rows of the file that are not leads (for
   * the export; none kept when absent) and the totals (absolute values, so a redelivery writes
   * the same: `suppressed` is the count of the run's suppressed leads) and moves the run to
   * `personalizing` (a paused run stays paused: its resume moves it on).
   */
  finishExtraction(runId: string, result: ExtractionResult): Change<void>;
  /**
   * Ends a run that cannot be extracted (its file is gone, or a whole-file problem); null when it
   * had ended already. Its leads not yet settled end failed with RUN_ENDED_REASON, uncounted.
   */
  failRun(runId: string, errorMessage: string): Change<RunCompletion | null>;
}
