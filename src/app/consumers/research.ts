/**
 * Research (`lead.extracted`): asks the research API about the lead's company and saves the
 * answer with a `lead.researched` event. The lead's stored status decides what a delivery does, so
 * a redelivered or replayed event never pays for a second call: only a `pending` lead is
 * researched. A lead further along needs nothing: the event of its next step was committed with
 * the step (the outbox), so nothing is re-published by hand.
 *
 * A lead whose email or domain its owner put on the suppression list after it was stored (while
 * the run is in progress) ends `suppressed` here, before the claim: no call is made for it. The
 * list is looked up for every pending lead; the campaign's `skip_personalized_within_days` is
 * applied once, when the file is read (extraction), not here. A lead researched already is not
 * stopped: its line is written, as its research was paid for.
 *
 * Before the call, the delivery claims it in PostgreSQL (claimPaidCall in lead-events.ts): a copy
 * of the message that finds another delivery's live claim makes no call, and a lead whose run has
 * ended is failed without one (cancelled, if its owner cancelled the run; left for the resume, if
 * paused). The claim's lease is the ack wait (as configured). Once the call has its turn, right
 * before it is sent, the run is read once more (paidCall): no call starts after the owner's cancel
 * or pause was answered.
 *
 * Research once per company (issue 10, item 4): with RESEARCH_CACHE_TTL above 0, a lead's research
 * is its company's (domain/research/company.ts companyKey) for the run's research prompt, shared by
 * every lead of that company in any of the owner's runs while younger than the TTL (never another
 * user's). Before anything else the delivery asks the research cache (ports/research-cache.port.ts):
 * - research young enough exists: the lead takes it (`research_cached`, cost 0), no call;
 * - another delivery is making it (its claim, a lease like the lead's own, is live): this lead
 *   waits, and is redelivered a moment later (a `wait`, which never gives a lead up) to find the
 *   result; a holder that died leaves a claim that lapses, and a waiter then takes it over;
 * - nobody is: this delivery holds the company's claim, then claims the lead's own call as
 *   always, calls with the company's fields only (not the person's: the others reuse the answer),
 *   and saves the lead's research and the company's in one transaction, releasing both claims.
 * A failed call gives the company's claim back, so a waiting lead may try in its turn; so does a
 * call the run's cancel or pause stopped at its last check (the company's call takes the same
 * check as a lead's own: nothing is sent after the owner's answer).
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
import { companyFields, companyKey } from '../../../domain/research/company.ts';
import type { FailureVerdict, Handler, HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { LeadWork, LeadWorkStore } from '../../../ports/lead-work-store.port.ts';
import { apiFailureVerdict } from '../../../ports/outside-api.port.ts';
import type { ProjectionStore } from '../../../ports/projection-store.port.ts';
import type { LeadProfile, Research, ResearchProvider } from '../../../ports/providers.port.ts';
import type { CompanyResearchClaim, ResearchCache } from '../../../ports/research-cache.port.ts';
import type { RunNotifier } from '../../../ports/run-notifications.port.ts';
import type { LeadScreen } from '../../../ports/suppression-store.port.ts';
import { decide, type Decision, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { declareConsumer } from '../kernel/declaration.ts';
import { claimPaidCall, failLead, paidCall, PAID_CALL_RETRIES, suppressIfListed } from './lead-events.ts';

/**
 * Another delivery is making this lead's company's research: the lead comes back after
 * `retryAfterMs` to take it. A `wait`, not a retry: waiting for another lead never fails this one.
 */
export class CompanyResearchInFlight extends Error {
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number) {
    super("another delivery is researching the lead's company");
    this.name = 'CompanyResearchInFlight';
    this.retryAfterMs = retryAfterMs;
  }
}

/** How soon a lead waiting for its company's research looks again: a research call takes ~8 s. */
const COMPANY_WAIT_MS = { min: 250, max: 1_500 } as const;

/** The research API's classification, and a company's research in flight as a wait. */
export function researchFailureVerdict(error: unknown): FailureVerdict {
  if (error instanceof CompanyResearchInFlight) return { action: 'wait', afterMs: error.retryAfterMs };
  return apiFailureVerdict(error);
}

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
  classify: researchFailureVerdict,
  uses: ['uow', 'leadWork', 'research', 'pricing', 'suppressions', 'projectionStore', 'notifier', 'researchCache', 'researchCacheTtlMs'],
  create: (ports) => new ResearchLead(ports),
});

export interface ResearchLeadDeps {
  readonly uow: UnitOfWork;
  readonly leadWork: LeadWorkStore;
  readonly research: ResearchProvider;
  /** Prices each call's usage into the lead's cost. */
  readonly pricing: Pricing;
  /** The owner's suppression list, looked up again before the call. */
  readonly suppressions: LeadScreen;
  /** Ends the run when a lead suppressed here was its last, or a cancelled run once its last lead in flight is settled. */
  readonly projectionStore: ProjectionStore;
  readonly notifier: RunNotifier;
  /** The company's research shared by its leads; used when `researchCacheTtlMs` is above 0. */
  readonly researchCache?: ResearchCache;
  /** How long a company's research is reused; 0 or absent: each lead is researched on its own. */
  readonly researchCacheTtlMs?: number;
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
    const { leadWork } = this.#deps;
    const work = await leadWork.leadWork(event.lead_id, event.run_id);
    // Gone to a later run (which has its own events), or past research already.
    if (work === null || work.status !== 'pending') return null;
    const suppressed = await suppressIfListed(this.#deps, work, 'research', context);
    if (suppressed !== null) return suppressed;
    const { researchCache, researchCacheTtlMs = 0 } = this.#deps;
    if (researchCache === undefined || researchCacheTtlMs <= 0) return this.#researchAlone(work, context);
    return this.#researchCompany(work, researchCache, researchCacheTtlMs, context);
  }

  /** The lead's own research: one call for this lead. */
  async #researchAlone(work: LeadWork, context: HandlerContext): Promise<Decision | null> {
    const { research, pricing } = this.#deps;
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

  /** The company's research: taken from the cache, waited for, or made by this delivery for all of its leads. */
  async #researchCompany(work: LeadWork, cache: ResearchCache, ttlMs: number, context: HandlerContext): Promise<Decision | null> {
    const { uow, research, pricing } = this.#deps;
    const company: CompanyResearchClaim = {
      key: { userId: work.userId, companyKey: `${work.sandbox ? 'sandbox:' : ''}${companyKey({ company: work.lead.company, website: work.lead.canonical.website, email: work.lead.email })}`, prompt: work.researchPrompt },
      owner: crypto.randomUUID(),
      leaseMs: context.ackWaitMs,
    };
    const flight = await uow.commit(cache.claim(company, { runId: work.runId, ttlMs }));
    if (flight.kind === 'cached') return this.#useCached(work, flight.research, cache, context);
    if (flight.kind === 'held') {
      const waitMs = Math.min(COMPANY_WAIT_MS.max, Math.max(COMPANY_WAIT_MS.min, flight.expiresInMs));
      throw new CompanyResearchInFlight(Math.round(waitMs * (0.75 + Math.random() * 0.5)));
    }

    // The company's call is this delivery's to make: the lead's own claim next, as for any paid call.
    const release = () => uow.commit(cache.release(company)).catch(() => {});
    let claimed;
    try {
      claimed = await claimPaidCall(this.#deps, work, 'research', context);
    } catch (error) {
      await release();
      throw error;
    }
    if (claimed.kind === 'settled') {
      await release();
      return claimed.decision;
    }

    const renewal = setInterval(() => {
      // A missed renewal is retried at the next tick; the lease outlasts two of them.
      uow.commit(cache.renew(company)).catch(() => {});
    }, company.leaseMs / 3);
    let made;
    try {
      const prompt = work.researchPrompt === null ? {} : { prompt: work.researchPrompt };
      // The same last check as the lead's own call (paidCall's beforeCall): a run cancelled or
      // paused while this call waited for its turn sends nothing.
      made = await paidCall(this.#deps, claimed.claim, context, (options) =>
        research.research({ lead: companyProfile(work.lead), ...prompt }, context.signal, options),
      );
    } catch (error) {
      // Another lead of the company may try in its turn (its own deliveries and backoff).
      await release();
      throw error;
    } finally {
      clearInterval(renewal);
    }
    if (made.kind === 'stopped') {
      // Nothing was sent: the company's claim goes back at once, so its leads of other runs need
      // not wait for its lease.
      await release();
      return made.decision;
    }
    const found = made.value;
    return decide(cache.saveResearch(work, found, costOf(found.usage, pricing.research), company), {
      events: (saved) => (saved ? [{ type: 'lead.researched', run_id: work.runId, lead_id: work.leadId }] : []),
      after: (saved) => {
        if (saved) context.log.info({ model: found.model, citations: found.citations.length }, 'lead researched for its company');
      },
    });
  }

  #useCached(work: LeadWork, found: Research, cache: ResearchCache, context: HandlerContext): Decision {
    return decide(cache.useCached(work, found), {
      events: (saved) => (saved ? [{ type: 'lead.researched', run_id: work.runId, lead_id: work.leadId }] : []),
      after: (saved) => {
        if (saved) context.log.info({ model: found.model }, "lead researched: its company's research reused, no call");
      },
    });
  }

  giveUp(event: LeadExtracted, reason: string, context: HandlerContext): Promise<Decision> {
    return failLead(this.#deps.leadWork, 'research', event, reason, context);
  }
}

/** What a research call shared by a company's leads is told: the company's fields, none of the person's. */
function companyProfile(lead: LeadProfile): LeadProfile {
  return { email: lead.email, company: lead.company, canonical: companyFields(lead.canonical) };
}
