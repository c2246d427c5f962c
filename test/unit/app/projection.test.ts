/** KPI projection (`lead.personalized`, `lead.needs_review`, `lead.failed`) against the in-memory doubles. */
import { describe, expect, it } from 'vitest';
import type { LeadSettled } from '../../../domain/campaigns/events.ts';
import { RUN_ENDED_REASON } from '../../../domain/campaigns/run.ts';
import { ProjectOutcome } from '../../../src/app/consumers/projection.ts';
import { commitDecision, handlerContext, inMemoryPipeline, logged, personalizingRun, pipelinePorts, type InMemoryPipeline } from '../../support/fakes/index.ts';

const RESEARCH = { text: 'Acme builds rockets.', citations: [], model: 'fake/research-1' };
const DRAFT = { message: 'Loved the rocket launch.', basis: 'Acme builds rockets.', model: 'fake/writer-1' };

async function run(p: InMemoryPipeline, emails: readonly string[], userId = crypto.randomUUID()) {
  const created = await personalizingRun(p, emails, { userId });
  p.outbox.clear();
  return created;
}

async function personalize(p: InMemoryPipeline, leadId: string, runId: string, cost = '0.010000'): Promise<LeadSettled> {
  await p.uow.commit(p.store.saveResearch(leadId, runId, RESEARCH, cost));
  await p.uow.commit(p.store.saveDraft(leadId, runId, DRAFT, cost));
  return { type: 'lead.personalized', run_id: runId, lead_id: leadId };
}

function projection(p: InMemoryPipeline) {
  return new ProjectOutcome(pipelinePorts(p, { kpiRates: { hoursPerLead: 0.25, moneyPerLead: 1.5 } }));
}

describe('ProjectOutcome', () => {
  it("counts a personalized lead once into its run, campaign and owner's KPIs, and notifies the run", async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const { run: r, pending } = await run(p, ['a@example.com', 'b@example.com'], userId);
    const event = await personalize(p, pending[0]!, r.runId);

    await commitDecision(p.uow, await projection(p).handle(event, handlerContext()));
    const context = handlerContext({ deliveryCount: 2 });
    await commitDecision(p.uow, await projection(p).handle(event, context)); // redelivered

    expect(p.store.run(r.runId)).toMatchObject({ status: 'personalizing', processed: 1, personalized: 1, costUsd: '0.020000' });
    expect(p.store.campaign(r.campaignId)?.completedCount).toBe(1);
    expect(p.store.metrics(userId)).toMatchObject({ leadsPersonalized: 1, hoursSaved: '0.25', moneySaved: '1.50' });
    expect(p.notifier.notified).toEqual([r.runId]);
    expect(logged(context.log, 'already counted', 'debug')).toHaveLength(1);
    expect(p.outbox.events()).toEqual([]); // the other lead is still open
  });

  it('counts no lead of a run that has ended: not the ones it left failed, not one a slow call personalized after', async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const { run: r, pending } = await run(p, ['a@example.com', 'b@example.com', 'c@example.com'], userId);
    const [settledBefore, inFlight, left] = pending as [string, string, string];
    const counted = await personalize(p, settledBefore, r.runId);
    await commitDecision(p.uow, await projection(p).handle(counted, handlerContext()));
    await p.uow.commit(p.store.saveResearch(inFlight, r.runId, RESEARCH, '0.010000'));

    // The run ends (a cancellation, say) with one lead in flight and one never started.
    p.store.endRun(r.runId, 'failed');
    await p.uow.commit(p.store.saveDraft(inFlight, r.runId, DRAFT, '0.010000'));
    await p.uow.commit(p.store.saveFailed(left, r.runId, RUN_ENDED_REASON));
    for (const [leadId, type] of [[inFlight, 'lead.personalized'], [left, 'lead.failed']] as const) {
      expect(await commitDecision(p.uow, await projection(p).handle({ type, run_id: r.runId, lead_id: leadId }, handlerContext()))).toBeNull();
    }

    expect(p.store.run(r.runId)).toMatchObject({ status: 'failed', processed: 1, personalized: 1, failed: 0 });
    expect(p.store.metrics(userId)).toMatchObject({ leadsPersonalized: 1 });
    expect(p.store.campaign(r.campaignId)?.completedCount).toBe(1);
    expect(p.outbox.events()).toEqual([]);
  });

  it('counts the stored status, whatever the event says, and only a final lead', async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const { run: r, pending } = await run(p, ['a@example.com', 'b@example.com'], userId);
    const [a, b] = pending as [string, string];
    await p.uow.commit(p.store.saveFailed(a, r.runId, 'gave up'));
    // A lead.personalized event for a failed lead counts it as failed; a still-pending lead is not counted.
    await commitDecision(p.uow, await projection(p).handle({ type: 'lead.personalized', run_id: r.runId, lead_id: a }, handlerContext()));
    await commitDecision(p.uow, await projection(p).handle({ type: 'lead.failed', run_id: r.runId, lead_id: b }, handlerContext()));
    expect(p.store.run(r.runId)).toMatchObject({ processed: 1, personalized: 0, failed: 1 });
    expect(p.store.metrics(userId).leadsPersonalized).toBe(0);
    expect(p.notifier.count(r.runId)).toBe(1);
  });

  it('ends the run with the count of its last lead, once, with a run.completed event, and notifies again', async () => {
    const p = inMemoryPipeline();
    const { run: r, pending } = await run(p, ['a@example.com', 'b@example.com']);
    const [a, b] = pending as [string, string];
    const first = await personalize(p, a, r.runId);
    await p.uow.commit(p.store.saveResearch(b, r.runId, RESEARCH, '0.000000'));
    await p.uow.commit(p.store.saveDraft(b, r.runId, DRAFT, '0.000000', 'needs review: 27 words (at most 25)'));
    const last: LeadSettled = { type: 'lead.needs_review', run_id: r.runId, lead_id: b };

    expect(await commitDecision(p.uow, await projection(p).handle(first, handlerContext()))).toBeNull();
    const context = handlerContext();
    const completion = await commitDecision(p.uow, await projection(p).handle(last, context));

    expect(completion).toEqual({ runId: r.runId, campaignId: r.campaignId, userId: r.userId, outcome: { status: 'completed', errorMessage: null } });
    expect(p.store.run(r.runId)).toMatchObject({ status: 'completed', processed: 2, personalized: 1, needsReview: 1 });
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: r.runId, campaign_id: r.campaignId, user_id: r.userId, status: 'completed' }]);
    expect(logged(context.log, 'run settled', 'info')[0]?.fields).toEqual({ status: 'completed' });
    // Counted (notify), then ended (notify again).
    expect(p.notifier.notified).toEqual([r.runId, r.runId, r.runId]);

    // Replays of either event change nothing and complete nothing twice.
    for (const event of [first, last]) await commitDecision(p.uow, await projection(p).handle(event, handlerContext()));
    expect(p.outbox.events('run.completed')).toHaveLength(1);
    expect(p.notifier.notified).toHaveLength(3);
  });

  it('ends a run where nothing was personalized as failed', async () => {
    const p = inMemoryPipeline();
    const { run: r, pending } = await run(p, ['a@example.com']);
    await p.uow.commit(p.store.saveFailed(pending[0]!, r.runId, 'gave up'));
    await commitDecision(p.uow, await projection(p).handle({ type: 'lead.failed', run_id: r.runId, lead_id: pending[0]! }, handlerContext()));
    expect(p.store.run(r.runId)).toMatchObject({ status: 'failed', errorMessage: 'No lead could be personalized (1 failed).' });
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: r.runId, campaign_id: r.campaignId, user_id: r.userId, status: 'failed' }]);
  });

  it('still ends the run when the delivery that counted its last lead crashed before the completion', async () => {
    const p = inMemoryPipeline();
    const { run: r, pending } = await run(p, ['a@example.com']);
    const event = await personalize(p, pending[0]!, r.runId);
    p.uow.failCommits((name) => (name === 'completeIfSettled' ? new Error('connection lost') : undefined));
    await expect(commitDecision(p.uow, await projection(p).handle(event, handlerContext()))).rejects.toThrow('connection lost');
    p.uow.failCommits(undefined);
    expect(p.store.run(r.runId)).toMatchObject({ status: 'personalizing', processed: 1 });

    await commitDecision(p.uow, await projection(p).handle(event, handlerContext({ deliveryCount: 2 })));
    expect(p.store.run(r.runId)).toMatchObject({ status: 'completed', processed: 1 });
    expect(p.outbox.events('run.completed')).toHaveLength(1);
  });
});
