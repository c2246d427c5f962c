/**
 * The safety net for what the outbox cannot know: the broker losing events it had acknowledged
 * (a power cut with NATS's default fsync, a stream wiped). Every event implied by a commit is in
 * the outbox until the broker stored it, so the reconciler looks only for work whose events the
 * broker had and lost: runs and leads with no progress for a lease, none of whose events still
 * waits in the outbox, and re-drives them by committing again the event their stored state calls
 * for (handlers are idempotent, and the event keeps its id).
 *
 * It never re-drives a stage that may still have the work in hand: a stage is re-driven only while
 * every consumer of its event has nothing waiting and nothing in flight (a lead queued behind
 * another user's backlog is waiting, not lost, and re-publishing it would pay for its call
 * twice), and only while no outside API of that stage is paused (its leads wait for the API, and
 * its consumer does not pull them).
 *
 * The lease must exceed the stream's de-duplication window (JetStream's default is 2 minutes): a
 * re-driven event carries the original's id, and inside the window the broker would drop it as a
 * duplicate. The default of 5 minutes does, and also exceeds a healthy lead's longest quiet gap
 * (one attempt's ack wait plus the longest backoff: 120 s + 120 s for research).
 *
 * It also ends runs whose leads are all counted but that were never completed (the projection's
 * message lost after the last count).
 */
import type { CampaignSubmitted, DomainEvent } from '../../domain/campaigns/events.ts';
import type { LeadStatus } from '../../domain/campaigns/run.ts';
import type { ConsumerActivity } from '../../ports/event-consumer.port.ts';
import type { Log } from '../../ports/logger.port.ts';
import type { ProjectionStore } from '../../ports/projection-store.port.ts';
import type { ReconcilerStore } from '../../ports/reconciler-store.port.ts';
import type { UnitOfWork } from '../../ports/unit-of-work.port.ts';
import { completionEvents, leadEvent } from './consumers/lead-events.ts';
import type { Stage } from './kernel/assemble.ts';

export interface ReconcilerDeps {
  readonly store: ReconcilerStore;
  readonly projection: ProjectionStore;
  readonly uow: UnitOfWork;
  readonly activity: ConsumerActivity;
  /** The lead stages of the enabled consumers (kernel/assemble.ts leadStages). */
  readonly stages: readonly Stage[];
  /** Whether an outside API is paused now (its account out of credit, its key rejected, ...). */
  readonly isPaused: (api: string) => Promise<boolean>;
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
  /** Leads whose next event was re-driven. */
  readonly leads: number;
  /** Settled runs ended by this pass. */
  readonly completed: number;
}

export const DEFAULT_LEASE_MS = 5 * 60_000;
/** JetStream's default de-duplication window, which the topology keeps. */
export const JETSTREAM_DUPLICATE_WINDOW_MS = 2 * 60_000;

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #leaseMs: number;
  readonly #batch: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#batch = deps.batch ?? 500;
    const window = deps.duplicateWindowMs ?? JETSTREAM_DUPLICATE_WINDOW_MS;
    if (this.#leaseMs <= window) {
      throw new RangeError(`leaseMs (${this.#leaseMs}) must exceed the stream's duplicate window (${window} ms), or re-driven events are dropped`);
    }
  }

  /** One pass: re-drives lost extractions and leads, then ends the runs that are settled. */
  async runOnce(): Promise<ReconcilePass> {
    const { store, uow, activity, stages, isPaused } = this.#deps;
    let runs = 0;
    if (await activity.idle('campaign.submitted')) {
      const stalled = await store.stalledExtractions(this.#leaseMs, this.#batch);
      await uow.enqueue(
        stalled.map((run): CampaignSubmitted => ({ type: 'campaign.submitted', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId })),
      );
      runs = stalled.length;
    }

    const statuses: LeadStatus[] = [];
    for (const stage of stages) {
      if (!(await activity.idle(stage.event))) continue;
      if ((await Promise.all(stage.apis.map(isPaused))).some(Boolean)) continue;
      statuses.push(stage.status);
    }
    const leads = await store.stalledLeads(this.#leaseMs, statuses, this.#batch);
    await uow.enqueue(leads.map((lead): DomainEvent => leadEvent(lead.runId, lead.leadId, lead.status)));

    let completed = 0;
    for (const runId of await store.settledRuns(this.#batch)) {
      const completion = await uow.commit(this.#deps.projection.completeIfSettled(runId), completionEvents);
      if (completion !== null) completed += 1;
    }

    const pass = { runs, leads: leads.length, completed };
    if (pass.runs + pass.leads + pass.completed > 0) this.#deps.log.warn(pass, 'reconciler re-drove lost work');
    return pass;
  }

  /** Runs a pass every `intervalMs` (never two at once) until `stop`; the timer does not keep the process alive. */
  start(intervalMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return;
      this.#running = this.runOnce()
        .catch((error: unknown) => this.#deps.log.error({ err: error }, 'reconciler pass failed'))
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
