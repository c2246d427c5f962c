/**
 * Extraction (`campaign.submitted`): reads the run's stored file twice. The first pass only
 * validates it, whole: a whole-file problem anywhere in it (found late in a large file, or one the
 * submission's checks missed) fails the run before any lead is stored or released, so no lead of
 * a file that cannot be imported is ever paid for. The second pass stores the leads in batches,
 * each batch committed with a `lead.extracted` event per lead it released (each lead the root of
 * its own trace), then records the totals.
 *
 * Before a batch is stored, its leads are looked up in the owner's suppression list (and, with the
 * campaign's `skip_personalized_within_days`, among the owner's leads personalized in other
 * campaigns within that many days): those are stored `suppressed`, with the reason as their error,
 * and released to nobody, so no paid call is ever made for them (domain/suppression/).
 * A run its owner cancels while its file is read stops being extracted: the batch after the cancel
 * stores nothing (the store orders the two with the run's lock), and the rest of the file is not
 * read. A paused run's file is read all the same (reading pays for nothing); its leads wait for the
 * resume.
 *
 * A redelivery (a crash mid-file, a reconciler re-drive) runs the whole file again: the store
 * upserts leads the run already owns without losing their progress and the totals are absolute,
 * so the second pass writes what the first would have. A lead the run had stored already is not
 * released again (its event was committed with it), so however late a retry comes, after the
 * broker's de-duplication window or not, no lead is published twice.
 *
 * Settings:
 * - ack wait 60 s: one message is a whole file, streamed for seconds; heartbeats keep it alive
 *   past the ack wait. A file of the 10 MB limit (100,000 rows) is stored in about 6 s.
 * - five deliveries with 5 s, 30 s, 60 s of backoff: failures are the database's or the object
 *   store's, which take a while to come back.
 * - 4 files at once across all processes: each inserts 1,000-row batches, and more would crowd
 *   the database and the relay out for the leads already in flight.
 * - at most 15 minutes per delivery: far longer than the largest file takes, short enough that a
 *   hung read gives the file back.
 */
import type { CampaignSubmitted } from '../../../domain/campaigns/events.ts';
import { ImportError, type ImportLimits } from '../../../domain/leads/import-error.ts';
import type { Lead } from '../../../domain/leads/lead.ts';
import { KEPT_ROW_CHARS, LeadImport } from '../../../domain/leads/lead-import.ts';
import {
  parseSkipPersonalizedWithinDays,
  recentlyPersonalizedReason,
  SKIP_PERSONALIZED_OPTION,
  SKIP_PERSONALIZED_PROBLEM,
  skipPersonalizedWindow,
  suppressionKeys,
  suppressionMatch,
  suppressionReason,
} from '../../../domain/suppression/suppression.ts';
import type { Handler, HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { ExtractionStore, RunToExtract } from '../../../ports/extraction-store.port.ts';
import type { LeadFileReader } from '../../../ports/lead-file-reader.port.ts';
import { FileNotFoundError, type LeadFileStore } from '../../../ports/lead-file-store.port.ts';
import type { ProjectionStore } from '../../../ports/projection-store.port.ts';
import type { RunNotifier } from '../../../ports/run-notifications.port.ts';
import type { LeadScreen } from '../../../ports/suppression-store.port.ts';
import type { Tracing } from '../../../ports/tracing.port.ts';
import type { UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { declareConsumer, InvalidCampaignOption } from '../kernel/declaration.ts';
import { PreviewImportService } from '../preview-import.ts';
import { runFileKey } from '../submit-campaign.ts';
import { completionEvents } from './lead-events.ts';

const SECOND = 1_000;

export const FILE_GONE_MESSAGE = 'The uploaded file is no longer available; submit it again.';
/** What the run's owner reads when extraction failed on every delivery (the cause is logged, not shown). */
export const EXTRACTION_FAILED_MESSAGE = 'The file could not be processed after several attempts; submit it again.';

export const extraction = declareConsumer({
  name: 'extraction',
  summary: 'reads the uploaded file, stores its leads in batches and starts each lead',
  subscribes: ['campaign.submitted'],
  settings: {
    ackWaitMs: 60 * SECOND,
    maxDeliver: 5,
    backoffMs: [5 * SECOND, 30 * SECOND, 60 * SECOND],
    maxAckPending: 4,
    maxHandlerMs: 15 * 60 * SECOND,
    concurrency: 4,
  },
  uses: ['uow', 'extractionStore', 'projectionStore', 'suppressions', 'files', 'reader', 'importLimits', 'tracing', 'notifier', 'extractionBatchSize'],
  campaignOptions: [
    {
      field: SKIP_PERSONALIZED_OPTION,
      description: "skips (as `suppressed`) leads personalized in any of your other campaigns within this many days (1 to 3650; 0 turns it off)",
      check(value) {
        const days = parseSkipPersonalizedWithinDays(value);
        if (days === null) return Promise.reject(new InvalidCampaignOption(SKIP_PERSONALIZED_PROBLEM));
        return Promise.resolve(String(days));
      },
    },
  ],
  create: (ports) => new ExtractLeads(ports),
});

export interface ExtractLeadsDeps {
  readonly uow: UnitOfWork;
  readonly extractionStore: ExtractionStore;
  readonly projectionStore: ProjectionStore;
  /** The owner's suppression list and personalization history. */
  readonly suppressions: LeadScreen;
  readonly files: LeadFileStore;
  readonly reader: LeadFileReader;
  readonly importLimits: ImportLimits;
  readonly tracing: Tracing;
  readonly notifier: RunNotifier;
  /** Leads per insert statement (1,000 in production: one round trip stores a thousand rows). */
  readonly extractionBatchSize: number;
}

/**
 * Commits as it goes (a file's leads are too many for one decision): each batch with its events,
 * then the totals, then the completion when nothing is left to do; returns no decision.
 */
export class ExtractLeads implements Handler<'campaign.submitted'> {
  readonly #deps: ExtractLeadsDeps;

  constructor(deps: ExtractLeadsDeps) {
    if (!Number.isInteger(deps.extractionBatchSize) || deps.extractionBatchSize < 1) throw new RangeError('extractionBatchSize must be a positive integer');
    this.#deps = deps;
  }

  async handle(event: CampaignSubmitted, context: HandlerContext): Promise<null> {
    const { uow, extractionStore: store } = this.#deps;
    const run = await uow.commit(store.beginExtraction(event.run_id));
    if (run === null) return null; // unknown, or a redelivery after the run moved past extraction

    try {
      // The whole file first, storing nothing: a problem at its very end fails the run with no
      // lead released.
      const toValidate = await this.#open(run.runId, context);
      if (toValidate === null) return null;
      const { importLimits: limits, reader } = this.#deps;
      await new PreviewImportService({ reader, limits }).preview({ file: toValidate, demo: run.demo, sampleSize: 0 });
      const file = await this.#open(run.runId, context);
      if (file === null) return null;
      await this.#extract(run, file, context);
    } catch (error) {
      // The file passed validation at submission, so this is rare (e.g. lower limits since then).
      // Found by the validating pass, no lead was stored; found while storing (the stored file
      // changed since), the leads released before it end failed with the run (failRun).
      if (!(error instanceof ImportError)) throw error;
      context.log.warn({ code: error.code }, 'the run file cannot be imported: failing the run');
      await this.#fail(run.runId, error.message);
    }
    await this.#discardFile(run.runId, context);
    return null;
  }

  /** The run's stored file; null (the run failed, or finished by a concurrent delivery) when it is gone. */
  async #open(runId: string, context: HandlerContext): Promise<AsyncIterable<Uint8Array> | null> {
    const { uow, extractionStore: store, files } = this.#deps;
    try {
      return await files.get(runFileKey(runId));
    } catch (error) {
      if (!(error instanceof FileNotFoundError)) throw error;
      // A concurrent delivery may have finished the run and discarded its file (see #discardFile):
      // only a run still being extracted has really lost it.
      if ((await uow.commit(store.beginExtraction(runId))) === null) return null;
      context.log.warn({}, 'the run file is missing from the object store: failing the run');
      await this.#fail(runId, FILE_GONE_MESSAGE);
      return null;
    }
  }

  /**
   * Ends the run rather than leave it `extracting`, where the reconciler would re-drive a failure
   * that several deliveries could not get past. Leads stored by the failed deliveries end failed
   * with the run (failRun), so none of them is paid for, nor counted. The file is kept (until its TTL) for whoever looks
   * into the logged cause.
   */
  async giveUp(event: CampaignSubmitted, reason: string, context: HandlerContext): Promise<null> {
    // Past extraction already (it failed later, e.g. committing the completion): its leads end it.
    if ((await this.#deps.uow.commit(this.#deps.extractionStore.beginExtraction(event.run_id))) === null) return null;
    context.log.error({ reason }, 'extraction failed on every delivery: failing the run');
    await this.#fail(event.run_id, EXTRACTION_FAILED_MESSAGE);
    return null;
  }

  async #extract(run: RunToExtract, file: AsyncIterable<Uint8Array>, context: HandlerContext): Promise<void> {
    const { uow, extractionStore: store, reader, importLimits, extractionBatchSize } = this.#deps;
    let leadImport: LeadImport | undefined;
    let batch: Lead[] = [];
    let skipped = 0;
    let suppressedLeads = 0;
    // The run stopped taking leads (cancelled while its file was read): the rest is not read.
    let stopped = false;
    // The batches being committed while the next one is read: the file and the database work at
    // once, with at most two commits in flight (their leads never overlap: the import
    // de-duplicates, so the two transactions lock different rows).
    let previous: Promise<void> = Promise.resolve();
    const withinDays = skipPersonalizedWindow(run.options);
    const storeBatch = async (leads: readonly Lead[]) => {
      // Between batches, a stopping process gives the message back; the redelivery resumes idempotently.
      context.signal.throwIfAborted();
      const before = previous;
      const committed = (async () => {
        const suppressed = await this.#screen(run, leads, withinDays);
        suppressedLeads += suppressed.size;
        const stored = await uow.commit(store.storeLeads(run, leads, suppressed), (result) =>
          result.pending.map((leadId) => ({
            event: { type: 'lead.extracted' as const, run_id: run.runId, lead_id: leadId },
            trace: this.#deps.tracing.startTrace('lead', { run_id: run.runId, lead_id: leadId }),
          })),
        );
        skipped += stored.skipped;
        if (stored.stopped) stopped = true;
      })();
      // Both settled before the result is known: a failure never leaves the other commit running.
      const current = Promise.allSettled([before, committed]).then((outcomes) => {
        const failed = outcomes.find((outcome) => outcome.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      });
      // Handled here so that a failure while the next batch is read is not an unhandled
      // rejection; it is still thrown by the next await of `previous`.
      committed.catch(() => {});
      current.catch(() => {});
      previous = current;
      await before;
    };
    try {
      for await (const record of reader.records(file, importLimits)) {
        if (leadImport === undefined) {
          // The rows that are not leads are kept (their cells within a budget) for the export.
          leadImport = new LeadImport(record, { demo: run.demo, maxColumns: importLimits.maxColumns, keepRows: KEPT_ROW_CHARS });
          continue;
        }
        const outcome = leadImport.accept(record);
        if (outcome.kind !== 'lead') continue;
        batch.push(outcome.lead);
        if (batch.length === extractionBatchSize) {
          await storeBatch(batch);
          batch = [];
          if (stopped) break;
        }
      }
      if (batch.length > 0 && !stopped) await storeBatch(batch);
    } catch (error) {
      // Settles what is in flight before the delivery ends; a failed commit wins (the redelivery
      // retries it, as it would have had it failed before the next batch was read).
      await previous;
      throw error;
    }
    await previous;
    if (stopped) {
      context.log.info({}, 'the run was stopped while its file was read (cancelled): extraction stops');
      return;
    }
    if (leadImport === undefined) {
      throw new ImportError('EMPTY_FILE', 'The file is empty. Upload a CSV file with a header row and one row per lead.');
    }

    const report = leadImport.report();
    await uow.commit(store.finishExtraction(run.runId, { report, columns: leadImport.columns, skipped, rows: leadImport.rows }));
    context.log.info({ total_rows: report.total_rows, valid: report.valid, skipped, suppressed: suppressedLeads }, 'leads extracted');
    // Nothing may be left to do (every lead skipped or suppressed, or no valid lead): no projection would end the run.
    await uow.commit(this.#deps.projectionStore.completeIfSettled(run.runId), completionEvents);
    this.#deps.notifier.notify(run.runId);
  }

  /**
   * The batch's leads to store suppressed, by email, with why: on the owner's list (the most
   * specific match), else personalized in another campaign within the window.
   */
  async #screen(run: RunToExtract, leads: readonly Lead[], withinDays: number | null): Promise<ReadonlyMap<string, string>> {
    const screened = await this.#deps.suppressions.screen(run, leads.map((lead) => ({ email: lead.email, keys: suppressionKeys(lead) })), withinDays);
    const suppressed = new Map<string, string>();
    for (const lead of leads) {
      const screening = screened.get(lead.email);
      if (screening === undefined) continue;
      const match = suppressionMatch(lead, new Set(screening.listed));
      if (match !== null) suppressed.set(lead.email, suppressionReason(match));
      else if (screening.personalizedElsewhere !== null && withinDays !== null) {
        suppressed.set(lead.email, recentlyPersonalizedReason(screening.personalizedElsewhere, withinDays));
      }
    }
    return suppressed;
  }

  async #fail(runId: string, message: string): Promise<void> {
    await this.#deps.uow.commit(this.#deps.extractionStore.failRun(runId, message), completionEvents);
    this.#deps.notifier.notify(runId);
  }

  /** The leads are in the database now: the uploaded file (personal data) is not kept longer than needed. */
  async #discardFile(runId: string, context: HandlerContext): Promise<void> {
    try {
      await this.#deps.files.delete(runFileKey(runId));
    } catch (error) {
      context.log.warn({ err: error }, 'could not delete the run file from the object store');
    }
  }
}
