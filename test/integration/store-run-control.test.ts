/**
 * An owner's cancel, pause and resume of a run on a real PostgreSQL (PostgresRunControlStore, and
 * the pipeline's writes that go with them): what each does to the run and its leads, that a
 * cancelled lead is counted exactly once, that a call's last check is ordered with a cancel by the
 * run's row lock, and that a cancel while the file is read stops the extraction.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES, RUN_CANCELLED_REASON } from '../../domain/campaigns/run.ts';
import type { ImportReport } from '../../domain/leads/lead.ts';
import type { CallClaim, PaidStage } from '../../ports/lead-work-store.port.ts';
import type { Draft, Research } from '../../ports/providers.port.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();

const RESEARCH: Research = { text: 'Acme builds rockets.', citations: [], model: 'sandbox/research' };
const DRAFT: Draft = { message: 'Rockets, nice.', basis: 'builds rockets', model: 'sandbox/writer' };
const LEASE_MS = 120_000;

function report(valid: number): ImportReport {
  return { total_rows: valid, valid, duplicates: 0, rejected: [], columns: COLUMNS, demo_excluded: 0 };
}

/** A personalizing run of a new campaign with `count` leads, and their ids in file order. */
async function personalizingRun(count: number) {
  const userId = randomUUID();
  const { runId } = await t.store.createRun({ userId, demo: false, fileName: 'leads.csv', campaignName: `Control ${randomUUID()}` });
  const run = (await t.store.beginExtraction(runId))!;
  const stored = await t.store.storeLeads(run, Array.from({ length: count }, (_, index) => lead(`lead${index}@example.com`, index + 2)));
  await t.store.finishExtraction(runId, { report: report(count), columns: COLUMNS, skipped: stored.skipped });
  return { userId, runId, leadIds: stored.pending };
}

function claimOf(leadId: string, runId: string, stage: PaidStage = 'research'): CallClaim {
  return { leadId, runId, stage, owner: randomUUID(), leaseMs: LEASE_MS };
}

async function runRow(runId: string) {
  const [row] = await t.db.sql<
    { status: string; valid: number; processed: number; personalized: number; failed: number; cancelled: number; cost_usd: string; ended: boolean; cancelled_at: Date | null; paused_at: Date | null }[]
  >`
    select status, valid, processed, personalized, failed, cancelled, cost_usd::text, completed_at is not null as ended, cancelled_at, paused_at
    from campaign_runs where id = ${runId}`;
  return row!;
}

async function leadRows(runId: string) {
  return t.db.sql<{ id: string; status: string; error: string | null; counted: boolean }[]>`
    select id, status, error, counted_run_id is not null as counted from leads where run_id = ${runId} order by row_number`;
}

describe('cancel', () => {
  it('cancels the leads with nothing in flight at once, counted; the lead in flight is left to finish, then the run ends cancelled', async () => {
    const { userId, runId, leadIds } = await personalizingRun(4);
    const [inFlight, researched, waiting, done] = leadIds as [string, string, string, string];
    expect(await t.store.claimCall(claimOf(inFlight, runId))).toMatchObject({ kind: 'claimed' });
    await t.store.saveResearch(researched, runId, RESEARCH, '0.010000');
    await t.store.saveResearch(done, runId, RESEARCH, '0.010000');
    await t.store.savePersonalized(done, runId, DRAFT, '0.002000');
    expect(await t.store.countOutcome(done, runId, DEFAULT_KPI_RATES)).toBe(true);
    // A claim given back after a failed call (waiting for its retry) is not a call in flight.
    const failed = claimOf(waiting, runId);
    await t.store.claimCall(failed);
    await t.store.releaseClaim(failed, true);

    const cancelled = await t.store.cancelRun(userId, runId);

    expect(cancelled).toEqual({ outcome: { kind: 'applied', from: 'personalizing', status: 'cancelled' }, completion: null });
    expect(await leadRows(runId)).toEqual([
      { id: inFlight, status: 'pending', error: null, counted: false },
      { id: researched, status: 'cancelled', error: RUN_CANCELLED_REASON, counted: true },
      { id: waiting, status: 'cancelled', error: RUN_CANCELLED_REASON, counted: true },
      { id: done, status: 'personalized', error: null, counted: true },
    ]);
    // The research paid for the cancelled lead is in the run's cost; nothing else is charged.
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', valid: 4, processed: 1, personalized: 1, cancelled: 2, cost_usd: '0.022000', ended: false });
    expect((await runRow(runId)).cancelled_at).toBeInstanceOf(Date);
    // No new call: a claim refuses, and a call that had its claim finds the run cancelled.
    expect(await t.store.claimCall(claimOf(leadIds[1]!, runId, 'personalization'))).toEqual({ kind: 'done' });
    expect(await t.store.runStatusForCall(runId)).toBe('cancelled');

    // The call in flight finishes: its result is kept; its lead can go no further, and is cancelled, once.
    expect(await t.store.saveResearch(inFlight, runId, RESEARCH, '0.010000')).toBe(true);
    expect(await t.store.claimCall(claimOf(inFlight, runId, 'personalization'))).toEqual({ kind: 'cancelled' });
    expect(await t.store.completeIfSettled(runId)).toBeNull();
    const cancelledBefore = t.metrics.count('cancelled');
    const runsBefore = t.metrics.runs.length;
    expect(await t.store.cancelLead(inFlight, runId)).toBe(true);
    expect(await t.store.cancelLead(inFlight, runId)).toBe(false);
    // Recorded once (the metrics of issue 11); the run's end with its status.
    expect(t.metrics.count('cancelled') - cancelledBefore).toBe(1);
    expect(await t.store.completeIfSettled(runId)).toEqual({
      runId,
      campaignId: expect.any(String) as string,
      userId,
      outcome: { status: 'cancelled', errorMessage: null },
    });
    expect(t.metrics.runs.slice(runsBefore)).toEqual([{ status: 'cancelled', userClass: 'standard', durationSeconds: expect.any(Number) as number }]);
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', valid: 4, processed: 1, cancelled: 3, cost_usd: '0.032000', ended: true });
    const [kept] = await t.db.sql<{ research: string | null }[]>`select research from leads where id = ${inFlight}`;
    expect(kept!.research).toBe(RESEARCH.text);
    expect(await t.store.completedRun(runId)).toMatchObject({ status: 'cancelled', counts: { valid: 4, personalized: 1, cancelled: 3 } });
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 1 });
  });

  it('counts a result that lands after the cancel once, and ends the run with the last one', async () => {
    const { userId, runId, leadIds } = await personalizingRun(1);
    const leadId = leadIds[0]!;
    await t.store.saveResearch(leadId, runId, RESEARCH, '0.010000');
    await t.store.claimCall(claimOf(leadId, runId, 'personalization'));
    await t.store.cancelRun(userId, runId);

    expect(await t.store.savePersonalized(leadId, runId, DRAFT, '0.002000')).toBe(true);
    expect(await t.store.countOutcome(leadId, runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.countOutcome(leadId, runId, DEFAULT_KPI_RATES)).toBe(false);
    expect(await t.store.completeIfSettled(runId)).toMatchObject({ outcome: { status: 'cancelled' } });
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', processed: 1, personalized: 1, cancelled: 0, cost_usd: '0.012000', ended: true });
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 1 });
  });

  it('ends the run at once when nothing is in flight; a second cancel changes nothing; another user cannot', async () => {
    const { userId, runId } = await personalizingRun(2);
    expect(await t.store.cancelRun(randomUUID(), runId)).toEqual({ outcome: { kind: 'not_found' }, completion: null });
    expect(await t.store.cancelRun(userId, randomUUID())).toEqual({ outcome: { kind: 'not_found' }, completion: null });

    const recordedBefore = { leads: t.metrics.count('cancelled'), runs: t.metrics.runs.length };
    const first = await t.store.cancelRun(userId, runId);
    expect(first.completion).toMatchObject({ runId, outcome: { status: 'cancelled' } });
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', valid: 2, processed: 0, cancelled: 2, ended: true });

    expect(await t.store.cancelRun(userId, runId)).toEqual({ outcome: { kind: 'unchanged', status: 'cancelled' }, completion: null });
    expect(await t.store.pauseRun(userId, runId)).toMatchObject({ kind: 'refused', status: 'cancelled' });
    expect(await t.store.resumeRun(userId, runId)).toMatchObject({ outcome: { kind: 'refused', status: 'cancelled' }, leads: [] });
    expect(await runRow(runId)).toMatchObject({ cancelled: 2 });
    // Its two leads and its end recorded once, the second cancel nothing (the metrics of issue 11).
    expect(t.metrics.count('cancelled') - recordedBefore.leads).toBe(2);
    expect(t.metrics.runs.slice(recordedBefore.runs)).toEqual([{ status: 'cancelled', userClass: 'standard', durationSeconds: expect.any(Number) as number }]);
  });

  it('refuses to cancel a run that has ended', async () => {
    const { userId, runId, leadIds } = await personalizingRun(1);
    await t.store.saveFailed(leadIds[0]!, runId, 'nope');
    await t.store.countOutcome(leadIds[0]!, runId, DEFAULT_KPI_RATES);
    await t.store.completeIfSettled(runId);
    expect(await t.store.cancelRun(userId, runId)).toEqual({
      outcome: { kind: 'refused', status: 'failed', reason: 'The run has ended (failed): there is nothing left to cancel.' },
      completion: null,
    });
  });

  it('orders a call\'s last check with a cancel: a check waits for a cancel not yet committed, and then sees it', async () => {
    const { runId } = await personalizingRun(1);
    let checked: string | null | undefined;
    await t.db.sql.begin(async (tx) => {
      await tx`update campaign_runs set status = 'cancelled' where id = ${runId}`;
      const check = t.store.runStatusForCall(runId).then((status) => {
        checked = status;
      });
      await sleep(300);
      // Still waiting on the cancel's lock: the call has not been let through.
      expect(checked).toBeUndefined();
      void check;
    });
    await expect.poll(() => checked, { timeout: 5_000 }).toBe('cancelled');
  });

  it('makes a cancel wait for a call\'s check that came first: that call was let through before the cancel committed', async () => {
    const { userId, runId } = await personalizingRun(1);
    let cancelled = false;
    await t.db.sql.begin(async (tx) => {
      const [row] = await tx<{ status: string }[]>`select status from campaign_runs where id = ${runId} for share`;
      expect(row!.status).toBe('personalizing');
      const cancel = t.store.cancelRun(userId, runId).then(() => {
        cancelled = true;
      });
      await sleep(300);
      expect(cancelled).toBe(false);
      void cancel;
    });
    await expect.poll(() => cancelled, { timeout: 5_000 }).toBe(true);
  });

  it('stops an extraction: a batch stored after the cancel stores nothing, and the run takes the leads it stored as valid', async () => {
    const userId = randomUUID();
    const { runId } = await t.store.createRun({ userId, demo: false, fileName: 'leads.csv', campaignName: `Extracting ${randomUUID()}` });
    const run = (await t.store.beginExtraction(runId))!;
    const first = await t.store.storeLeads(run, [lead('a@example.com', 2), lead('b@example.com', 3)]);
    expect(first.stopped).toBe(false);

    const cancelled = await t.store.cancelRun(userId, runId);
    expect(cancelled.outcome).toEqual({ kind: 'applied', from: 'extracting', status: 'cancelled' });
    expect(await t.store.storeLeads(run, [lead('c@example.com', 4)])).toEqual({ pending: [], skipped: 0, stopped: true });
    expect(await leadRows(runId)).toHaveLength(2);
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', valid: 2, cancelled: 2, ended: true });
    expect(await t.store.beginExtraction(runId)).toBeNull();
  });

  it('cancelled while its file is read, a run counts the leads it stored suppressed: valid = suppressed + cancelled', async () => {
    const userId = randomUUID();
    const { runId } = await t.store.createRun({ userId, demo: false, fileName: 'leads.csv', campaignName: `Suppressed ${randomUUID()}` });
    const run = (await t.store.beginExtraction(runId))!;
    await t.store.storeLeads(run, [lead('a@example.com', 2), lead('b@example.com', 3), lead('c@example.com', 4)], new Map([['b@example.com', 'listed']]));

    await t.store.cancelRun(userId, runId);

    expect((await leadRows(runId)).map((row) => [row.status, row.counted])).toEqual([
      ['cancelled', true],
      ['suppressed', true],
      ['cancelled', true],
    ]);
    const [row] = await t.db.sql<{ valid: number; suppressed: number; cancelled: number; processed: number; ended: boolean }[]>`
      select valid, suppressed, cancelled, processed, completed_at is not null as ended from campaign_runs where id = ${runId}`;
    expect(row).toEqual({ valid: 3, suppressed: 1, cancelled: 2, processed: 0, ended: true });
  });
});

describe('pause and resume', () => {
  it('pauses: no claim is granted and a claimed call is refused; resume carries every unsettled lead on', async () => {
    const { userId, runId, leadIds } = await personalizingRun(3);
    const [pending, researched, done] = leadIds as [string, string, string];
    await t.store.saveResearch(researched, runId, RESEARCH);
    await t.store.saveResearch(done, runId, RESEARCH);
    await t.store.savePersonalized(done, runId, DRAFT);

    expect(await t.store.pauseRun(randomUUID(), runId)).toEqual({ kind: 'not_found' });
    expect(await t.store.resumeRun(userId, runId)).toMatchObject({ outcome: { kind: 'refused', status: 'personalizing' } });
    expect(await t.store.pauseRun(userId, runId)).toEqual({ kind: 'applied', from: 'personalizing', status: 'paused' });
    expect(await t.store.pauseRun(userId, runId)).toEqual({ kind: 'unchanged', status: 'paused' });
    expect((await runRow(runId)).paused_at).toBeInstanceOf(Date);

    expect(await t.store.claimCall(claimOf(pending, runId))).toEqual({ kind: 'paused' });
    expect(await t.store.runStatusForCall(runId)).toBe('paused');
    // A result in flight at the pause is counted while paused; the run does not end while paused.
    expect(await t.store.countOutcome(done, runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.completeIfSettled(runId)).toBeNull();
    expect(await t.store.stalledLeads(0, 100)).not.toContainEqual(expect.objectContaining({ runId }));

    const resumed = await t.store.resumeRun(userId, runId);
    expect(resumed).toEqual({
      outcome: { kind: 'applied', from: 'paused', status: 'personalizing' },
      leads: [
        { leadId: pending, runId, status: 'pending' },
        { leadId: researched, runId, status: 'researched' },
      ],
    });
    expect(await runRow(runId)).toMatchObject({ status: 'personalizing', paused_at: null, processed: 1 });
    expect(await t.store.claimCall(claimOf(pending, runId))).toMatchObject({ kind: 'claimed' });
  });

  it('a paused run\'s file is still read; the resume takes it to extracting until it has been read to the end', async () => {
    const userId = randomUUID();
    const { runId } = await t.store.createRun({ userId, demo: false, fileName: 'leads.csv', campaignName: `Paused ${randomUUID()}` });
    expect(await t.store.pauseRun(userId, runId)).toEqual({ kind: 'applied', from: 'queued', status: 'paused' });
    const run = (await t.store.beginExtraction(runId))!;
    expect(run.runId).toBe(runId);
    expect((await runRow(runId)).status).toBe('paused');
    expect((await t.store.storeLeads(run, [lead('a@example.com', 2)])).pending).toHaveLength(1);
    expect(await t.store.resumeRun(userId, runId)).toMatchObject({ outcome: { kind: 'applied', status: 'extracting' } });
    await t.store.pauseRun(userId, runId);
    await t.store.finishExtraction(runId, { report: report(1), columns: COLUMNS, skipped: 0 });
    expect(await runRow(runId)).toMatchObject({ status: 'paused', valid: 1 });
    expect(await t.store.resumeRun(userId, runId)).toMatchObject({ outcome: { kind: 'applied', status: 'personalizing' } });
  });
});
