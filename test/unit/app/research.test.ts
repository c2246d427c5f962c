/** Research (`lead.extracted`) against the in-memory doubles and a scripted research provider. */
import { describe, expect, it } from 'vitest';
import type { LeadExtracted } from '../../../domain/campaigns/events.ts';
import { DEFAULT_KPI_RATES, RUN_CANCELLED_REASON, RUN_ENDED_REASON } from '../../../domain/campaigns/run.ts';
import { RetryLater } from '../../../ports/event-consumer.port.ts';
import { ApiPaused, OutsideApiError } from '../../../ports/outside-api.port.ts';
import type { ResearchCache } from '../../../ports/research-cache.port.ts';
import { ResearchLead } from '../../../src/app/consumers/research.ts';
import { commitDecision, handlerContext, inMemoryPipeline, logged, personalizingRun, pipelinePorts, researchAbout, type InMemoryPipeline } from '../../support/fakes/index.ts';
import { fakeChange } from '../../support/fakes/unit-of-work.ts';

/** DEFAULT_PRICING's research call at the default research's usage: $0.005 + 4,000 × $1/M + 600 × $1/M. */
const RESEARCH_COST = '0.009600';

async function pendingLead(p: InMemoryPipeline, run: Parameters<typeof personalizingRun>[2] = {}): Promise<LeadExtracted> {
  const { run: extracted, pending } = await personalizingRun(p, ['ada@example.com'], run);
  p.outbox.clear();
  return { type: 'lead.extracted', run_id: extracted.runId, lead_id: pending[0]! };
}

function research(p: InMemoryPipeline) {
  return new ResearchLead(pipelinePorts(p));
}

describe('ResearchLead', () => {
  it('researches a pending lead with the run prompt, and saves the answer with its cost and a lead.researched event', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p, { researchPrompt: 'Look for funding news.' });
    const context = handlerContext();

    const saved = await commitDecision(p.uow, await research(p).handle(event, context));

    expect(saved).toBe(true);
    expect(p.research.calls).toEqual([
      { lead: { email: 'ada@example.com', company: 'Acme', canonical: { email: 'ada@example.com', company: 'Acme' } }, prompt: 'Look for funding news.' },
    ]);
    expect(p.store.lead(event.lead_id)).toMatchObject({
      status: 'researched',
      research: 'Acme opened a new factory in Lyon in 2025 and hired 200 engineers.',
      researchModel: 'fake/research-1',
      attempts: 1,
      costUsd: RESEARCH_COST,
    });
    expect(p.outbox.events()).toEqual([{ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id }]);
    expect(logged(context.log, 'lead researched', 'info')[0]?.fields).toMatchObject({ model: 'fake/research-1', citations: 1 });
  });

  it('sends no prompt when the run has none', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    await commitDecision(p.uow, await research(p).handle(event, handlerContext()));
    expect(p.research.calls[0]).not.toHaveProperty('prompt');
  });

  it('calls nobody for a lead that is past research, or that now belongs to another run', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    await commitDecision(p.uow, await research(p).handle(event, handlerContext()));
    expect(p.research.calls).toHaveLength(1);

    // A redelivery, a replay, a lead failed meanwhile: nothing to do, nothing paid.
    expect(await research(p).handle(event, handlerContext())).toBeNull();
    await p.uow.commit(p.store.saveFailed(event.lead_id, event.run_id, 'x'));
    expect(await research(p).handle(event, handlerContext())).toBeNull();
    expect(await research(p).handle({ ...event, run_id: crypto.randomUUID() }, handlerContext())).toBeNull();
    expect(await research(p).handle({ ...event, lead_id: crypto.randomUUID() }, handlerContext())).toBeNull();
    expect(p.research.calls).toHaveLength(1);
    expect(p.outbox.events()).toEqual([{ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id }]);
  });

  it('makes no call for a copy that finds a live claim: a first delivery is dropped, a redelivery comes back when the claim would lapse', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const copies: unknown[] = [];
    // While this delivery's call runs, copies of the event arrive: a re-publish, and a redelivery.
    p.research.answerNext(async () => {
      copies.push(await research(p).handle(event, handlerContext()));
      copies.push(await research(p).handle(event, handlerContext({ deliveryCount: 2 })).catch((error: unknown) => error));
      return { text: 'Acme opened a new factory in Lyon.', citations: [], model: 'fake/research-1', usage: { inputTokens: 4_000, outputTokens: 600 } };
    });

    expect(await commitDecision(p.uow, await research(p).handle(event, handlerContext()))).toBe(true);

    expect(p.research.calls).toHaveLength(1);
    expect(copies[0]).toBeNull();
    expect(copies[1]).toBeInstanceOf(RetryLater);
    // The claim's lease is research's ack wait (120 s), plus a second.
    expect((copies[1] as RetryLater).retryAfterMs).toBe(121_000);
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, expiresAt: null, callsStarted: 1 });
    expect(p.outbox.events()).toEqual([{ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id }]);
    // The redelivery, back later, finds the result saved: still no call.
    expect(await research(p).handle(event, handlerContext({ deliveryCount: 2 }))).toBeNull();
    expect(p.research.calls).toHaveLength(1);
  });

  it('renews its claim while the call runs, so a long call keeps it past the lease', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const leaseMs = 30;
    let copy: unknown;
    p.research.answerNext(async () => {
      // Past two thirds of the lease, then past the lease from the claim: live only if renewed meanwhile.
      p.clock.advance(20);
      await new Promise((resolve) => setTimeout(resolve, 40));
      p.clock.advance(20);
      copy = await research(p).handle(event, handlerContext());
      return { text: 'Acme opened a new factory in Lyon.', citations: [], model: 'fake/research-1' };
    });

    expect(await commitDecision(p.uow, await research(p).handle(event, handlerContext({ ackWaitMs: leaseMs })))).toBe(true);
    expect(copy).toBeNull();
    expect(p.research.calls).toHaveLength(1);
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 1 });
  });

  it('takes over a claim that lapsed (its holder died): the late save only records its cost, and two calls are counted', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    // The holder's call outlives its lease without renewal (a process frozen, then back).
    p.research.answerNext(async () => {
      p.clock.advance(121_000);
      await commitDecision(p.uow, await research(p).handle(event, handlerContext({ deliveryCount: 2 })));
      return { text: 'a slower answer', citations: [], model: 'fake/research-1', usage: { inputTokens: 4_000, outputTokens: 600 } };
    });

    const saved = await commitDecision(p.uow, await research(p).handle(event, handlerContext()));

    expect(saved).toBe(false);
    expect(p.research.calls).toHaveLength(2);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'researched', research: expect.stringContaining('Lyon') as unknown, attempts: 1, costUsd: '0.019200' });
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 2 });
    expect(p.outbox.events()).toEqual([{ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id }]);
  });

  it('makes no call for a lead whose run has ended: the lead fails with the reason, uncounted, exactly once', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const other = await pendingLead(p);
    // The run ends while the lead's event waits (a failed run here; a cancelled one alike).
    p.store.endRun(event.run_id, 'failed');

    const decision = await research(p).handle(event, handlerContext());
    expect(await commitDecision(p.uow, decision)).toBe(true);

    expect(p.research.calls).toEqual([]);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'failed', error: RUN_ENDED_REASON, attempts: 0, costUsd: '0.000000' });
    expect(p.outbox.events()).toEqual([{ type: 'lead.failed', run_id: event.run_id, lead_id: event.lead_id }]);
    // Not counted: neither the run's counters nor the KPIs take a lead of an ended run.
    expect(await p.uow.commit(p.store.countOutcome(event.lead_id, event.run_id, DEFAULT_KPI_RATES))).toBe(false);
    expect(p.store.run(event.run_id)).toMatchObject({ processed: 0, failed: 0 });
    // A copy finds it settled: nothing more.
    expect(await research(p).handle(event, handlerContext({ deliveryCount: 2 }))).toBeNull();
    // Another run's lead is researched as usual.
    await commitDecision(p.uow, await research(p).handle(other, handlerContext()));
    expect(p.research.calls).toHaveLength(1);
  });

  it('makes no call for a lead its owner suppressed while the run was in progress: it ends suppressed, counted, and the run completes', async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const { run, pending } = await personalizingRun(p, ['ada@example.com', 'bob@acme.io'], { userId });
    const [ada, bob] = pending as [string, string];
    p.outbox.clear();
    p.store.addSuppression(userId, 'example.com');
    const context = handlerContext();

    expect(await commitDecision(p.uow, await research(p).handle({ type: 'lead.extracted', run_id: run.runId, lead_id: ada }, context))).toBeNull();

    expect(p.research.calls).toEqual([]);
    expect(p.store.claim(ada, run.runId, 'research')).toBeUndefined();
    expect(p.store.lead(ada)).toMatchObject({
      status: 'suppressed',
      error: "Suppressed: the email's domain example.com is on your suppression list.",
      countedRunId: run.runId,
      attempts: 0,
      costUsd: '0.000000',
    });
    expect(p.store.run(run.runId)).toMatchObject({ status: 'personalizing', suppressed: 1, processed: 0 });
    expect(logged(context.log, 'lead suppressed before its research: no call made', 'info')[0]?.fields).toEqual({ suppressed_by: 'email_domain' });
    expect(p.notifier.notified).toContain(run.runId);

    // A redelivery finds it settled; the other lead goes on, and its end ends the run.
    expect(await research(p).handle({ type: 'lead.extracted', run_id: run.runId, lead_id: ada }, handlerContext())).toBeNull();
    expect(await commitDecision(p.uow, await research(p).handle({ type: 'lead.extracted', run_id: run.runId, lead_id: bob }, handlerContext()))).toBe(true);
    expect(p.research.calls).toHaveLength(1);
    await p.uow.commit(p.store.saveFailed(bob, run.runId, 'x'));
    await p.uow.commit(p.store.countOutcome(bob, run.runId, DEFAULT_KPI_RATES));
    const completion = await p.uow.commit(p.store.completeIfSettled(run.runId));
    expect(completion?.outcome).toEqual({ status: 'failed', errorMessage: 'No lead could be personalized (1 failed).' });
    expect(p.store.run(run.runId)).toMatchObject({ suppressed: 1, processed: 1, failed: 1 });
  });

  it('ends the run when the lead it suppresses was its last', async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const { run, pending } = await personalizingRun(p, ['ada@example.com'], { userId });
    p.outbox.clear();
    p.store.addSuppression(userId, 'ada@example.com');

    await commitDecision(p.uow, await research(p).handle({ type: 'lead.extracted', run_id: run.runId, lead_id: pending[0]! }, handlerContext()));

    expect(p.research.calls).toEqual([]);
    expect(p.store.run(run.runId)).toMatchObject({ status: 'completed', suppressed: 1, errorMessage: expect.stringContaining('1 lead is suppressed') as unknown });
    expect(p.outbox.events('run.completed')).toHaveLength(1);
  });

  it("does not suppress a lead of a run that has ended: it fails with the run's reason", async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const { run, pending } = await personalizingRun(p, ['ada@example.com'], { userId });
    p.store.addSuppression(userId, 'ada@example.com');
    p.store.endRun(run.runId, 'failed');

    await commitDecision(p.uow, await research(p).handle({ type: 'lead.extracted', run_id: run.runId, lead_id: pending[0]! }, handlerContext()));

    expect(p.store.lead(pending[0]!)).toMatchObject({ status: 'failed', error: RUN_ENDED_REASON });
    expect(p.research.calls).toEqual([]);
  });

  it('makes no call for a lead whose run is paused: the message is acked, the lead left pending, nothing counted or claimed', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    p.store.endRun(event.run_id, 'paused');
    const context = handlerContext();

    expect(await research(p).handle(event, context)).toBeNull();

    expect(p.research.calls).toEqual([]);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'pending', attempts: 0, countedRunId: null });
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toBeUndefined();
    expect(p.outbox.events()).toEqual([]);
    expect(logged(context.log, "the run is paused: no research call; the lead waits for the run's resume", 'info')).toHaveLength(1);
  });

  it('cancels (and counts once) a lead whose run was cancelled, with no call, and ends the run once nothing is in flight', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    p.store.endRun(event.run_id, 'cancelled');

    const completion = await commitDecision(p.uow, await research(p).handle(event, handlerContext()));

    expect(p.research.calls).toEqual([]);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'cancelled', error: RUN_CANCELLED_REASON, attempts: 0, costUsd: '0.000000', countedRunId: event.run_id });
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'cancelled', cancelled: 1, processed: 0, failed: 0, costUsd: '0.000000' });
    expect(p.store.run(event.run_id)?.completedAt).not.toBeNull();
    expect(completion).toMatchObject({ runId: event.run_id, outcome: { status: 'cancelled', errorMessage: null } });
    expect(p.outbox.events()).toEqual([expect.objectContaining({ type: 'run.completed', run_id: event.run_id, status: 'cancelled' })]);
    expect(p.store.metrics(p.store.run(event.run_id)!.userId).leadsPersonalized).toBe(0);
    // A copy finds it settled and counted: nothing more.
    expect(await research(p).handle(event, handlerContext({ deliveryCount: 2 }))).toBeNull();
    expect(p.store.run(event.run_id)).toMatchObject({ cancelled: 1 });
  });

  it('sends nothing when the run is cancelled between the claim and the call: the claim is given back uncounted and the lead cancelled', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    // The cancel commits while the claimed call waits for its turn (the limiter): its last check refuses it.
    const waiting = pipelinePorts(p, {
      research: {
        research: (input, signal, options) => {
          p.store.endRun(event.run_id, 'cancelled');
          return p.research.research(input, signal, options);
        },
      },
    });

    const completion = await commitDecision(p.uow, await new ResearchLead(waiting).handle(event, handlerContext()));

    expect(p.research.calls).toEqual([]);
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 0 });
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'cancelled', attempts: 0, countedRunId: event.run_id });
    expect(completion).toMatchObject({ outcome: { status: 'cancelled' } });
  });

  it('sends nothing when the run cannot be read right before the call: the store error goes to the retry, nothing counted', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const down = new Error('connection refused');
    const leadWork = new Proxy(p.store, {
      get(target, property) {
        if (property === 'runStatusForCall') return () => Promise.reject(down);
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });

    await expect(new ResearchLead(pipelinePorts(p, { leadWork })).handle(event, handlerContext())).rejects.toBe(down);

    expect(p.research.calls).toEqual([]);
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 0 });
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('keeps the result of a call in flight when its run is paused: saved, and carried on by the resume', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    p.research.answerNext((input) => {
      p.store.endRun(event.run_id, 'paused');
      return { ...researchAbout(input.lead) };
    });

    expect(await commitDecision(p.uow, await research(p).handle(event, handlerContext()))).toBe(true);

    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'researched', attempts: 1, costUsd: RESEARCH_COST });
    expect(p.outbox.events()).toEqual([{ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id }]);
  });

  describe("research once per company: the company's call takes the same last check", () => {
    /** A research cache that grants every company's call and records its releases (the real one is tested on PostgreSQL). */
    function grantingCache() {
      const released: string[] = [];
      const saved: string[] = [];
      const cache: ResearchCache = {
        claim: () => fakeChange('claimCompanyResearch', () => ({ kind: 'claimed' as const })),
        renew: () => fakeChange('renewCompanyResearch', () => true),
        release: (claim) => fakeChange('releaseCompanyResearch', () => void released.push(claim.owner)),
        saveResearch: (lead) => fakeChange('saveCompanyResearch', () => saved.push(lead.leadId) > 0),
        useCached: () => fakeChange('useCachedResearch', () => true),
      };
      return { cache, released, saved };
    }

    /** The research consumer with the cache on, its call stopped by `status` committed while it waited for its turn. */
    function stoppedWhileWaiting(p: InMemoryPipeline, event: LeadExtracted, status: 'cancelled' | 'paused', cache: ResearchCache) {
      return new ResearchLead(
        pipelinePorts(p, {
          researchCache: cache,
          researchCacheTtlMs: 60_000,
          research: {
            research: (input, signal, options) => {
              p.store.endRun(event.run_id, status);
              return p.research.research(input, signal, options);
            },
          },
        }),
      );
    }

    it('a run cancelled while the call waited sends nothing: the lead is cancelled and the company\'s claim given back at once', async () => {
      const p = inMemoryPipeline();
      const event = await pendingLead(p);
      const { cache, released, saved } = grantingCache();

      const completion = await commitDecision(p.uow, await stoppedWhileWaiting(p, event, 'cancelled', cache).handle(event, handlerContext()));

      expect(p.research.calls).toEqual([]);
      expect(released).toHaveLength(1);
      expect(saved).toEqual([]);
      expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 0 });
      expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'cancelled', attempts: 0, countedRunId: event.run_id });
      expect(completion).toMatchObject({ outcome: { status: 'cancelled' } });
    });

    it("a run paused while the call waited sends nothing: the lead waits for the resume and the company's claim is given back", async () => {
      const p = inMemoryPipeline();
      const event = await pendingLead(p);
      const { cache, released, saved } = grantingCache();

      expect(await stoppedWhileWaiting(p, event, 'paused', cache).handle(event, handlerContext())).toBeNull();

      expect(p.research.calls).toEqual([]);
      expect(released).toHaveLength(1);
      expect(saved).toEqual([]);
      expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 0 });
      expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'pending', attempts: 0, countedRunId: null });
      expect(p.outbox.events()).toEqual([]);
    });

    it('checks the suppression list before the company is claimed: a suppressed lead claims nothing', async () => {
      const p = inMemoryPipeline();
      const userId = crypto.randomUUID();
      const event = await pendingLead(p, { userId });
      p.store.addSuppression(userId, 'ada@example.com');
      const claims: string[] = [];
      const { cache } = grantingCache();
      const watched: ResearchCache = { ...cache, claim: (claim, context) => (claims.push(claim.owner), cache.claim(claim, context)) };

      await commitDecision(p.uow, await stoppedWhileWaiting(p, event, 'cancelled', watched).handle(event, handlerContext()));

      expect(claims).toEqual([]);
      expect(p.research.calls).toEqual([]);
      expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'suppressed' });
    });
  });

  it('counts a failed call as an attempt and lets the failure through, leaving the lead pending', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const failure = new OutsideApiError('research', 'unavailable', 'research API unavailable (HTTP 503)', { status: 503 });
    p.research.answerNext(failure, failure);
    await expect(research(p).handle(event, handlerContext())).rejects.toBe(failure);
    await expect(research(p).handle(event, handlerContext({ deliveryCount: 2 }))).rejects.toBe(failure);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'pending', attempts: 2, costUsd: '0.000000' });
    expect(p.outbox.events()).toEqual([]);

    // The next success counts its own attempt.
    await commitDecision(p.uow, await research(p).handle(event, handlerContext({ deliveryCount: 3 })));
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'researched', attempts: 3 });
    // Each failed call gave its claim back for the retry, and counts as a call started.
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 3 });
  });

  it('counts no attempt when the API pushes back (paused, rate limited, out of credit)', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const pushbacks = [
      new ApiPaused('research', 'out_of_credit', 'research paused: provider out of credit', 30_000),
      new ApiPaused('research', 'unavailable', 'research circuit open', 15_000),
      new OutsideApiError('research', 'rate_limited', 'research API rate limited (HTTP 429)', { retryAfterMs: 2_000, status: 429 }),
      new OutsideApiError('research', 'out_of_credit', 'research API out of credit (HTTP 402)', { status: 402 }),
    ];
    for (const pushback of pushbacks) {
      p.research.answerNext(pushback);
      await expect(research(p).handle(event, handlerContext())).rejects.toBe(pushback);
    }
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'pending', attempts: 0 });
    // Each claim was given back unmade: free for the next delivery, and no call counted as started.
    expect(p.store.claim(event.lead_id, event.run_id, 'research')).toMatchObject({ owner: null, callsStarted: 0 });
  });

  it("keeps the call's error when the attempt cannot be counted (the database is down too)", async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const failure = new OutsideApiError('research', 'malformed', 'research API answered an unexpected shape');
    p.research.answerNext(failure);
    p.uow.failCommits((name) => (name === 'recordAttempt' ? new Error('database down') : undefined));
    await expect(research(p).handle(event, handlerContext())).rejects.toBe(failure);
    expect(p.store.lead(event.lead_id)?.attempts).toBe(0);
  });

  it('giveUp fails the lead once, with the reason, and emits lead.failed', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    const context = handlerContext({ deliveryCount: 6, maxDeliver: 6 });

    expect(await commitDecision(p.uow, await research(p).giveUp(event, 'provider unavailable (HTTP 503)', context))).toBe(true);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'failed', error: 'research failed after 6 attempts: provider unavailable (HTTP 503)' });
    expect(p.outbox.events()).toEqual([{ type: 'lead.failed', run_id: event.run_id, lead_id: event.lead_id }]);
    expect(logged(context.log, 'lead failed in research', 'warn')).toHaveLength(1);

    expect(await commitDecision(p.uow, await research(p).giveUp(event, 'again', handlerContext({ deliveryCount: 1 })))).toBe(false);
    expect(p.store.lead(event.lead_id)?.error).toBe('research failed after 6 attempts: provider unavailable (HTTP 503)');
    expect(p.outbox.events()).toHaveLength(1);
    expect(p.research.calls).toHaveLength(0);
  });

  it('says "1 attempt" for a lead given up on its first delivery', async () => {
    const p = inMemoryPipeline();
    const event = await pendingLead(p);
    await commitDecision(p.uow, await research(p).giveUp(event, 'research API refused the input (HTTP 400)', handlerContext({ deliveryCount: 1 })));
    expect(p.store.lead(event.lead_id)?.error).toBe('research failed after 1 attempt: research API refused the input (HTTP 400)');
  });
});
