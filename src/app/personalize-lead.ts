/**
 * Personalization (`lead.researched`): writes the opening line from the lead and its research.
 * Like research, the stored status decides: only a `researched` lead is written for; a settled
 * lead gets its settled event re-published so the projection can count it.
 *
 * Every draft goes through the quality gates (domain/personalization/quality-gates.ts). A draft
 * that fails is written once more, with the problems as feedback; if that one fails too, the lead
 * ends `needs_review` with the second draft as its message and the problems as its error, and is
 * not counted as personalized. Both writes happen in one delivery and count as one attempt: a
 * redelivery (a crash, a provider error on the second write) starts again from the first.
 */
import type { LeadResearched } from '../../domain/campaigns/events.ts';
import { DEFAULT_BANNED_PHRASES } from '../../domain/personalization/banned-phrases.ts';
import { checkDraft, needsReviewReason, type GateContext } from '../../domain/personalization/quality-gates.ts';
import { costOf, DEFAULT_PRICING, type Pricing, type UsdAmount } from '../../domain/pricing/pricing.ts';
import type { LeadWork, LeadWorkStore } from '../../ports/campaign-store.port.ts';
import { PermanentFailure, type EventHandler, type HandlerContext } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { Draft, MessageWriter, Research } from '../../ports/providers.port.ts';
import { attempt, failureReason, republishLead } from './pipeline-events.ts';

export interface PersonalizeLeadDeps {
  readonly store: LeadWorkStore;
  readonly writer: MessageWriter;
  readonly publisher: EventPublisher;
  /** Prices each writer call's usage into the lead's cost; DEFAULT_PRICING when absent. */
  readonly pricing?: Pricing;
  /** Whether a line may be a question. Default false: campaigns have no setting for it yet. */
  readonly allowQuestions?: boolean;
  /** Phrases no line may contain. Default DEFAULT_BANNED_PHRASES. */
  readonly bannedPhrases?: readonly string[];
}

export class PersonalizeLead implements EventHandler<'lead.researched'> {
  readonly #store: LeadWorkStore;
  readonly #writer: MessageWriter;
  readonly #publisher: EventPublisher;
  readonly #pricing: Pricing;
  readonly #allowQuestions: boolean;
  readonly #bannedPhrases: readonly string[];

  constructor(deps: PersonalizeLeadDeps) {
    this.#store = deps.store;
    this.#writer = deps.writer;
    this.#publisher = deps.publisher;
    this.#pricing = deps.pricing ?? DEFAULT_PRICING;
    this.#allowQuestions = deps.allowQuestions ?? false;
    this.#bannedPhrases = deps.bannedPhrases ?? DEFAULT_BANNED_PHRASES;
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

    const research = work.research;
    const { draft, verdict } = await attempt(this.#store, work, () => this.#write(work, research, context));

    const costUsd = costOf(draft.usage, this.#pricing.personalization);
    const saved = verdict.ok
      ? await this.#store.savePersonalized(work.leadId, work.runId, draft, costUsd)
      : await this.#store.saveNeedsReview(work.leadId, work.runId, draft, needsReviewReason(verdict.problems), costUsd);
    if (saved) {
      context.log.info({ model: draft.model }, verdict.ok ? 'lead personalized' : 'lead needs review: the rewrite failed the quality gates too');
      await this.#publisher.publish({ type: verdict.ok ? 'lead.personalized' : 'lead.needs_review', run_id: work.runId, lead_id: work.leadId });
    } else {
      // A concurrent delivery saved first, or the lead was failed meanwhile. This call was paid for all the same.
      await this.#addCost(work, draft, costUsd);
      await republishLead(this.#store, this.#publisher, event);
    }
  }

  /** A draft, checked; one that fails the gates is written again once, with the reasons. */
  async #write(work: LeadWork, research: Research, context: HandlerContext): Promise<{ draft: Draft; verdict: ReturnType<typeof checkDraft> }> {
    const prompt = work.personalizationPrompt === null ? {} : { prompt: work.personalizationPrompt };
    const input = { lead: work.lead, research, ...prompt };
    const gates = this.#gates(work, research);

    let draft = await this.#writer.write(input, context.signal);
    let verdict = checkDraft(draft, gates);
    if (!verdict.ok) {
      // The problems can quote the draft (a placeholder): only their number is logged.
      context.log.info({ problems: verdict.problems.length }, 'draft failed the quality gates: writing it again');
      // The rejected draft was paid for too; the kept one's cost is saved with it.
      await this.#addCost(work, draft, costOf(draft.usage, this.#pricing.personalization));
      draft = await this.#writer.write({ ...input, feedback: { draft: draft.message, problems: verdict.problems } }, context.signal);
      verdict = checkDraft(draft, gates);
    }
    return { draft, verdict };
  }

  /** What the gates check a draft against: the research, the lead's own fields, the campaign's rules. */
  #gates(work: LeadWork, research: Research): GateContext {
    const leadFields: Record<string, string> = {};
    for (const [field, value] of Object.entries(work.lead.canonical)) if (value !== undefined) leadFields[field] = value;
    leadFields.company = work.lead.company;
    const allowQuestions = work.allowQuestions || this.#allowQuestions;
    return { research: research.text, leadFields, allowQuestions, bannedPhrases: this.#bannedPhrases };
  }

  async #addCost(work: LeadWork, draft: Draft, costUsd: UsdAmount): Promise<void> {
    const usage = draft.usage === undefined ? {} : { usage: draft.usage };
    await this.#store.addCost(work.leadId, work.runId, { stage: 'personalization', model: draft.model, ...usage, costUsd });
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
