/**
 * The in-memory campaign store against the semantics of the PostgreSQL adapters (the same cases as
 * test/integration/store-pipeline.test.ts and store-costs.test.ts, where they apply): the use
 * cases' unit tests are only as good as this double is faithful.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../../domain/campaigns/run.ts';
import type { Draft, Research } from '../../../ports/providers.port.ts';
import { CampaignNameTakenError } from '../../../ports/campaign-store.port.ts';
import { CampaignNotFoundError } from '../../../ports/submission-store.port.ts';
import { fakeChange, inMemoryPipeline, lead, personalizingRun, queuedRun, type InMemoryPipeline } from '../../support/fakes/index.ts';

const RESEARCH: Research = { text: 'Acme builds rockets.', citations: [{ url: 'https://acme.example/about' }], model: 'fake/research', usage: { inputTokens: 12, outputTokens: 34 } };
const DRAFT: Draft = { message: 'Loved the rocket launch.', basis: 'Acme builds rockets.', model: 'fake/writer' };
const LEASE_MS = 5 * 60_000;

function setup() {
  const p = inMemoryPipeline();
  const commit = p.uow.commit.bind(p.uow);
  return { p, commit };
}

async function personalize(p: InMemoryPipeline, leadId: string, runId: string, cost = '0.000000'): Promise<void> {
  expect(await p.uow.commit(p.store.saveResearch(leadId, runId, RESEARCH, cost))).toBe(true);
  expect(await p.uow.commit(p.store.saveDraft(leadId, runId, DRAFT, cost))).toBe(true);
}

describe('FakeUnitOfWork', () => {
  it('commits a change with its events, and neither when the events function throws', async () => {
    const { p, commit } = setup();
    const created = await commit(p.store.createRun({ userId: randomUUID(), campaignName: 'A', demo: false, fileName: 'a.csv' }), (run) => [
      { type: 'campaign.submitted', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId },
    ]);
    expect(p.outbox.events()).toEqual([{ type: 'campaign.submitted', run_id: created.runId, campaign_id: created.campaignId, user_id: created.userId }]);

    const failing = commit(p.store.beginExtraction(created.runId), () => {
      throw new Error('events failed');
    });
    await expect(failing).rejects.toThrow('events failed');
    expect(p.store.run(created.runId)?.status).toBe('queued');
    expect(p.outbox.events()).toHaveLength(1);
    expect(p.uow.commits.map((c) => c.name)).toEqual(['createRun']);
  });

  it('refuses a change no in-memory store made, and fails commits on demand without applying them', async () => {
    const { p, commit } = setup();
    await expect(commit({ name: 'foreign' })).rejects.toThrow(TypeError);
    p.uow.failCommits((name) => (name === 'createRun' ? new Error('database down') : undefined));
    await expect(queuedRun(p)).rejects.toThrow('database down');
    expect(p.store.counts()).toEqual({ campaigns: 0, runs: 0, leads: 0 });
    await expect(p.uow.enqueue([])).resolves.toBeUndefined();
    expect(await commit(fakeChange('plain', () => 42))).toBe(42);
  });
});

describe('createRun', () => {
  it("adds a run to one of the user's campaigns, merging its options, and refuses anyone else's", async () => {
    const { p, commit } = setup();
    const userId = randomUUID();
    const first = await commit(p.store.createRun({ userId, campaignName: 'A', demo: false, fileName: 'a.csv', options: { a: '1', b: '2' } }));
    const second = await commit(p.store.createRun({ userId, campaignId: first.campaignId, demo: true, fileName: 'b.csv', options: { b: '3' }, allowQuestions: true }));
    expect(second.campaignId).toBe(first.campaignId);
    expect(p.store.campaign(first.campaignId)?.options).toEqual({ a: '1', b: '3' });
    expect(p.store.run(second.runId)).toMatchObject({ status: 'queued', demo: true, fileRef: `runs/${second.runId}`, allowQuestions: true });
    for (const campaignId of [first.campaignId, randomUUID(), 'not-a-uuid']) {
      await expect(commit(p.store.createRun({ userId: campaignId === first.campaignId ? randomUUID() : userId, campaignId, demo: false, fileName: 'c.csv' }))).rejects.toBeInstanceOf(CampaignNotFoundError);
    }
    expect(p.store.counts()).toMatchObject({ campaigns: 1, runs: 2 });
  });
});

describe('campaign names and settings', () => {
  it('refuses a new campaign of a name the user has (ignoring case and spaces), naming the one that has it', async () => {
    const { p, commit } = setup();
    const userId = randomUUID();
    const first = await commit(p.store.createRun({ userId, campaignName: 'Q3 Outreach', demo: false, fileName: 'a.csv' }));
    const again = commit(p.store.createRun({ userId, campaignName: ' q3 outreach ', demo: false, fileName: 'b.csv' }));
    await expect(again).rejects.toBeInstanceOf(CampaignNameTakenError);
    await again.catch((error: CampaignNameTakenError) => expect(error.campaignId).toBe(first.campaignId));
    await commit(p.store.createRun({ userId: randomUUID(), campaignName: 'Q3 Outreach', demo: false, fileName: 'c.csv' }));
    expect(p.store.counts()).toMatchObject({ campaigns: 2, runs: 2 });
  });

  it("gives a run the campaign's settings where its submission gives none, and keeps a given one for the next runs", async () => {
    const { p, commit } = setup();
    const userId = randomUUID();
    const first = await commit(p.store.createRun({ userId, campaignName: 'S', demo: false, fileName: 'a.csv', researchPrompt: 'R1', allowQuestions: true }));
    const second = await commit(p.store.createRun({ userId, campaignId: first.campaignId, demo: false, fileName: 'b.csv', personalizationPrompt: 'P2' }));
    const third = await commit(p.store.createRun({ userId, campaignId: first.campaignId, demo: false, fileName: 'c.csv', allowQuestions: false }));
    expect(p.store.run(first.runId)).toMatchObject({ researchPrompt: 'R1', personalizationPrompt: null, allowQuestions: true });
    expect(p.store.run(second.runId)).toMatchObject({ researchPrompt: 'R1', personalizationPrompt: 'P2', allowQuestions: true });
    expect(p.store.run(third.runId)).toMatchObject({ researchPrompt: 'R1', personalizationPrompt: 'P2', allowQuestions: false });
    expect(p.store.campaign(first.campaignId)).toMatchObject({ researchPrompt: 'R1', personalizationPrompt: 'P2', allowQuestions: false });
  });
});

describe('extraction', () => {
  it('begins a queued run, again for a redelivery, and never a run past extraction', async () => {
    const { p, commit } = setup();
    const created = await queuedRun(p);
    const expected = { runId: created.runId, campaignId: created.campaignId, userId: created.userId, demo: false, options: {} };
    expect(await commit(p.store.beginExtraction(created.runId))).toEqual(expected);
    expect(await commit(p.store.beginExtraction(created.runId))).toEqual(expected);
    await commit(p.store.finishExtraction(created.runId, { report: { total_rows: 0, valid: 0, duplicates: 0, rejected: [], columns: [], demo_excluded: 0 }, columns: [], skipped: 0 }));
    expect(await commit(p.store.beginExtraction(created.runId))).toBeNull();
    expect(await commit(p.store.beginExtraction(randomUUID()))).toBeNull();
  });

  it('keeps the progress of leads the run owns when a batch is stored again', async () => {
    const { p, commit } = setup();
    const { run, pending } = await personalizingRun(p, ['one@example.com', 'two@example.com', 'three@example.com']);
    const [researched, personalized] = pending as [string, string, string];
    await commit(p.store.saveResearch(researched, run.runId, RESEARCH, '0.000000'));
    await personalize(p, personalized, run.runId);
    const again = await commit(p.store.storeLeads(run, [lead('one@example.com', 2), lead('two@example.com', 3), lead('three@example.com', 4)]));
    // Announced when first stored (the event committed with it): a redelivery releases none again.
    expect(again).toEqual({ pending: [], skipped: 0, stopped: false });
    expect(p.store.lead(researched)).toMatchObject({ status: 'researched', research: RESEARCH.text, attempts: 1 });
    expect(p.store.leadsOfRun(run.runId)).toHaveLength(3);
  });

  it('skips leads personalized by an earlier run and takes the others over, reset', async () => {
    const { p, commit } = setup();
    const userId = randomUUID();
    const earlier = await personalizingRun(p, ['done@example.com', 'broken@example.com', 'left@example.com'], { userId });
    const [done, broken, left] = earlier.pending as [string, string, string];
    await personalize(p, done, earlier.run.runId, '0.010000');
    await commit(p.store.saveResearch(broken, earlier.run.runId, RESEARCH, '0.005000'));
    await commit(p.store.saveFailed(broken, earlier.run.runId, 'personalization failed'));
    await commit(p.store.countOutcome(done, earlier.run.runId, DEFAULT_KPI_RATES));
    await commit(p.store.countOutcome(broken, earlier.run.runId, DEFAULT_KPI_RATES));

    const created = await queuedRun(p, { userId, campaignId: earlier.run.campaignId });
    const later = (await commit(p.store.beginExtraction(created.runId)))!;
    const batch = [lead('done@example.com', 2), lead('broken@example.com', 3, 'Broken Inc'), lead('new@example.com', 4)];
    const stored = await commit(p.store.storeLeads(later, batch));
    expect(stored.skipped).toBe(1);
    expect(stored.pending).toHaveLength(2);
    expect(stored.pending[0]).toBe(broken);
    expect(await commit(p.store.storeLeads(later, batch))).toEqual({ pending: [], skipped: stored.skipped, stopped: false });
    expect(p.store.lead(done)).toMatchObject({ runId: earlier.run.runId, status: 'personalized', countedRunId: earlier.run.runId });
    expect(p.store.lead(broken)).toMatchObject({ runId: later.runId, status: 'pending', company: 'Broken Inc', research: null, error: null, attempts: 0, costUsd: '0.000000', countedRunId: null, calls: [] });
    expect(p.store.run(earlier.run.runId)?.costUsd).toBe('0.025000'); // 0.01 + 0.01 for the one, 0.005 for the other

    // The earlier run's events for a lead it lost change nothing, and it still ends once its own are counted.
    expect(await p.store.leadWork(broken, earlier.run.runId)).toBeNull();
    expect(await commit(p.store.saveFailed(broken, earlier.run.runId, 'late'))).toBe(false);
    expect(await commit(p.store.completeIfSettled(earlier.run.runId))).toBeNull();
    await commit(p.store.saveFailed(left, earlier.run.runId, 'gave up'));
    await commit(p.store.countOutcome(left, earlier.run.runId, DEFAULT_KPI_RATES));
    expect(await commit(p.store.completeIfSettled(earlier.run.runId))).toMatchObject({ outcome: { status: 'completed', errorMessage: null } });
  });

  it('refuses a batch that repeats an email, storing nothing', async () => {
    const { p, commit } = setup();
    const created = await queuedRun(p);
    const run = (await commit(p.store.beginExtraction(created.runId)))!;
    await expect(commit(p.store.storeLeads(run, [lead('twice@example.com', 2), lead('twice@example.com', 3)]))).rejects.toThrow('repeats an email');
    expect(p.store.counts().leads).toBe(0);
  });

  it('fails a run that has not ended, once, and finishes nothing after', async () => {
    const { p, commit } = setup();
    const created = await queuedRun(p);
    expect(await commit(p.store.failRun(created.runId, 'gone'))).toEqual({ ...created, outcome: { status: 'failed', errorMessage: 'gone' } });
    expect(await commit(p.store.failRun(created.runId, 'again'))).toBeNull();
    await commit(p.store.finishExtraction(created.runId, { report: { total_rows: 1, valid: 1, duplicates: 0, rejected: [], columns: [], demo_excluded: 0 }, columns: [], skipped: 0 }));
    expect(p.store.run(created.runId)).toMatchObject({ status: 'failed', errorMessage: 'gone', valid: 0 });
  });
});

describe('lead transitions and costs', () => {
  it('move pending → researched → personalized once each, guarded by run and status', async () => {
    const { p, commit } = setup();
    const { run, pending } = await personalizingRun(p, ['step@example.com'], { researchPrompt: 'Funding news.' });
    const leadId = pending[0]!;
    expect(await commit(p.store.saveDraft(leadId, run.runId, DRAFT, '0.000000'))).toBe(false);
    expect(await commit(p.store.saveResearch(leadId, randomUUID(), RESEARCH, '0.000000'))).toBe(false);
    expect(await commit(p.store.saveResearch(leadId, run.runId, RESEARCH, '0.000000'))).toBe(true);
    expect(await commit(p.store.saveResearch(leadId, run.runId, { ...RESEARCH, text: 'second' }, '0.000000'))).toBe(false);
    expect(await p.store.leadWork(leadId, run.runId)).toEqual({
      leadId,
      runId: run.runId,
      userId: run.userId,
      status: 'researched',
      lead: { email: 'step@example.com', company: 'Acme', canonical: { email: 'step@example.com', company: 'Acme' } },
      fields: [
        { header: 'Email', value: 'step@example.com' },
        { header: 'Company', value: 'Acme' },
      ],
      research: RESEARCH,
      researchPrompt: 'Funding news.',
      personalizationPrompt: null,
      allowQuestions: false,
      outputs: [],
      sandbox: false,
      rejectedDraft: null,
    });
    expect(await commit(p.store.saveDraft(leadId, run.runId, DRAFT, '0.000000'))).toBe(true);
    expect(await commit(p.store.saveFailed(leadId, run.runId, 'too late'))).toBe(false);
    expect(p.store.lead(leadId)).toMatchObject({ status: 'personalized', message: DRAFT.message, attempts: 2 });
    expect(p.store.lead(leadId)?.settledAt).toBe(p.clock.now());
  });

  it('counts attempts only while a lead is not final', async () => {
    const { p, commit } = setup();
    const { run, pending } = await personalizingRun(p, ['fail@example.com']);
    await commit(p.store.recordAttempt(pending[0]!, run.runId));
    expect(await commit(p.store.saveFailed(pending[0]!, run.runId, 'research failed after 1 attempt'))).toBe(true);
    await commit(p.store.recordAttempt(pending[0]!, run.runId));
    expect(p.store.lead(pending[0]!)).toMatchObject({ status: 'failed', error: 'research failed after 1 attempt', attempts: 1 });
  });

  it('adds the cost of a refused save to the lead, and to its run once the lead is counted', async () => {
    const { p, commit } = setup();
    const { run, pending } = await personalizingRun(p, ['cost@example.com']);
    const leadId = pending[0]!;
    await commit(p.store.saveResearch(leadId, run.runId, RESEARCH, '0.005000'));
    expect(await commit(p.store.saveResearch(leadId, run.runId, RESEARCH, '0.005000'))).toBe(false);
    await commit(p.store.addCost(leadId, run.runId, { stage: 'personalization', model: 'w', costUsd: '0.000300' }));
    await commit(p.store.saveDraft(leadId, run.runId, DRAFT, '0.000400'));
    expect(p.store.lead(leadId)?.costUsd).toBe('0.010700');
    await commit(p.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES));
    expect(p.store.run(run.runId)?.costUsd).toBe('0.010700');
    expect(await commit(p.store.saveDraft(leadId, run.runId, DRAFT, '0.000400'))).toBe(false);
    expect(p.store.run(run.runId)?.costUsd).toBe('0.011100');
    expect(p.store.lead(leadId)?.calls).toHaveLength(5);
    // A lead of another run pays nothing.
    await commit(p.store.addCost(leadId, randomUUID(), { stage: 'research', model: 'r', costUsd: '1.000000' }));
    expect(p.store.lead(leadId)?.costUsd).toBe('0.011100');
  });
});

describe('projection', () => {
  it('counts a final lead once: run, campaign and KPIs, at exact decimals', async () => {
    const { p, commit } = setup();
    const userId = randomUUID();
    const { run, pending } = await personalizingRun(p, Array.from({ length: 30 }, (_, index) => `lead${index}@example.com`), { userId });
    expect(await commit(p.store.countOutcome(pending[0]!, run.runId, DEFAULT_KPI_RATES))).toBe(false); // not final yet
    for (const leadId of pending) {
      await personalize(p, leadId, run.runId);
      expect(await commit(p.store.countOutcome(leadId, run.runId, { hoursPerLead: 0.1, moneyPerLead: 0.7 }))).toBe(true);
      expect(await commit(p.store.countOutcome(leadId, run.runId, { hoursPerLead: 0.1, moneyPerLead: 0.7 }))).toBe(false);
    }
    expect(p.store.run(run.runId)).toMatchObject({ processed: 30, personalized: 30, failed: 0 });
    expect(p.store.campaign(run.campaignId)?.completedCount).toBe(30);
    expect(p.store.metrics(userId)).toMatchObject({ leadsPersonalized: 30, hoursSaved: '3.00', moneySaved: '21.00' });
  });

  it('counts a failed or needs_review lead into its run only, and completes a settled run once, with its outcome', async () => {
    const { p, commit } = setup();
    const userId = randomUUID();
    const { run, pending } = await personalizingRun(p, ['a@example.com', 'b@example.com'], { userId });
    const [a, b] = pending as [string, string];
    await commit(p.store.saveResearch(a, run.runId, RESEARCH, '0.000000'));
    await commit(p.store.saveDraft(a, run.runId, DRAFT, '0.000000', 'needs review: 27 words'));
    await commit(p.store.countOutcome(a, run.runId, DEFAULT_KPI_RATES));
    expect(await commit(p.store.completeIfSettled(run.runId))).toBeNull();
    await commit(p.store.saveFailed(b, run.runId, 'gave up'));
    expect(await commit(p.store.completeIfSettled(run.runId))).toBeNull(); // final, not counted yet
    await commit(p.store.countOutcome(b, run.runId, DEFAULT_KPI_RATES));
    expect(p.store.metrics(userId).leadsPersonalized).toBe(0);
    expect(await commit(p.store.completeIfSettled(run.runId))).toEqual({
      runId: run.runId,
      campaignId: run.campaignId,
      userId,
      outcome: { status: 'completed', errorMessage: '1 lead needs review (1 failed).' },
    });
    expect(await commit(p.store.completeIfSettled(run.runId))).toBeNull();
    expect(p.store.run(run.runId)).toMatchObject({ status: 'completed', processed: 2, needsReview: 1, failed: 1 });
  });

  it('fails a run with no valid lead, and never completes one still extracting', async () => {
    const { p, commit } = setup();
    const empty = await personalizingRun(p, []);
    expect((await commit(p.store.completeIfSettled(empty.run.runId)))?.outcome.status).toBe('failed');
    const created = await queuedRun(p);
    await commit(p.store.beginExtraction(created.runId));
    expect(await commit(p.store.completeIfSettled(created.runId))).toBeNull();
  });
});

describe('reconciler queries on the fake clock', () => {
  it('find queued and extracting runs once they made no progress for the lease, unless an event waits', async () => {
    const { p, commit } = setup();
    const queued = await queuedRun(p);
    const created = await queuedRun(p);
    const extracting = (await commit(p.store.beginExtraction(created.runId)))!;
    expect(await p.store.stalledExtractions({ leaseMs: LEASE_MS }, 100)).toEqual([]);
    p.clock.advance(LEASE_MS + 1);
    expect((await p.store.stalledExtractions({ leaseMs: LEASE_MS }, 100)).map((run) => run.runId)).toEqual([queued.runId, extracting.runId]);
    await commit(p.store.storeLeads(extracting, [lead('progress@example.com', 2)])); // progress
    expect((await p.store.stalledExtractions({ leaseMs: LEASE_MS }, 100)).map((run) => run.runId)).toEqual([queued.runId]);
    await p.uow.enqueue([{ type: 'campaign.submitted', run_id: queued.runId, campaign_id: queued.campaignId, user_id: queued.userId }]);
    expect(await p.store.stalledExtractions({ leaseMs: LEASE_MS }, 100)).toEqual([]);
  });

  it('find the unfinished or uncounted leads of a run that stopped making progress, by status', async () => {
    const { p, commit } = setup();
    const { run, pending } = await personalizingRun(p, ['p@example.com', 'r@example.com', 'f@example.com', 'c@example.com', 't@example.com']);
    const [pendingId, researchedId, failedId, countedId, touchedId] = pending as [string, string, string, string, string];
    await commit(p.store.saveResearch(researchedId, run.runId, RESEARCH, '0.000000'));
    await commit(p.store.saveFailed(failedId, run.runId, 'gave up'));
    await commit(p.store.saveFailed(countedId, run.runId, 'gave up'));
    p.clock.advance(LEASE_MS + 1);
    await commit(p.store.countOutcome(countedId, run.runId, DEFAULT_KPI_RATES)); // the run progressed just now
    expect(await p.store.stalledLeads({ leaseMs: LEASE_MS }, ['pending', 'researched', 'failed'], 100)).toEqual([]);

    p.clock.advance(LEASE_MS + 1);
    await commit(p.store.recordAttempt(touchedId, run.runId)); // being worked on right now
    const stuck = await p.store.stalledLeads({ leaseMs: LEASE_MS }, ['pending', 'researched', 'personalized', 'needs_review', 'failed'], 100);
    expect(stuck).toHaveLength(3);
    expect(stuck).toEqual(
      expect.arrayContaining([
        { leadId: pendingId, runId: run.runId, status: 'pending' },
        { leadId: researchedId, runId: run.runId, status: 'researched' },
        { leadId: failedId, runId: run.runId, status: 'failed' },
      ]),
    );
    expect(await p.store.stalledLeads({ leaseMs: LEASE_MS }, ['researched'], 100)).toEqual([{ leadId: researchedId, runId: run.runId, status: 'researched' }]);
    expect(await p.store.stalledLeads({ leaseMs: LEASE_MS }, [], 100)).toEqual([]);
    expect(await p.store.stalledLeads({ leaseMs: LEASE_MS }, ['pending', 'researched', 'failed'], 2)).toHaveLength(2);
  });

  it('list personalizing runs with every lead counted', async () => {
    const { p, commit } = setup();
    const settled = await personalizingRun(p, ['s@example.com']);
    await commit(p.store.saveFailed(settled.pending[0]!, settled.run.runId, 'x'));
    expect(await p.store.settledRuns(100)).toEqual([]);
    await commit(p.store.countOutcome(settled.pending[0]!, settled.run.runId, DEFAULT_KPI_RATES));
    expect(await p.store.settledRuns(100)).toEqual([settled.run.runId]);
    await commit(p.store.completeIfSettled(settled.run.runId));
    expect(await p.store.settledRuns(100)).toEqual([]);
  });
});
