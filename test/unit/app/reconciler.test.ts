/** The reconciler against the in-memory store on a fake clock, with settable consumer activity and API pauses. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../../domain/campaigns/run.ts';
import { CONSUMERS } from '../../../src/app/consumers/index.ts';
import { leadStages } from '../../../src/app/kernel/assemble.ts';
import { DEFAULT_LEASE_MS, JETSTREAM_DUPLICATE_WINDOW_MS, Reconciler, type ReconcilerDeps } from '../../../src/app/reconciler.ts';
import { FakeConsumerActivity, inMemoryPipeline, logged, personalizingRun, queuedRun, RecordingLog, type InMemoryPipeline } from '../../support/fakes/index.ts';

const RESEARCH = { text: 'Acme builds rockets.', citations: [], model: 'fake/research-1' };

function reconciler(p: InMemoryPipeline, deps: Partial<ReconcilerDeps> = {}) {
  const activity = new FakeConsumerActivity();
  const paused = new Set<string>();
  const log = new RecordingLog();
  const instance = new Reconciler({
    store: p.store,
    projection: p.store,
    uow: p.uow,
    activity,
    stages: leadStages(CONSUMERS),
    isPaused: (api) => Promise.resolve(paused.has(api)),
    log,
    ...deps,
  });
  return { reconciler: instance, activity, paused, log };
}

/** A personalizing run with a pending, a researched, a failed (uncounted) and a counted lead, its events relayed. */
async function runWithEveryStage(p: InMemoryPipeline) {
  const { run, pending } = await personalizingRun(p, ['pending@example.com', 'researched@example.com', 'failed@example.com', 'counted@example.com']);
  const [pendingId, researchedId, failedId, countedId] = pending as [string, string, string, string];
  await p.uow.commit(p.store.saveResearch(researchedId, run.runId, RESEARCH, '0.000000'));
  await p.uow.commit(p.store.saveFailed(failedId, run.runId, 'gave up'));
  await p.uow.commit(p.store.saveFailed(countedId, run.runId, 'gave up'));
  await p.uow.commit(p.store.countOutcome(countedId, run.runId, DEFAULT_KPI_RATES));
  p.outbox.clear(); // the broker took every event (and then lost them)
  return { run, pendingId, researchedId, failedId, countedId };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Reconciler', () => {
  it("refuses a lease that does not exceed the stream's duplicate window", () => {
    const p = inMemoryPipeline();
    expect(() => reconciler(p, { leaseMs: JETSTREAM_DUPLICATE_WINDOW_MS })).toThrow(RangeError);
    expect(() => reconciler(p, { leaseMs: 60_000, duplicateWindowMs: 60_000 })).toThrow(/must exceed the stream's duplicate window/);
    expect(() => reconciler(p, { leaseMs: JETSTREAM_DUPLICATE_WINDOW_MS + 1 })).not.toThrow();
    expect(() => reconciler(p, { leaseMs: 60_000, duplicateWindowMs: 30_000 })).not.toThrow();
  });

  it('leaves work alone while it is within its lease', async () => {
    const p = inMemoryPipeline();
    await runWithEveryStage(p);
    await queuedRun(p);
    p.outbox.clear();
    p.clock.advance(DEFAULT_LEASE_MS - 1);
    const { reconciler: r, log } = reconciler(p);
    expect(await r.runOnce()).toEqual({ runs: 0, leads: 0, completed: 0, brokerReset: false });
    expect(p.outbox.committed()).toEqual([]);
    expect(log.entries).toEqual([]);
  });

  it("leaves a paused run's leads to its resume, and looks after a cancelled run's leads until it has ended", async () => {
    const p = inMemoryPipeline();
    const paused = await runWithEveryStage(p);
    const cancelled = await runWithEveryStage(p);
    p.store.endRun(paused.run.runId, 'paused');
    p.store.endRun(cancelled.run.runId, 'cancelled');
    p.clock.advance(DEFAULT_LEASE_MS + 1);
    const { reconciler: r } = reconciler(p);

    expect(await r.runOnce()).toMatchObject({ leads: 3, completed: 0 });
    expect(new Set(p.outbox.events().map((event) => event.run_id))).toEqual(new Set([cancelled.run.runId]));
  });

  it('re-drives each stalled lead with the event its stored state calls for, once while that event waits', async () => {
    const p = inMemoryPipeline();
    const { run, pendingId, researchedId, failedId } = await runWithEveryStage(p);
    p.clock.advance(DEFAULT_LEASE_MS + 1);
    const { reconciler: r, log } = reconciler(p);

    expect(await r.runOnce()).toEqual({ runs: 0, leads: 3, completed: 0, brokerReset: false });
    expect(p.outbox.events()).toEqual(
      expect.arrayContaining([
        { type: 'lead.extracted', run_id: run.runId, lead_id: pendingId },
        { type: 'lead.researched', run_id: run.runId, lead_id: researchedId },
        { type: 'lead.failed', run_id: run.runId, lead_id: failedId },
      ]),
    );
    expect(p.outbox.events()).toHaveLength(3);
    expect(p.uow.commits.map((commit) => commit.name)).toContain('enqueue');
    expect(logged(log, 're-drove lost work', 'warn')[0]?.fields).toEqual({ runs: 0, leads: 3, completed: 0, brokerReset: false });

    // The re-driven events wait in the outbox: the relay has the run in hand.
    expect(await r.runOnce()).toEqual({ runs: 0, leads: 0, completed: 0, brokerReset: false });
  });

  it('re-drives a stage only while its consumers are idle and its API is not paused', async () => {
    const p = inMemoryPipeline();
    const { run, failedId, researchedId } = await runWithEveryStage(p);
    p.clock.advance(DEFAULT_LEASE_MS + 1);
    const { reconciler: r, activity, paused } = reconciler(p);
    activity.setBusy('lead.extracted'); // a lead queued behind a backlog is waiting, not lost
    paused.add('personalization'); // its leads wait for the API

    expect(await r.runOnce()).toMatchObject({ leads: 1 });
    expect(p.outbox.events()).toEqual([{ type: 'lead.failed', run_id: run.runId, lead_id: failedId }]);
    expect(activity.asked).toEqual(expect.arrayContaining(['campaign.submitted', 'lead.extracted', 'lead.researched', 'lead.failed']));

    p.outbox.clear();
    paused.delete('personalization');
    expect(await r.runOnce()).toMatchObject({ leads: 2 });
    expect(p.outbox.events().map((event) => event.type).sort()).toEqual(['lead.failed', 'lead.researched']);
    expect(p.outbox.events('lead.researched')).toEqual([{ type: 'lead.researched', run_id: run.runId, lead_id: researchedId }]);
  });

  it('leaves alone a lead touched within the lease, and every lead of a run that moved', async () => {
    const p = inMemoryPipeline();
    const { run, pendingId } = await runWithEveryStage(p);
    p.clock.advance(DEFAULT_LEASE_MS + 1);
    await p.uow.commit(p.store.recordAttempt(pendingId, run.runId)); // a failed attempt just now: being worked on
    expect(await reconciler(p).reconciler.runOnce()).toMatchObject({ leads: 2 });
    expect(p.outbox.events().map((event) => ('lead_id' in event ? event.lead_id : null))).not.toContain(pendingId);

    const moving = inMemoryPipeline();
    const other = await runWithEveryStage(moving);
    moving.clock.advance(DEFAULT_LEASE_MS + 1);
    await moving.uow.commit(moving.store.countOutcome(other.failedId, other.run.runId, DEFAULT_KPI_RATES)); // the run moved just now
    moving.outbox.clear();
    expect(await reconciler(moving).reconciler.runOnce()).toMatchObject({ leads: 0 });
  });

  it('re-drives a stalled extraction while the extraction consumers are idle', async () => {
    const p = inMemoryPipeline();
    const queued = await queuedRun(p);
    const extracting = await queuedRun(p);
    await p.uow.commit(p.store.beginExtraction(extracting.runId));
    p.outbox.clear();
    p.clock.advance(DEFAULT_LEASE_MS + 1);
    const { reconciler: r, activity } = reconciler(p);

    activity.setBusy('campaign.submitted');
    expect(await r.runOnce()).toMatchObject({ runs: 0 });
    expect(p.outbox.events()).toEqual([]);

    activity.setBusy('campaign.submitted', false);
    expect(await r.runOnce()).toMatchObject({ runs: 2 });
    expect(p.outbox.events()).toEqual([
      { type: 'campaign.submitted', run_id: queued.runId, campaign_id: queued.campaignId, user_id: queued.userId },
      { type: 'campaign.submitted', run_id: extracting.runId, campaign_id: extracting.campaignId, user_id: extracting.userId },
    ]);
    expect(await r.runOnce()).toMatchObject({ runs: 0 }); // waiting in the outbox
  });

  it('ends the runs whose leads are all counted, once, with their run.completed event', async () => {
    const p = inMemoryPipeline();
    const { run, pending } = await personalizingRun(p, ['a@example.com']);
    await p.uow.commit(p.store.saveFailed(pending[0]!, run.runId, 'gave up'));
    await p.uow.commit(p.store.countOutcome(pending[0]!, run.runId, DEFAULT_KPI_RATES)); // and the projection's completion was lost
    const open = await personalizingRun(p, ['b@example.com']);
    p.outbox.clear();
    const { reconciler: r } = reconciler(p);

    expect(await r.runOnce()).toEqual({ runs: 0, leads: 0, completed: 1, brokerReset: false });
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId, status: 'failed' }]);
    expect(p.store.run(run.runId)?.status).toBe('failed');
    expect(p.store.run(open.run.runId)?.status).toBe('personalizing');
    expect(await r.runOnce()).toEqual({ runs: 0, leads: 0, completed: 0, brokerReset: false });
  });

  it('runs a pass every interval until stopped, and logs a failed pass', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const p = inMemoryPipeline();
    const { reconciler: r, activity, log } = reconciler(p);
    r.start(30_000);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(activity.asked.filter((type) => type === 'campaign.submitted')).toHaveLength(1);

    const failing = vi.spyOn(p.store, 'settledRuns').mockRejectedValueOnce(new Error('database down'));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(failing).toHaveBeenCalledTimes(1);
    expect(logged(log, 'reconciler pass failed', 'error')).toHaveLength(1);

    await r.stop();
    await vi.advanceTimersByTimeAsync(90_000);
    expect(activity.asked.filter((type) => type === 'campaign.submitted')).toHaveLength(2);
  });

  it('re-drives every unfinished run and lead at once when the broker lost its stream, whatever the lease, the outbox or the pauses say', async () => {
    const p = inMemoryPipeline();
    const { run, pendingId, researchedId, failedId } = await runWithEveryStage(p);
    const queued = await queuedRun(p);
    const { reconciler: r, activity, paused } = reconciler(p);
    // Within the lease, consumers busy, an API paused, an event of the run still in the outbox.
    activity.setBusy('lead.extracted');
    paused.add('research');
    await p.uow.enqueue([{ type: 'lead.researched', run_id: run.runId, lead_id: researchedId }]);
    expect(await r.runOnce()).toEqual({ runs: 0, leads: 0, completed: 0, brokerReset: false }); // the first identity seen is recorded

    // The researched lead's own event still waits in the outbox: never published, so not lost.
    activity.recreateStream();
    expect(await r.runOnce()).toEqual({ runs: 1, leads: 2, completed: 0, brokerReset: true });
    expect(p.outbox.events('campaign.submitted').map((event) => event.run_id)).toEqual([queued.runId]);
    const redriven = p.outbox.rows().filter((row) => row.msgId.includes('@'));
    expect(redriven.filter((row) => row.event.type !== 'campaign.submitted').map((row) => ('lead_id' in row.event ? row.event.lead_id : undefined)).sort()).toEqual(
      [pendingId, failedId].sort(),
    );
    expect(p.outbox.events('lead.researched').map((event) => ('lead_id' in event ? event.lead_id : undefined))).toEqual([researchedId]);
    // Under ids of their own: the new stream may have dropped their usual ids already, and would again.
    expect(redriven).toHaveLength(3);
    expect(redriven.every((row) => row.msgId.endsWith(`@${new Date(Date.UTC(2025, 0, 2)).toISOString()}`))).toBe(true);
    // Done once: the new identity is recorded.
    p.outbox.clear();
    expect((await r.runOnce()).brokerReset).toBe(false);
  });

  it('acts on a stream created anew only once it is old enough for every relay to have seen its consumers gone', async () => {
    const p = inMemoryPipeline();
    await runWithEveryStage(p);
    const { reconciler: r, activity } = reconciler(p, { now: () => p.clock.now(), settleMs: 5_000 });
    await r.runOnce();
    activity.loseStream();
    expect((await r.runOnce()).brokerReset).toBe(false); // missing: nothing to act on yet
    activity.recreateStream(p.clock.now());
    p.clock.advance(4_999);
    expect((await r.runOnce()).brokerReset).toBe(false);
    p.clock.advance(1);
    expect(await r.runOnce()).toMatchObject({ leads: 3, brokerReset: true });
  });

  it("re-drives all of a run's stalled leads in one pass, page by page", async () => {
    const p = inMemoryPipeline();
    const emails = Array.from({ length: 7 }, (_, index) => `lead${index}@example.com`);
    await personalizingRun(p, emails);
    p.outbox.clear();
    p.clock.advance(DEFAULT_LEASE_MS + 1);
    const { reconciler: r } = reconciler(p, { batch: 3 });
    expect(await r.runOnce()).toMatchObject({ leads: 7 });
    expect(p.outbox.events('lead.extracted')).toHaveLength(7);
  });
});
