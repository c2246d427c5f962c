/**
 * Extraction (`campaign.submitted`): streams the run's stored file through the lead import,
 * stores the leads in batches and starts one trace per lead with its `lead.extracted` event.
 *
 * A redelivery (a crash mid-file, a reconciler re-drive) runs the whole file again: the store
 * upserts leads the run already owns without losing their progress and the totals are absolute,
 * so the second pass writes what the first would have.
 */
import type { CampaignSubmitted } from '../../domain/campaigns/events.ts';
import { ImportError, type ImportLimits } from '../../domain/leads/import-error.ts';
import type { Lead } from '../../domain/leads/lead.ts';
import { LeadImport } from '../../domain/leads/lead-import.ts';
import type { ExtractionStore, ProjectionStore, RunCompletion, RunToExtract } from '../../ports/campaign-store.port.ts';
import type { EventHandler, HandlerContext } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import { FileNotFoundError, type LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { RunNotifier } from '../../ports/run-notifications.port.ts';
import type { Tracing } from '../../ports/tracing.port.ts';
import { runCompletedEvent } from './pipeline-events.ts';
import { runFileKey } from './submit-campaign.ts';

export interface ExtractLeadsDeps {
  readonly store: ExtractionStore & ProjectionStore;
  readonly files: LeadFileStore;
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
  readonly publisher: EventPublisher;
  readonly tracing: Tracing;
  readonly notifier: RunNotifier;
  /** Leads per insert statement (default 1000: one round trip stores a thousand rows). */
  readonly batchSize?: number;
}

export const FILE_GONE_MESSAGE = 'The uploaded file is no longer available; submit it again.';
/** What the run's owner reads when extraction failed on every delivery (the cause is logged, not shown). */
export const EXTRACTION_FAILED_MESSAGE = 'The file could not be processed after several attempts; submit it again.';

export class ExtractLeads implements EventHandler<'campaign.submitted'> {
  readonly #store: ExtractionStore & ProjectionStore;
  readonly #files: LeadFileStore;
  readonly #reader: LeadFileReader;
  readonly #limits: ImportLimits;
  readonly #publisher: EventPublisher;
  readonly #tracing: Tracing;
  readonly #notifier: RunNotifier;
  readonly #batchSize: number;

  constructor(deps: ExtractLeadsDeps) {
    this.#store = deps.store;
    this.#files = deps.files;
    this.#reader = deps.reader;
    this.#limits = deps.limits;
    this.#publisher = deps.publisher;
    this.#tracing = deps.tracing;
    this.#notifier = deps.notifier;
    this.#batchSize = deps.batchSize ?? 1000;
    if (!Number.isInteger(this.#batchSize) || this.#batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  }

  async handle(event: CampaignSubmitted, context: HandlerContext): Promise<void> {
    const run = await this.#store.beginExtraction(event.run_id);
    if (run === null) return; // unknown, or a redelivery after the run moved past extraction

    let file: AsyncIterable<Uint8Array>;
    try {
      file = await this.#files.get(runFileKey(run.runId));
    } catch (error) {
      if (!(error instanceof FileNotFoundError)) throw error;
      // A concurrent delivery may have finished the run and discarded its file (see #discardFile):
      // only a run still being extracted has really lost it.
      if ((await this.#store.beginExtraction(run.runId)) === null) return;
      context.log.warn({}, 'the run file is missing from the object store: failing the run');
      await this.#finish(run.runId, await this.#store.failRun(run.runId, FILE_GONE_MESSAGE));
      return;
    }

    try {
      await this.#extract(run, file, context);
    } catch (error) {
      // The file passed validation at submission, so this is rare (e.g. lower limits since then).
      // Leads announced before the problem still get their lines; the run stays failed.
      if (!(error instanceof ImportError)) throw error;
      context.log.warn({ code: error.code }, 'the run file cannot be imported: failing the run');
      await this.#finish(run.runId, await this.#store.failRun(run.runId, error.message));
    }
    await this.#discardFile(run.runId, context);
  }

  /**
   * Ends the run rather than leave it `extracting`, where the reconciler would re-drive a failure
   * that several deliveries could not get past, every lease, for ever. The file is kept (until
   * its TTL) for whoever looks into the logged cause.
   */
  async giveUp(event: CampaignSubmitted, reason: string, context: HandlerContext): Promise<void> {
    // Past extraction already (it failed later, e.g. publishing the completion): its leads end it.
    if ((await this.#store.beginExtraction(event.run_id)) === null) return;
    context.log.error({ reason }, 'extraction failed on every delivery: failing the run');
    await this.#finish(event.run_id, await this.#store.failRun(event.run_id, EXTRACTION_FAILED_MESSAGE));
  }

  async #extract(run: RunToExtract, file: AsyncIterable<Uint8Array>, context: HandlerContext): Promise<void> {
    let leadImport: LeadImport | undefined;
    let batch: Lead[] = [];
    let skipped = 0;
    // The previous batch, being stored and then announced while the next one is read (and
    // stored): the file, the database and the broker work at once, with at most two batches in
    // flight. Batches are announced in file order.
    let previous: Promise<void> = Promise.resolve();
    const storeBatch = async (leads: readonly Lead[]) => {
      // Between batches, a stopping process gives the message back; the redelivery resumes idempotently.
      context.signal.throwIfAborted();
      const before = previous;
      const current = (async () => {
        const stored = await this.#store.storeLeads(run, leads);
        skipped += stored.skipped;
        await before;
        await this.#announce(run, stored.pending);
      })();
      // Handled here so that a failure while the next batch is read is not an unhandled
      // rejection; it is still thrown by the next await of `previous`.
      current.catch(() => {});
      previous = current;
      await before;
    };
    try {
      for await (const record of this.#reader.records(file, this.#limits)) {
        if (leadImport === undefined) {
          leadImport = new LeadImport(record, { demo: run.demo, maxColumns: this.#limits.maxColumns });
          continue;
        }
        const outcome = leadImport.accept(record);
        if (outcome.kind !== 'lead') continue;
        batch.push(outcome.lead);
        if (batch.length === this.#batchSize) {
          await storeBatch(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await storeBatch(batch);
    } catch (error) {
      // Settles what is in flight before the delivery ends; a failed store or publish wins (the
      // redelivery retries it, as it would have had it failed before the next batch was read).
      await previous;
      throw error;
    }
    await previous;
    if (leadImport === undefined) {
      throw new ImportError('EMPTY_FILE', 'The file is empty. Upload a CSV file with a header row and one row per lead.');
    }

    const report = leadImport.report();
    await this.#store.finishExtraction(run.runId, { report, columns: leadImport.columns, skipped });
    context.log.info({ total_rows: report.total_rows, valid: report.valid, skipped }, 'leads extracted');
    // Nothing may be left to do (every lead skipped, or no valid lead): no projection would end the run.
    await this.#finish(run.runId, await this.#store.completeIfSettled(run.runId));
  }

  /** Announces a stored batch's pending leads, each as the root of its own trace. */
  async #announce(run: RunToExtract, pending: readonly string[]): Promise<void> {
    await Promise.all(
      pending.map((leadId) =>
        this.#tracing.inNewTrace('lead', { run_id: run.runId, lead_id: leadId }, () =>
          this.#publisher.publish({ type: 'lead.extracted', run_id: run.runId, lead_id: leadId }),
        ),
      ),
    );
  }

  async #finish(runId: string, completion: RunCompletion | null): Promise<void> {
    this.#notifier.notify(runId);
    if (completion !== null) await this.#publisher.publish(runCompletedEvent(completion));
  }

  /** The leads are in the database now: the uploaded file (personal data) is not kept longer than needed. */
  async #discardFile(runId: string, context: HandlerContext): Promise<void> {
    try {
      await this.#files.delete(runFileKey(runId));
    } catch (error) {
      context.log.warn({ err: error }, 'could not delete the run file from the object store');
    }
  }
}
