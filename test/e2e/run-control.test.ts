/**
 * Cancel, pause and resume end to end (issue 10, item 2), on the whole system: the HTTP edge, the
 * consumers on a real JetStream stream, PostgreSQL, and the sandbox provider over real HTTP, slow
 * enough (a few hundred milliseconds a call) that a run of many leads has calls in flight when its
 * owner acts.
 *
 * The provider's calls are counted where they arrive (the sandbox counts each request before it
 * reads it). "No provider call after the answer": the count read the moment the 200 arrives does
 * not move afterwards, however long the test waits. A cancelled run's leads not started end
 * `cancelled`, the calls in flight finish and their results are kept, and every lead is counted
 * once (valid = processed + cancelled). A paused run makes no call until resumed, then completes
 * with every lead processed once and no paid call made twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxFaults } from '../../adapters/sandbox/faults.ts';
import type { SandboxInterceptor } from '../../adapters/sandbox/server.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { eventually } from '../support/nats.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

/** Median latency of a provider call: long enough to catch calls in flight, short enough for a quick test. */
const LATENCY_MS = 300;
/** How long the test watches for calls after an answer: many calls' worth at the system's concurrency. */
const WATCH_MS = 2_000;

interface Status {
  status: string;
  valid: number;
  skipped: number;
  processed: number;
  personalized: number;
  needs_review: number;
  failed: number;
  cancelled: number;
  cost_usd: number;
  completed_at: string | null;
  cancelled_at: string | null;
  paused_at: string | null;
  notices: { code: string; api: string | null; message: string }[];
}

describe('run control end to end', () => {
  // Calls that reached the model (past the sandbox's front door) and calls it answered: the difference is in flight.
  const reached = { count: 0 };
  const answered = { count: 0 };
  const entering: SandboxInterceptor = () => {
    reached.count += 1;
    return undefined;
  };
  const leaving: SandboxInterceptor = () => {
    answered.count += 1;
    return undefined;
  };
  let system: E2ESystem;
  let user: TestUser;

  beforeAll(async () => {
    const faults = sandboxFaults({ latencyMs: LATENCY_MS, latencySigma: 0.2, seed: 10 });
    system = await startE2ESystem({ interceptors: [entering, ...faults.interceptors, leaving] });
    user = await testUser();
  });
  afterAll(() => system?.close());

  /** Provider requests received so far, both endpoints, counted as they arrive. */
  const providerCalls = () => system.sandbox.stats.requests.responses + system.sandbox.stats.requests.chatCompletions;

  async function submit(name: string, count: number): Promise<{ runId: string; campaignId: string }> {
    const rows = Array.from({ length: count }, (_, index) => `lead${index}@${name}.example,Company ${index} of ${name}`);
    const res = await postProcess(system.baseUrl, { token: user.token, content: ['Email,Company', ...rows].join('\n'), fields: { campaign_name: name } });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { run_id: string; campaign_id: string };
    return { runId: body.run_id, campaignId: body.campaign_id };
  }

  async function status(runId: string): Promise<Status> {
    return (await (await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user)).json()) as Status;
  }

  /**
   * POSTs the action; resolves with the provider calls counted the moment its answer arrived, the
   * calls in flight when it was sent (they started before the answer: they finish and are kept), and the answer.
   */
  async function act(runId: string, action: 'cancel' | 'pause' | 'resume'): Promise<{ callsAtAnswer: number; inFlight: number; body: Status }> {
    const inFlight = reached.count - answered.count;
    const res = await fetch(`${system.baseUrl}/api/campaigns/runs/${runId}/${action}`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` } });
    const callsAtAnswer = providerCalls();
    expect(res.status).toBe(200);
    return { callsAtAnswer, inFlight, body: (await res.json()) as Status };
  }

  it('a cancelled run makes no provider call after the answer; its leads not started end cancelled, the calls in flight are kept, every lead counted once', async () => {
    const { runId, campaignId } = await submit('cancelled', 60);
    // Mid-way: the file read (a cancel while it is read stops the reading too; see the store's tests), calls under way.
    await eventually('calls under way', async () => system.sandbox.stats.requests.responses >= 12 && (await status(runId)).status === 'personalizing', 20_000);

    const { callsAtAnswer, inFlight, body } = await act(runId, 'cancel');
    expect(body).toMatchObject({ status: 'cancelled', cancelled_at: expect.any(String) as string });
    expect(inFlight).toBeGreaterThan(0);

    await sleep(WATCH_MS);
    expect(providerCalls()).toBe(callsAtAnswer);

    await eventually('the cancelled run to end', async () => (await status(runId)).completed_at !== null, 20_000);
    expect(providerCalls()).toBe(callsAtAnswer);
    const run = await status(runId);
    expect(run).toMatchObject({ status: 'cancelled', valid: 60, skipped: 0, notices: [] });
    expect(run.cancelled).toBeGreaterThan(0);
    expect(run.processed).toBe(run.personalized + run.needs_review + run.failed);
    expect(run.processed + run.cancelled).toBe(run.valid);
    expect(run.failed).toBe(0);

    const leads = await system.sql<{ status: string; counted: boolean; research: boolean; message: boolean; cost: string }[]>`
      select status, counted_run_id is not null as counted, research is not null as research, message is not null as message, cost_usd::text as cost
      from leads where run_id = ${runId}`;
    const byStatus = (status: string) => leads.filter((lead) => lead.status === status).length;
    expect(leads).toHaveLength(60);
    expect(leads.every((lead) => lead.counted)).toBe(true);
    expect(byStatus('cancelled')).toBe(run.cancelled);
    expect(byStatus('personalized')).toBe(run.personalized);
    expect(byStatus('needs_review')).toBe(run.needs_review);
    // Every research call made, the ones in flight at the cancel included, has its result kept; none was made twice.
    const [research] = await system.sql<{ calls: number; leads: number }[]>`
      select coalesce(sum(calls_started), 0)::int as calls, count(*) filter (where calls_started > 0)::int as leads
      from paid_call_claims where run_id = ${runId} and stage = 'research'`;
    expect(leads.filter((lead) => lead.research)).toHaveLength(research!.calls);
    expect(research!.calls).toBe(research!.leads);
    // A line was written for every lead processed, and for no cancelled lead.
    expect(leads.filter((lead) => lead.message).length).toBe(run.personalized + run.needs_review);
    // The run's cost is what its leads cost (the research of a cancelled lead included), no more.
    const paid = leads.reduce((sum, lead) => sum + Number(lead.cost), 0);
    expect(run.cost_usd).toBeCloseTo(paid, 6);
    const [counted] = await system.sql<{ personalized: number }[]>`select count(*)::int as personalized from leads where campaign_id = ${campaignId} and status = 'personalized'`;
    expect(counted!.personalized).toBe(run.personalized);
  }, 90_000);

  it('a paused run makes no provider call until resumed, then completes with every lead processed exactly once', async () => {
    const { runId } = await submit('paused', 30);
    const researchBefore = system.sandbox.stats.requests.responses;
    await eventually('calls under way', () => system.sandbox.stats.requests.responses - researchBefore >= 8, 20_000);

    const paused = await act(runId, 'pause');
    expect(paused.body).toMatchObject({ status: 'paused', paused_at: expect.any(String) as string });

    await sleep(WATCH_MS);
    expect(providerCalls()).toBe(paused.callsAtAnswer);
    const waiting = await status(runId);
    expect(waiting).toMatchObject({ status: 'paused', failed: 0, cancelled: 0, completed_at: null });
    expect(waiting.notices).toEqual([{ code: 'paused', api: null, message: expect.stringContaining('Paused by its owner') as unknown }]);
    expect(waiting.processed).toBeLessThan(30);
    // Nothing spent a delivery or an attempt waiting: no lead failed, none was charged an attempt it did not make.
    const [attempts] = await system.sql<{ failed: number }[]>`select count(*) filter (where status = 'failed')::int as failed from leads where run_id = ${runId}`;
    expect(attempts!.failed).toBe(0);

    const resumed = await act(runId, 'resume');
    expect(resumed.body.status).toBe('personalizing');
    await eventually('the resumed run to complete', async () => (await status(runId)).status === 'completed', 30_000);

    const run = await status(runId);
    expect(run).toMatchObject({ status: 'completed', valid: 30, processed: 30, failed: 0, cancelled: 0, paused_at: null });
    expect(run.personalized + run.needs_review).toBe(30);
    // Exactly once: one research call per lead, one personalization attempt per lead, every lead counted.
    const claims = await system.sql<{ stage: string; leads: number; calls: number; most: number }[]>`
      select stage, count(*)::int as leads, sum(calls_started)::int as calls, max(calls_started)::int as most
      from paid_call_claims where run_id = ${runId} group by stage order by stage`;
    expect(claims).toEqual([
      { stage: 'personalization', leads: 30, calls: 30, most: 1 },
      { stage: 'research', leads: 30, calls: 30, most: 1 },
    ]);
    expect(system.sandbox.stats.requests.responses - researchBefore).toBe(30);
    const [uncounted] = await system.sql<{ count: number }[]>`select count(*)::int as count from leads where run_id = ${runId} and counted_run_id is null`;
    expect(uncounted!.count).toBe(0);
  }, 90_000);
});

describe('a cancel while calls wait for their turn in the rate budget', () => {
  const RPM = 30; // one research call every 2 s
  let system: E2ESystem;
  let user: TestUser;

  beforeAll(async () => {
    system = await startE2ESystem({ researchRpm: RPM });
    user = await testUser();
  });
  afterAll(() => system?.close());

  it('ends the run in seconds: the queued calls stop waiting and send nothing, their leads end cancelled', async () => {
    const leads = 30;
    const rows = Array.from({ length: leads }, (_, index) => `lead${index}@paced.example,Paced Company ${index}`);
    const res = await postProcess(system.baseUrl, { token: user.token, content: ['Email,Company', ...rows].join('\n'), fields: { campaign_name: 'paced' } });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };
    const read = async () => (await (await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user)).json()) as Status;
    // Two calls made; the other leads' calls queue for their turns, one every 2 s.
    await eventually('two research calls made', () => system.sandbox.stats.requests.responses >= 2, 20_000);
    // Claims held are calls waiting for their turn (the sandbox answers at once, so none is in flight for long).
    const [queued] = await system.sql<{ count: number }[]>`select count(*)::int as count from paid_call_claims where run_id = ${runId} and stage = 'research' and owner is not null`;
    // Enough waiting that, turn by turn, they would hold the run's end for many seconds.
    expect(queued!.count).toBeGreaterThanOrEqual(8);

    const cancelledAt = Date.now();
    const cancel = await fetch(`${system.baseUrl}/api/campaigns/runs/${runId}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` } });
    expect(cancel.status).toBe(200);
    // A call let through just before the cancel committed may reach the sandbox a moment after the answer.
    await sleep(500);
    const callsAtAnswer = system.sandbox.stats.requests.responses;
    // Waiting out their turns would take 2 s per queued call (16 s or more for 8); the wait is read again every 2 s.
    await eventually('the cancelled run to end', async () => (await read()).completed_at !== null, 30_000);
    const took = Date.now() - cancelledAt;
    expect(took, `${queued!.count} calls were queued`).toBeLessThan(10_000);
    expect(system.sandbox.stats.requests.responses).toBe(callsAtAnswer);
    const run = await read();
    expect(run).toMatchObject({ status: 'cancelled', failed: 0 });
    expect(run.processed + run.cancelled).toBe(leads);
    expect(run.cancelled).toBeGreaterThanOrEqual(queued!.count - 1);
  }, 60_000);
});
