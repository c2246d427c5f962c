/**
 * The safety net that makes every campaign finish: finds runs and leads stuck in a non-final
 * state past a lease (their event was lost, e.g. by a broker that lost acknowledged messages, or a
 * publish failed after the database write) and drives them again by re-publishing the event their
 * stored state calls for. Handlers are idempotent, so a re-drive of work that was merely slow
 * costs at most a duplicate delivery, never a double count.
 *
 * The lease must exceed the stream's de-duplication window (JetStream's default is 2 minutes): a
 * re-published event carries the original's id, and inside the window the broker would drop it
 * as a duplicate. It must also exceed the longest quiet gap of a healthy lead, one attempt's
 * ack wait plus the longest backoff (120 s + 120 s with the research consumer's settings), since
 * each attempt refreshes the lead. The default of 5 minutes satisfies both.
 */
import type { ProjectionStore, ReconcilerStore } from '../../ports/campaign-store.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { Log } from '../../ports/logger.port.ts';
import { leadEvent, runCompletedEvent } from './pipeline-events.ts';

export interface ReconcilerDeps {
  readonly store: ReconcilerStore & ProjectionStore;
  readonly publisher: EventPublisher;
  readonly log: Log;
  /** No progress for this long means stuck (default 5 minutes). */
  readonly leaseMs?: number;
  /** The stream's de-duplication window, which the lease must exceed (default JetStream's 2 minutes). */
  readonly duplicateWindowMs?: number;
  /** At most this many runs and this many leads per pass (default 500). */
  readonly batch?: number;
}

export interface ReconcilePass {
  /** Runs whose extraction was re-driven. */
  readonly runs: number;
  /** Leads whose next event was re-published. */
  readonly leads: number;
  /** Settled runs ended by this pass. */
  readonly completed: number;
}

export const DEFAULT_LEASE_MS = 5 * 60_000;
const JETSTREAM_DUPLICATE_WINDOW_MS = 2 * 60_000;

export class Reconciler {
  readonly #store: ReconcilerStore & ProjectionStore;
  readonly #publisher: EventPublisher;
  readonly #log: Log;
  readonly #leaseMs: number;
  readonly #batch: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#store = deps.store;
    this.#publisher = deps.publisher;
    this.#log = deps.log;
    this.#leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#batch = deps.batch ?? 500;
    const window = deps.duplicateWindowMs ?? JETSTREAM_DUPLICATE_WINDOW_MS;
    if (this.#leaseMs <= window) {
      throw new RangeError(`leaseMs (${this.#leaseMs}) must exceed the stream's duplicate window (${window} ms), or re-published events are dropped`);
    }
  }

  /** One pass: re-drives stalled extractions and leads, then ends the runs that are settled. */
  async runOnce(): Promise<ReconcilePass> {
    const runs = await this.#store.stalledExtractions(this.#leaseMs, this.#batch);
    await this.#publisher.publishAll(
      runs.map((run) => ({ type: 'campaign.submitted', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId })),
    );

    const leads = await this.#store.stalledLeads(this.#leaseMs, this.#batch);
    await this.#publisher.publishAll(leads.map((lead) => leadEvent(lead.runId, lead.leadId, lead.status)));

    let completed = 0;
    for (const runId of await this.#store.settledRuns(this.#batch)) {
      const completion = await this.#store.completeIfSettled(runId);
      if (completion === null) continue;
      completed += 1;
      await this.#publisher.publish(runCompletedEvent(completion));
    }

    const pass = { runs: runs.length, leads: leads.length, completed };
    if (pass.runs + pass.leads + pass.completed > 0) this.#log.warn(pass, 'reconciler re-drove stuck work');
    return pass;
  }

  /** Runs a pass every `intervalMs` (never two at once) until `stop`; the timer does not keep the process alive. */
  start(intervalMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return;
      this.#running = this.runOnce()
        .catch((error: unknown) => this.#log.error({ err: error }, 'reconciler pass failed'))
        .finally(() => {
          this.#running = undefined;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
