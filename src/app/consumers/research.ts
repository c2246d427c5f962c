/**
 * Research (`lead.extracted`): asks the research API about the lead's company and saves the
 * answer with a `lead.researched` event. The lead's stored status decides what a delivery does, so
 * a redelivered or replayed event never pays for a second call: only a `pending` lead is
 * researched. A lead further along needs nothing: the event of its next step was committed with
 * the step (the outbox), so nothing is re-published by hand.
 *
 * Before the call, the delivery claims it in PostgreSQL (claimPaidCall in lead-events.ts): a copy
 * of the message that finds another delivery's live claim makes no call, and a lead whose run has
 * ended is failed without one (cancelled, if its owner cancelled the run; left for the resume, if
 * paused). The claim's lease is the ack wait (as configured). Once the call has its turn, right
 * before it is sent, the run is read once more (paidCall): no call starts after the owner's cancel
 * or pause was answered.
 *
 * Settings:
 * - ack wait 120 s: a call takes ~7-8 s at the median and can take a minute when the agent searches
 *   a lot; heartbeats extend it during a call.
 * - the retries of a paid call (PAID_CALL_RETRIES in lead-events.ts): about four minutes of failing
 *   calls before a lead is failed; pushback never fails one.
 * - 512 in flight across all processes: the API's limiter (rate cap and adaptive concurrency)
 *   decides how many calls run; the consumer only has to hand it enough work. Perplexity's top
 *   tier (2,000 requests a minute at ~8 s a call) keeps ~270 calls in flight, with handlers
 *   waiting for their turn besides.
 * - at most 10 minutes per delivery: a call's own timeout (60 s) plus a long wait for its turn
 *   under a low rate cap (64 handlers at 50 requests a minute wait up to ~80 s).
 */
import type { LeadExtracted } from '../../../domain/campaigns/events.ts';
import { costOf, type Pricing } from '../../../domain/pricing/pricing.ts';
import type { Handler, HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { LeadWorkStore } from '../../../ports/lead-work-store.port.ts';
import type { ProjectionStore } from '../../../ports/projection-store.port.ts';
import type { ResearchProvider } from '../../../ports/providers.port.ts';
import { decide, type Decision, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { declareConsumer } from '../kernel/declaration.ts';
import { claimPaidCall, failLead, paidCall, PAID_CALL_RETRIES } from './lead-events.ts';

const SECOND = 1_000;

export const research = declareConsumer({
  name: 'research',
  summary: 'researches each lead\'s company with the research API (Perplexity)',
  subscribes: ['lead.extracted'],
  settings: {
    ackWaitMs: 120 * SECOND,
    ...PAID_CALL_RETRIES,
    maxAckPending: 512,
    maxHandlerMs: 10 * 60 * SECOND,
  },
  callsApi: 'research',
  uses: ['uow', 'leadWork', 'projectionStore', 'research', 'pricing'],
  create: (ports) => new ResearchLead(ports),
});

export interface ResearchLeadDeps {
  readonly uow: UnitOfWork;
  readonly leadWork: LeadWorkStore;
  /** Ends a cancelled run once its last lead in flight is settled. */
  readonly projectionStore: ProjectionStore;
  readonly research: ResearchProvider;
  /** Prices each call's usage into the lead's cost. */
  readonly pricing: Pricing;
}

export class ResearchLead implements Handler<'lead.extracted'> {
  readonly #deps: ResearchLeadDeps;

  constructor(deps: ResearchLeadDeps) {
    this.#deps = deps;
  }

  /**
   * A failed call propagates: the runner retries with the consumer's backoff, then calls `giveUp`.
   * A call that failed adds nothing to the lead's cost: what a provider bills for one is not known here.
   */
  async handle(event: LeadExtracted, context: HandlerContext): Promise<Decision | null> {
    const { research, pricing } = this.#deps;
    const work = await this.#deps.leadWork.leadWork(event.lead_id, event.run_id);
    // Gone to a later run (which has its own events), or past research already.
    if (work === null || work.status !== 'pending') return null;

    const claimed = await claimPaidCall(this.#deps, work, 'research', context);
    if (claimed.kind === 'settled') return claimed.decision;

    const prompt = work.researchPrompt === null ? {} : { prompt: work.researchPrompt };
    const made = await paidCall(this.#deps, claimed.claim, context, (options) => research.research({ lead: work.lead, ...prompt }, context.signal, options));
    if (made.kind === 'stopped') return made.decision;
    const found = made.value;
    // Saved (releasing the claim), or (another delivery saved first) its cost recorded all the same.
    return decide(this.#deps.leadWork.saveResearch(work.leadId, work.runId, found, costOf(found.usage, pricing.research)), {
      events: (saved) => (saved ? [{ type: 'lead.researched', run_id: work.runId, lead_id: work.leadId }] : []),
      after: (saved) => {
        if (saved) context.log.info({ model: found.model, citations: found.citations.length }, 'lead researched');
      },
    });
  }

  giveUp(event: LeadExtracted, reason: string, context: HandlerContext): Promise<Decision> {
    return failLead(this.#deps.leadWork, 'research', event, reason, context);
  }
}
