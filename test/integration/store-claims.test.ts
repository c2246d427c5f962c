/**
 * Claims on paid calls (migration 0012, PostgresLeadWorkStore.claimCall/renewClaim/releaseClaim)
 * on a real PostgreSQL: at most one live claim per lead, run and stage; a lapsed claim can be
 * taken over; the stage's save releases it; a run that ended grants none; and the extraction and
 * projection writes that go with a run's end.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES, RUN_ENDED_REASON } from '../../domain/campaigns/run.ts';
import type { ImportReport } from '../../domain/leads/lead.ts';
import type { CallClaim, PaidStage } from '../../ports/lead-work-store.port.ts';
import type { Research } from '../../ports/providers.port.ts';
import { createPostgresStores } from '../../adapters/postgres/stores/index.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();

const RESEARCH: Research = { text: 'Acme builds rockets.', citations: [], model: 'sandbox/research' };
const LEASE_MS = 120_000;

function report(valid: number): ImportReport {
  return { total_rows: valid, valid, duplicates: 0, rejected: [], columns: COLUMNS, demo_excluded: 0 };
}

/** A personalizing run of a new campaign with these leads, and their ids in file order. */
async function personalizingRun(emails: readonly string[]) {
  const { runId } = await t.store.createRun({ userId: randomUUID(), demo: false, fileName: 'leads.csv', campaignName: 'Claims' });
  const run = (await t.store.beginExtraction(runId))!;
  const stored = await t.store.storeLeads(run, emails.map((email, index) => lead(email, index + 2)));
  await t.store.finishExtraction(runId, { report: report(emails.length), columns: COLUMNS, skipped: stored.skipped });
  return { run, leadIds: stored.pending };
}

function claimOf(leadId: string, runId: string, stage: PaidStage = 'research', leaseMs = LEASE_MS): CallClaim {
  return { leadId, runId, stage, owner: randomUUID(), leaseMs };
}

async function claimRow(leadId: string, runId: string, stage: PaidStage = 'research') {
  const [row] = await t.db.sql<{ owner: string | null; live: boolean | null; calls_started: number }[]>`
    select owner, expires_at > clock_timestamp() as live, calls_started
    from paid_call_claims where lead_id = ${leadId} and run_id = ${runId} and stage = ${stage}`;
  return row;
}

describe('claims on paid calls', () => {
  it('grants one of two concurrent claimers, on separate connections; the other finds it held', async () => {
    const { run, leadIds } = await personalizingRun(['race@example.com']);
    const leadId = leadIds[0]!;
    // Two sets of stores on one pool, as two processes: their claims go in separate transactions
    // (each its own lane), racing on the row.
    const other = createPostgresStores(t.db.sql);
    const [first, second] = [claimOf(leadId, run.runId), claimOf(leadId, run.runId)];
    const outcomes = await Promise.all([t.store.claimCall(first), other.uow.commit(other.leadWork.claimCall(second))]);
    expect(outcomes.map((outcome) => outcome.kind).sort()).toEqual(['claimed', 'held']);
    const held = outcomes.find((outcome) => outcome.kind === 'held');
    expect(held).toMatchObject({ kind: 'held' });
    if (held?.kind === 'held') {
      expect(held.expiresInMs).toBeGreaterThan(LEASE_MS - 10_000);
      expect(held.expiresInMs).toBeLessThanOrEqual(LEASE_MS);
    }
    const winner = outcomes[0].kind === 'claimed' ? first : second;
    expect(await claimRow(leadId, run.runId)).toEqual({ owner: winner.owner, live: true, calls_started: 1 });
  });

  it('makes a claimer wait for a concurrent claim\'s transaction, then finds it held (or free, had it rolled back)', async () => {
    const { run, leadIds } = await personalizingRun(['wait@example.com', 'rollback@example.com']);
    for (const [leadId, outcome] of [[leadIds[0]!, 'commit'], [leadIds[1]!, 'rollback']] as const) {
      let claiming: Promise<{ kind: string }> | undefined;
      const held = t.db.sql.begin(async (tx) => {
        // Another process's claim, inserted and not yet committed while this process claims.
        await tx`insert into paid_call_claims (lead_id, run_id, stage, owner, expires_at, calls_started)
                 values (${leadId}, ${run.runId}, 'research', 'other-process', clock_timestamp() + interval '2 minutes', 1)`;
        claiming = t.store.claimCall(claimOf(leadId, run.runId));
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (outcome === 'rollback') throw new Error('rolled back');
      });
      await (outcome === 'rollback' ? expect(held).rejects.toThrow('rolled back') : held);
      expect((await claiming!).kind).toBe(outcome === 'commit' ? 'held' : 'claimed');
    }
  });

  it('grants exactly one of many claimers batched in one process', async () => {
    const { run, leadIds } = await personalizingRun(['many@example.com']);
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => t.store.claimCall(claimOf(leadIds[0]!, run.runId))));
    expect(outcomes.filter((outcome) => outcome.kind === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'held')).toHaveLength(7);
    expect((await claimRow(leadIds[0]!, run.runId))?.calls_started).toBe(1);
  });

  it('lets a second claimer take over once the claim lapsed, counting the second call; a renewal keeps it live', async () => {
    const { run, leadIds } = await personalizingRun(['lapse@example.com', 'renew@example.com']);
    const [lapsing, renewed] = leadIds as [string, string];

    const holder = claimOf(lapsing, run.runId, 'research', 200);
    expect(await t.store.claimCall(holder)).toEqual({ kind: 'claimed', callsStarted: 1 });
    expect((await t.store.claimCall(claimOf(lapsing, run.runId))).kind).toBe('held');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const successor = claimOf(lapsing, run.runId);
    expect(await t.store.claimCall(successor)).toEqual({ kind: 'claimed', callsStarted: 2 });
    // The old holder lost it: its renewal says so, and its release changes nothing.
    expect(await t.store.renewClaim(holder)).toBe(false);
    await t.store.releaseClaim(holder, true);
    expect(await claimRow(lapsing, run.runId)).toEqual({ owner: successor.owner, live: true, calls_started: 2 });

    const short = claimOf(renewed, run.runId, 'research', 200);
    expect((await t.store.claimCall(short)).kind).toBe('claimed');
    expect(await t.store.renewClaim({ ...short, leaseMs: LEASE_MS })).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await t.store.claimCall(claimOf(renewed, run.runId))).kind).toBe('held');
  });

  it('is released by the stage\'s save, in its transaction: the next claim finds the result saved, and the next stage claims its own', async () => {
    const { run, leadIds } = await personalizingRun(['saved@example.com']);
    const leadId = leadIds[0]!;
    expect((await t.store.claimCall(claimOf(leadId, run.runId))).kind).toBe('claimed');

    expect(await t.store.saveResearch(leadId, run.runId, RESEARCH)).toBe(true);

    expect(await claimRow(leadId, run.runId)).toEqual({ owner: null, live: null, calls_started: 1 });
    expect(await t.store.claimCall(claimOf(leadId, run.runId))).toEqual({ kind: 'done' });
    expect(await t.store.claimCall(claimOf(leadId, run.runId, 'personalization'))).toEqual({ kind: 'claimed', callsStarted: 1 });
    expect((await claimRow(leadId, run.runId))?.calls_started).toBe(1);
  });

  it("keeps a rejected first draft on the lead's personalization claim, for the next attempt to rewrite, and its cost on the lead", async () => {
    const { run, leadIds } = await personalizingRun(['draft@example.com']);
    const leadId = leadIds[0]!;
    await t.store.saveResearch(leadId, run.runId, RESEARCH);
    expect((await t.store.leadWork(leadId, run.runId))?.rejectedDraft).toBeNull();
    const claim = claimOf(leadId, run.runId, 'personalization');
    await t.store.claimCall(claim);
    const rejected = { draft: 'Hi {{first_name}}, saw Acme.', problems: ['placeholder {{first_name}} left in the line'] };
    await t.stores.uow.commit(t.stores.leadWork.keepRejectedDraft(leadId, run.runId, { stage: 'personalization', model: 'sandbox/writer', costUsd: '0.007200' }, rejected));
    await t.store.releaseClaim(claim, true);
    expect((await t.store.leadWork(leadId, run.runId))?.rejectedDraft).toEqual(rejected);
    const [lead] = await t.db.sql<{ cost_usd: string }[]>`select cost_usd::text from leads where id = ${leadId}`;
    expect(lead?.cost_usd).toBe('0.007200');
  });

  it('given back unmade (pushback), is not counted as a call started; given back after a failed call, is', async () => {
    const { run, leadIds } = await personalizingRun(['pushback@example.com']);
    const leadId = leadIds[0]!;
    const pushedBack = claimOf(leadId, run.runId);
    await t.store.claimCall(pushedBack);
    await t.store.releaseClaim(pushedBack, false);
    expect(await claimRow(leadId, run.runId)).toEqual({ owner: null, live: null, calls_started: 0 });
    const failed = claimOf(leadId, run.runId);
    expect(await t.store.claimCall(failed)).toEqual({ kind: 'claimed', callsStarted: 1 });
    await t.store.releaseClaim(failed, true);
    expect(await t.store.claimCall(claimOf(leadId, run.runId))).toEqual({ kind: 'claimed', callsStarted: 2 });
  });

  it('grants none for a lead of a run that ended, nor for a settled lead or another run\'s', async () => {
    const { run, leadIds } = await personalizingRun(['ended@example.com', 'settled@example.com']);
    const [ended, settled] = leadIds as [string, string];
    await t.store.saveFailed(settled, run.runId, 'research failed');
    expect(await t.store.claimCall(claimOf(settled, run.runId))).toEqual({ kind: 'done' });
    expect(await t.store.claimCall(claimOf(ended, randomUUID()))).toEqual({ kind: 'done' });

    // Ended behind its leads' backs (as a cancellation would): the lead is left pending.
    await t.db.sql`update campaign_runs set status = 'failed', completed_at = now() where id = ${run.runId}`;
    expect(await t.store.claimCall(claimOf(ended, run.runId))).toEqual({ kind: 'ended' });
    expect(await claimRow(ended, run.runId)).toBeUndefined();
  });

  it('is not granted to Supabase\'s API roles, and the table has row-level security', async () => {
    const [row] = await t.db.sql<{ anon: boolean; authenticated: boolean; rls: boolean }[]>`
      select has_table_privilege('anon', 'public.paid_call_claims', 'select') as anon,
             has_table_privilege('authenticated', 'public.paid_call_claims', 'select') as authenticated,
             (select relrowsecurity from pg_class where oid = 'public.paid_call_claims'::regclass) as rls`;
    expect(row).toEqual({ anon: false, authenticated: false, rls: true });
  });
});

describe('a run that ends', () => {
  it('failRun fails its unsettled leads with the reason, keeps the settled ones, and counts none of them', async () => {
    const { run, leadIds } = await personalizingRun(['p1@example.com', 'p2@example.com', 'done@example.com']);
    const [first, second, done] = leadIds as [string, string, string];
    expect(await t.store.saveResearch(second, run.runId, RESEARCH)).toBe(true);
    expect(await t.store.saveFailed(done, run.runId, 'research failed after 6 attempts')).toBe(true);

    expect(await t.store.failRun(run.runId, 'stopped')).toMatchObject({ runId: run.runId, outcome: { status: 'failed' } });

    const leads = await t.db.sql<{ id: string; status: string; error: string | null; settled: boolean }[]>`
      select id, status, error, settled_at is not null as settled from leads where run_id = ${run.runId} order by row_number`;
    expect(leads).toEqual([
      { id: first, status: 'failed', error: RUN_ENDED_REASON, settled: true },
      { id: second, status: 'failed', error: RUN_ENDED_REASON, settled: true },
      { id: done, status: 'failed', error: 'research failed after 6 attempts', settled: true },
    ]);
    for (const leadId of leadIds) expect(await t.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES)).toBe(false);
    const [counters] = await t.db.sql`select processed, failed, personalized from campaign_runs where id = ${run.runId}`;
    expect(counters).toEqual({ processed: 0, failed: 0, personalized: 0 });
    // Ended once: a second failRun changes nothing.
    expect(await t.store.failRun(run.runId, 'again')).toBeNull();
  });

  it('storeLeads releases a lead once: a retry of the same batch releases none, even for leads still pending', async () => {
    const { runId } = await t.store.createRun({ userId: randomUUID(), demo: false, fileName: 'leads.csv', campaignName: 'Retries' });
    const run = (await t.store.beginExtraction(runId))!;
    const batch = [lead('a@example.com', 2), lead('b@example.com', 3)];
    const first = await t.store.storeLeads(run, batch);
    expect(first.pending).toHaveLength(2);
    const again = await t.store.storeLeads(run, [...batch, lead('c@example.com', 4)]);
    const [added] = await t.db.sql<{ id: string }[]>`select id from leads where run_id = ${runId} and email = 'c@example.com'`;
    expect(again).toEqual({ pending: [added!.id], skipped: 0, stopped: false });
  });
});
