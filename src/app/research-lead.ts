/**
 * Research (`lead.extracted`): asks the research provider about the lead's company and stores the
 * answer. The lead's stored status decides what a delivery does, so a redelivered or replayed
 * event never pays for a second call: only a `pending` lead is researched; a lead further along
 * gets its next event re-published instead (it may have been lost in a crash between save and
 * publish; if not, the broker drops the copy by its id).
 */
import type { LeadExtracted } from '../../domain/campaigns/events.ts';
import { costOf, DEFAULT_PRICING, type Pricing } from '../../domain/pricing/pricing.ts';
import type { LeadWorkStore } from '../../ports/campaign-store.port.ts';
import type { EventHandler, HandlerContext } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { ResearchProvider } from '../../ports/providers.port.ts';
import { attempt, failureReason, republishLead } from './pipeline-events.ts';

export interface ResearchLeadDeps {
  readonly store: LeadWorkStore;
  readonly research: ResearchProvider;
  readonly publisher: EventPublisher;
  /** Prices each call's usage into the lead's cost; DEFAULT_PRICING when absent. */
  readonly pricing?: Pricing;
}

export class ResearchLead implements EventHandler<'lead.extracted'> {
  readonly #store: LeadWorkStore;
  readonly #research: ResearchProvider;
  readonly #publisher: EventPublisher;
  readonly #pricing: Pricing;

  constructor(deps: ResearchLeadDeps) {
    this.#store = deps.store;
    this.#research = deps.research;
    this.#publisher = deps.publisher;
    this.#pricing = deps.pricing ?? DEFAULT_PRICING;
  }

  /**
   * Provider errors propagate: the consumer retries with its backoff, then calls `giveUp`. A call
   * that failed adds nothing to the lead's cost: what a provider bills for one is not known here.
   */
  async handle(event: LeadExtracted, context: HandlerContext): Promise<void> {
    const work = await this.#store.leadWork(event.lead_id, event.run_id);
    if (work === null) return; // the lead now belongs to a later run, which has its own events
    if (work.status !== 'pending') {
      await republishLead(this.#store, this.#publisher, event);
      return;
    }

    const prompt = work.researchPrompt === null ? {} : { prompt: work.researchPrompt };
    const research = await attempt(this.#store, work, () => this.#research.research({ lead: work.lead, ...prompt }, context.signal));
    const costUsd = costOf(research.usage, this.#pricing.research);
    if (await this.#store.saveResearch(work.leadId, work.runId, research, costUsd)) {
      context.log.info({ model: research.model, citations: research.citations.length }, 'lead researched');
      await this.#publisher.publish({ type: 'lead.researched', run_id: work.runId, lead_id: work.leadId });
    } else {
      // A concurrent delivery saved first, or the lead was failed meanwhile. This call was paid for all the same.
      const usage = research.usage === undefined ? {} : { usage: research.usage };
      await this.#store.addCost(work.leadId, work.runId, { stage: 'research', model: research.model, ...usage, costUsd });
      await republishLead(this.#store, this.#publisher, event);
    }
  }

  async giveUp(event: LeadExtracted, reason: string, context: HandlerContext): Promise<void> {
    const failed = await this.#store.saveFailed(event.lead_id, event.run_id, failureReason('research', reason, context));
    if (failed) {
      context.log.warn({ reason }, 'lead failed in research');
      await this.#publisher.publish({ type: 'lead.failed', run_id: event.run_id, lead_id: event.lead_id });
    } else {
      await republishLead(this.#store, this.#publisher, event);
    }
  }
}
