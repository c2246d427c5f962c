/**
 * KPI projection (`lead.personalized`, `lead.needs_review`, `lead.failed`): counts each settled
 * lead once into its run's counters and, when personalized, its campaign and its owner's KPIs, and
 * ends the run when it is settled. The store counts by the lead's stored status, not by the event.
 * Exactly-once counting is the store's (one transaction, keyed by lead and run), so a redelivered
 * or replayed event changes nothing; the completion check still runs, in case the delivery that
 * counted the last lead crashed before it.
 */
import type { LeadSettled } from '../../domain/campaigns/events.ts';
import type { KpiRates } from '../../domain/campaigns/run.ts';
import type { ProjectionStore } from '../../ports/campaign-store.port.ts';
import type { EventHandler, HandlerContext } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { RunNotifier } from '../../ports/run-notifications.port.ts';
import { runCompletedEvent } from './pipeline-events.ts';

export interface ProjectOutcomeDeps {
  readonly store: ProjectionStore;
  readonly rates: KpiRates;
  readonly publisher: EventPublisher;
  readonly notifier: RunNotifier;
}

export class ProjectOutcome implements EventHandler<LeadSettled['type']> {
  readonly #store: ProjectionStore;
  readonly #rates: KpiRates;
  readonly #publisher: EventPublisher;
  readonly #notifier: RunNotifier;

  constructor(deps: ProjectOutcomeDeps) {
    this.#store = deps.store;
    this.#rates = deps.rates;
    this.#publisher = deps.publisher;
    this.#notifier = deps.notifier;
  }

  async handle(event: LeadSettled, context: HandlerContext): Promise<void> {
    const counted = await this.#store.countOutcome(event.lead_id, event.run_id, this.#rates);
    if (!counted) context.log.debug({}, 'outcome already counted: nothing to project');
    const completion = await this.#store.completeIfSettled(event.run_id);
    if (counted || completion !== null) this.#notifier.notify(event.run_id);
    if (completion !== null) {
      context.log.info({ status: completion.outcome.status }, 'run settled');
      await this.#publisher.publish(runCompletedEvent(completion));
    }
  }
}
