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
 * When the broker lost its stream outright (it is back, created anew and empty: its identity, kept
 * in PostgreSQL, changed), nothing it held survives, whatever the leases say: the next pass
 * re-drives every unfinished run and lead at once, without waiting for the lease or for idle
 * consumers (only work whose own event still waits in the outbox, never published, is left to the
 * relay), so a lost backlog is back in flight within a pass. Enqueued into the
 * outbox, the work is metered into the broker by the relay at the consumers' pace (fair across
 * users), not in fixed batches per lease.
 *
 * A pass reads stalled leads page by page (in (run, lead) order, so the pages of one run follow
 * each other) and enqueues them after reading: every stalled lead of a run goes back at once,
 * not 500 per lease.
 *
 * It also ends runs whose leads are all counted but that were never completed (the projection's
 * message lost after the last count).
 *
 * A run its owner paused is left alone: its leads wait, and its resume commits their events again.
 * A cancelled run is looked after until it has ended: a lead whose call was in flight at the
 * cancel is re-driven if its event is lost, and its delivery cancels it (no call).
 */
import type { CampaignSubmitted, DomainEvent } from '../../domain/campaigns/events.ts';
import type { LeadStatus } from '../../domain/campaigns/run.ts';
import type { ConsumerActivity } from '../../ports/event-consumer.port.ts';
import type { Log } from '../../ports/logger.port.ts';
import type { ProjectionStore } from '../../ports/projection-store.port.ts';
import type { ReconcilerStore, Staleness, StuckLead } from '../../ports/reconciler-store.port.ts';
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
  /** Rows per read: runs, and leads per page (default 5,000). */
  readonly batch?: number;
  /** The most leads one pass re-drives (default 500,000). */
  readonly maxLeadsPerPass?: number;
  /**
   * How old a stream created anew must be before its loss is acted on (default 5 s): by then every
   * relay has seen that the old stream's consumers are gone, so nothing it publishes afterwards
   * is dropped for want of a consumer.
   */
  readonly settleMs?: number;
  /** The clock (default Date.now). */
  readonly now?: () => number;
}

export interface ReconcilePass {
  /** Runs whose extraction was re-driven. */
  readonly runs: number;
  /** Leads whose next event was re-driven. */
  readonly leads: number;
  /** Settled runs ended by this pass. */
  readonly completed: number;
  /** Whether this pass found the broker's stream lost and created anew. */
  readonly brokerReset: boolean;
}

export const DEFAULT_LEASE_MS = 5 * 60_000;
/** JetStream's default de-duplication window, which the topology keeps. */
export const JETSTREAM_DUPLICATE_WINDOW_MS = 2 * 60_000;

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #leaseMs: number;
  readonly #batch: number;
  readonly #maxLeads: number;
  readonly #settleMs: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#batch = deps.batch ?? 5_000;
    this.#maxLeads = deps.maxLeadsPerPass ?? 500_000;
    this.#settleMs = deps.settleMs ?? 5_000;
    this.#now = deps.now ?? Date.now;
    const window = deps.duplicateWindowMs ?? JETSTREAM_DUPLICATE_WINDOW_MS;
    if (this.#leaseMs <= window) {
      throw new RangeError(`leaseMs (${this.#leaseMs}) must exceed the stream's duplicate window (${window} ms), or re-driven events are dropped`);
    }
  }

  /** One pass: re-drives lost extractions and leads, then ends the runs that are settled. */
  async runOnce(): Promise<ReconcilePass> {
    const { store, uow, activity, stages, isPaused, log } = this.#deps;
    const lostStream = await this.#lostStream();
    const staleness: Staleness = lostStream === null ? { leaseMs: this.#leaseMs } : { leaseMs: 0, outbox: 'own' };
    if (lostStream !== null) log.error({}, 'the broker lost its event stream: re-driving all unfinished work from the database');
    // The new stream may have taken (and, with no consumer yet, dropped) some of these events under
    // their usual ids: within its de-duplication window it would drop them again. Ids of their own.
    const redrive = lostStream === null ? {} : { redrive: lostStream };

    let runs = 0;
    if (lostStream !== null || (await activity.idle('campaign.submitted'))) {
      const stalled = await store.stalledExtractions(staleness, this.#batch);
      await uow.enqueue(
        stalled.map((run): CampaignSubmitted => ({ type: 'campaign.submitted', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId })),
        redrive,
      );
      runs = stalled.length;
    }

    const statuses: LeadStatus[] = [];
    for (const stage of stages) {
      // After a loss nothing is queued or in flight any more, and a paused API's leads must wait in the broker again.
      if (lostStream === null) {
        if (!(await activity.idle(stage.event))) continue;
        if ((await Promise.all(stage.apis.map(isPaused))).some(Boolean)) continue;
      }
      statuses.push(stage.status);
    }
    // Read every page first, then enqueue: a run with events in the outbox is not stalled, so
    // enqueueing between pages would hide the rest of its leads until the next lease.
    const leads: StuckLead[] = [];
    while (leads.length < this.#maxLeads) {
      const page = await store.stalledLeads(staleness, statuses, Math.min(this.#batch, this.#maxLeads - leads.length), leads.at(-1));
      leads.push(...page);
      if (page.length < this.#batch) break;
    }
    for (let start = 0; start < leads.length; start += this.#batch) {
      await uow.enqueue(leads.slice(start, start + this.#batch).map((lead): DomainEvent => leadEvent(lead.runId, lead.leadId, lead.status)), redrive);
    }
    // Recorded once its work is enqueued: a pass that fails half-way is done again by the next.
    if (lostStream !== null) await uow.commit(store.recordBrokerEpoch(lostStream));

    let completed = 0;
    for (const runId of await store.settledRuns(this.#batch)) {
      const completion = await uow.commit(this.#deps.projection.completeIfSettled(runId), completionEvents);
      if (completion !== null) completed += 1;
    }

    const pass = { runs, leads: leads.length, completed, brokerReset: lostStream !== null };
    if (pass.runs + pass.leads + pass.completed > 0) log.warn(pass, 'reconciler re-drove lost work');
    return pass;
  }

  /**
   * The identity of the stream that replaced one the broker lost, once it is old enough to act on;
   * null when nothing was lost. The first identity ever seen is only recorded.
   */
  async #lostStream(): Promise<string | null> {
    const { store, activity, uow } = this.#deps;
    const current = await activity.streamEpoch();
    if (current === null) return null; // missing right now: the topology keepers are creating it
    const known = await store.brokerEpoch();
    if (known === null) {
      await uow.commit(store.recordBrokerEpoch(current));
      return null;
    }
    if (known === current) return null;
    const created = Date.parse(current);
    if (Number.isFinite(created) && this.#now() - created < this.#settleMs) return null;
    return current;
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
