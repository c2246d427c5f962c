/**
 * KPI projection (`lead.personalized`, `lead.needs_review`, `lead.failed`): counts each settled
 * lead once into its run's counters and, when personalized, its campaign and its owner's KPIs, and
 * ends the run when it is settled, with its `run.completed` event. The store counts by the lead's
 * stored status, not by the event, exactly once per run (one transaction keyed by lead and run),
 * so a redelivered or replayed event changes nothing; the completion check still runs, in case the
 * delivery that counted the last lead crashed before it.
 *
 * Settings: one short transaction per event (grouped across events), so 30 s of ack wait, short
 * backoff (lock contention or a database restart clears quickly), ten deliveries because giving up
 * on a count is worse than trying, and 256 in flight: counts are cheap and a run with thousands of
 * leads settles quickly.
 */
import type { LeadSettled } from '../../../domain/campaigns/events.ts';
import type { KpiRates } from '../../../domain/campaigns/run.ts';
import type { Handler, HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { ProjectionStore } from '../../../ports/projection-store.port.ts';
import type { RunNotifier } from '../../../ports/run-notifications.port.ts';
import { decide, type Decision, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { declareConsumer } from '../kernel/declaration.ts';
import { completionEvents } from './lead-events.ts';

const SECOND = 1_000;

export const projection = declareConsumer({
  name: 'projection',
  summary: 'counts each settled lead once into its run, campaign and the owner\'s KPIs; ends settled runs',
  subscribes: ['lead.personalized', 'lead.needs_review', 'lead.failed'],
  settings: {
    ackWaitMs: 30 * SECOND,
    maxDeliver: 10,
    backoffMs: [SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND],
    maxAckPending: 256,
    maxHandlerMs: 60 * SECOND,
    concurrency: 16,
  },
  uses: ['uow', 'projectionStore', 'kpiRates', 'notifier'],
  create: (ports) => new ProjectOutcome(ports),
});

export interface ProjectOutcomeDeps {
  readonly uow: UnitOfWork;
  readonly projectionStore: ProjectionStore;
  readonly kpiRates: KpiRates;
  readonly notifier: RunNotifier;
}

export class ProjectOutcome implements Handler<LeadSettled['type']> {
  readonly #deps: ProjectOutcomeDeps;

  constructor(deps: ProjectOutcomeDeps) {
    this.#deps = deps;
  }

  async handle(event: LeadSettled, context: HandlerContext): Promise<Decision> {
    const { uow, projectionStore: store, kpiRates, notifier } = this.#deps;
    // Committed first and on its own: the completion check must see this count (and every other
    // count committed before it), which a change in the same batch would not.
    const counted = await uow.commit(store.countOutcome(event.lead_id, event.run_id, kpiRates));
    if (counted) notifier.notify(event.run_id);
    else context.log.debug({}, 'outcome already counted: nothing to project');
    return decide(store.completeIfSettled(event.run_id), {
      events: completionEvents,
      after: (completion) => {
        if (completion === null) return;
        context.log.info({ status: completion.outcome.status }, 'run settled');
        notifier.notify(event.run_id);
      },
    });
  }
}
