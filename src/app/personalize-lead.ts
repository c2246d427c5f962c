/**
 * Personalization (`lead.researched`): writes the opening line from the lead and its research.
 * Like research, the stored status decides: only a `researched` lead is written for; a settled
 * lead gets its settled event re-published so the projection can count it.
 */
import type { LeadResearched } from '../../domain/campaigns/events.ts';
import type { LeadWorkStore } from '../../ports/campaign-store.port.ts';
import { PermanentFailure, type EventHandler, type HandlerContext } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { MessageWriter } from '../../ports/providers.port.ts';
import { failureReason, republishLead } from './pipeline-events.ts';

export interface PersonalizeLeadDeps {
  readonly store: LeadWorkStore;
  readonly writer: MessageWriter;
  readonly publisher: EventPublisher;
}

export class PersonalizeLead implements EventHandler<'lead.researched'> {
  readonly #store: LeadWorkStore;
  readonly #writer: MessageWriter;
  readonly #publisher: EventPublisher;

  constructor(deps: PersonalizeLeadDeps) {
    this.#store = deps.store;
    this.#writer = deps.writer;
    this.#publisher = deps.publisher;
  }

  /** Provider errors propagate: the consumer retries with its backoff, then calls `giveUp`. */
  async handle(event: LeadResearched, context: HandlerContext): Promise<void> {
    const work = await this.#store.leadWork(event.lead_id, event.run_id);
    if (work === null) return; // the lead now belongs to a later run, which has its own events
    if (work.status === 'pending') {
      // Research is not saved, so this event cannot be the one research published; research's own event drives the lead.
      context.log.warn({}, 'lead.researched for a lead that is not researched: ignored');
      return;
    }
    if (work.status !== 'researched') {
      await republishLead(this.#store, this.#publisher, event);
      return;
    }
    if (work.research === null) throw new PermanentFailure('the lead has no stored research');

    await this.#store.recordAttempt(work.leadId, work.runId);
    const prompt = work.personalizationPrompt === null ? {} : { prompt: work.personalizationPrompt };
    const draft = await this.#writer.write({ lead: work.lead, research: work.research, ...prompt }, context.signal);
    if (await this.#store.savePersonalized(work.leadId, work.runId, draft)) {
      context.log.info({ model: draft.model }, 'lead personalized');
      await this.#publisher.publish({ type: 'lead.personalized', run_id: work.runId, lead_id: work.leadId });
    } else {
      // A concurrent delivery saved first, or the lead was failed meanwhile.
      await republishLead(this.#store, this.#publisher, event);
    }
  }

  async giveUp(event: LeadResearched, reason: string, context: HandlerContext): Promise<void> {
    const failed = await this.#store.saveFailed(event.lead_id, event.run_id, failureReason('personalization', reason, context));
    if (failed) {
      context.log.warn({ reason }, 'lead failed in personalization');
      await this.#publisher.publish({ type: 'lead.failed', run_id: event.run_id, lead_id: event.lead_id });
    } else {
      await republishLead(this.#store, this.#publisher, event);
    }
  }
}
