/**
 * The suppression list and suppressed leads on the real PostgreSQL: the list's writes and reads
 * (scoped by user), the pipeline's look-ups, leads stored suppressed (counted for their run, never
 * released), a lead suppressed before its research, and the run's `suppressed` counter.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import type { ImportReport } from '../../domain/leads/lead.ts';
import type { RunToExtract } from '../../ports/extraction-store.port.ts';
import { InvalidSuppressionCursorError } from '../../ports/suppression-store.port.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();
const REASON = 'Suppressed: the email address is on your suppression list.';

function report(valid: number): ImportReport {
  return { total_rows: valid, valid, duplicates: 0, rejected: [], columns: COLUMNS, demo_excluded: 0 };
}

async function extractingRun(userId: string, campaign: { campaignName?: string; campaignId?: string } = { campaignName: `Q3 outbound ${crypto.randomUUID()}` }): Promise<RunToExtract> {
  const { runId } = await t.store.createRun({ userId, demo: false, fileName: 'leads.csv', ...campaign });
  const run = await t.store.beginExtraction(runId);
  if (run === null) throw new Error('the new run cannot be extracted');
  return run;
}

async function leadsOf(runId: string) {
  return t.db.sql<{ id: string; email: string; status: string; error: string | null; counted_run_id: string | null; settled: boolean; progress: boolean }[]>`
    select id, email, status, error, counted_run_id, settled_at is not null as settled, progress_seq is not null as progress
    from leads where run_id = ${runId} order by row_number`;
}

async function runCounters(runId: string) {
  const [row] = await t.db.sql<{ status: string; suppressed: number; processed: number; error_message: string | null }[]>`
    select status, suppressed, processed, error_message from campaign_runs where id = ${runId}`;
  return row!;
}

describe('the suppression list', () => {
  const list = () => t.stores.suppressions;

  it('adds each value once per user, answers those it added, and pages in value order with a filter', async () => {
    const userId = randomUUID();
    const added = await list().add(userId, [
      { value: 'b@example.com', kind: 'email' },
      { value: 'example.org', kind: 'domain' },
      { value: 'b@example.com', kind: 'email' },
    ]);
    expect(added.map((entry) => [entry.value, entry.kind])).toEqual([
      ['b@example.com', 'email'],
      ['example.org', 'domain'],
    ]);
    expect(added[0]!.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    // Already there: nothing added, no error; another user's list is its own.
    expect(await list().add(userId, [{ value: 'example.org', kind: 'domain' }, { value: 'a.example.net', kind: 'domain' }])).toMatchObject([{ value: 'a.example.net' }]);
    expect(await list().add(randomUUID(), [{ value: 'example.org', kind: 'domain' }])).toHaveLength(1);

    const first = await list().list(userId, { limit: 2 });
    expect(first.suppressions.map((entry) => entry.value)).toEqual(['a.example.net', 'b@example.com']);
    const second = await list().list(userId, { limit: 2, cursor: first.next_cursor! });
    expect(second).toMatchObject({ suppressions: [{ value: 'example.org' }], next_cursor: null });
    expect((await list().list(userId, { limit: 10, q: 'EXAMPLE.O' })).suppressions.map((entry) => entry.value)).toEqual(['example.org']);
    // LIKE's wildcards are plain characters in q.
    expect((await list().list(userId, { limit: 10, q: '%' })).suppressions).toEqual([]);
    expect((await list().list(userId, { limit: 10, q: '_' })).suppressions).toEqual([]);
    await expect(list().list(userId, { limit: 10, cursor: 'not a cursor!' })).rejects.toBeInstanceOf(InvalidSuppressionCursorError);
  });

  it("removes by id or value, only the owner's", async () => {
    const [alice, bob] = [randomUUID(), randomUUID()];
    const [entry] = await list().add(alice, [{ value: 'gone.example', kind: 'domain' }]);
    await list().add(alice, [{ value: 'kept@example.com', kind: 'email' }]);
    expect(await list().remove(bob, entry!.id)).toBe(false);
    expect(await list().remove(alice, entry!.id)).toBe(true);
    expect(await list().remove(alice, entry!.id)).toBe(false);
    expect(await list().remove(alice, 'not-a-uuid')).toBe(false);
    expect(await list().removeValue(bob, 'kept@example.com')).toBeNull();
    expect(await list().removeValue(alice, 'kept@example.com')).toMatchObject({ value: 'kept@example.com', kind: 'email' });
    expect((await list().list(alice, { limit: 10 })).suppressions).toEqual([]);
  });

  it("looks up a batch's keys on its owner's list, and the owner's personalized leads of other campaigns within the window", async () => {
    const userId = randomUUID();
    await list().add(userId, [{ value: 'example.com', kind: 'domain' }, { value: 'cy@other.org', kind: 'email' }]);
    await list().add(randomUUID(), [{ value: 'di@other.org', kind: 'email' }]);
    // ada was personalized in another campaign of the owner; bob in this one; di in a stranger's.
    const other = await extractingRun(userId, { campaignName: 'Spring push' });
    const stored = await t.store.storeLeads(other, [lead('ada@other.org', 2)]);
    await t.store.finishExtraction(other.runId, { report: report(1), columns: COLUMNS, skipped: 0 });
    await t.store.saveResearch(stored.pending[0]!, other.runId, { text: 'r', citations: [], model: 'm' });
    await t.store.savePersonalized(stored.pending[0]!, other.runId, { message: 'm', basis: 'b', model: 'm' });
    const run = await extractingRun(userId);

    const keys = (email: string) => [email, email.split('@')[1]!];
    const batch = ['ada@other.org', 'bob@example.com', 'cy@other.org', 'di@other.org'].map((email) => ({ email, keys: keys(email) }));
    const screened = await t.stores.suppressions.screen(run, batch, 30);
    expect(Object.fromEntries(screened)).toEqual({
      'ada@other.org': { listed: [], personalizedElsewhere: { campaignName: 'Spring push', personalizedAt: expect.stringMatching(/^\d{4}-/) as string } },
      'bob@example.com': { listed: ['example.com'], personalizedElsewhere: null },
      'cy@other.org': { listed: ['cy@other.org'], personalizedElsewhere: null },
    });
    // No window: the list only. The same campaign's own leads are not "elsewhere".
    expect([...(await t.stores.suppressions.screen(run, batch, null)).keys()]).toEqual(['bob@example.com', 'cy@other.org']);
    expect((await t.stores.suppressions.screen({ userId, campaignId: other.campaignId }, batch, 30)).get('ada@other.org')).toBeUndefined();
    // Outside the window.
    await t.db.sql`update leads set settled_at = now() - interval '31 days' where id = ${stored.pending[0]!}`;
    expect((await t.stores.suppressions.screen(run, batch, 30)).get('ada@other.org')).toBeUndefined();

    expect(await t.stores.suppressions.listedFor(run.runId, keys('bob@example.com'))).toEqual(['example.com']);
    expect(await t.stores.suppressions.listedFor(run.runId, keys('di@other.org'))).toEqual([]);
  });
});

describe('suppressed leads', () => {
  it('are stored settled and counted for their run, never released; the run counts them and ends when nothing else is left', async () => {
    const userId = randomUUID();
    const run = await extractingRun(userId);
    const stored = await t.store.storeLeads(run, [lead('ada@example.com', 2), lead('bob@example.com', 3)], new Map([['bob@example.com', REASON]]));
    const [ada, bob] = await leadsOf(run.runId);
    expect(stored.pending).toEqual([ada!.id]);
    expect(bob).toMatchObject({ status: 'suppressed', error: REASON, counted_run_id: run.runId, settled: true, progress: true });
    expect(ada).toMatchObject({ status: 'pending', error: null, counted_run_id: null, settled: false });

    // A redelivered extraction changes nothing and releases nothing.
    expect(await t.store.storeLeads(run, [lead('ada@example.com', 2), lead('bob@example.com', 3)], new Map())).toEqual({ pending: [], skipped: 0, stopped: false });
    expect((await leadsOf(run.runId)).map((row) => row.status)).toEqual(['pending', 'suppressed']);

    await t.store.finishExtraction(run.runId, { report: report(2), columns: COLUMNS, skipped: 0 });
    expect(await runCounters(run.runId)).toMatchObject({ status: 'personalizing', suppressed: 1, processed: 0 });
    // Not counted again by the projection, whatever event comes for it.
    expect(await t.store.countOutcome(bob!.id, run.runId, DEFAULT_KPI_RATES)).toBe(false);
    expect(await t.store.completeIfSettled(run.runId)).toBeNull(); // ada is still to do
    await t.store.saveFailed(ada!.id, run.runId, 'x');
    expect(await t.store.countOutcome(ada!.id, run.runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.completeIfSettled(run.runId)).toMatchObject({ outcome: { status: 'failed' } });
    expect(await runCounters(run.runId)).toMatchObject({ suppressed: 1, processed: 1 });
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 0 });
  });

  it('a run of only suppressed leads completes, with a message; a later run takes them over and screens them again', async () => {
    const userId = randomUUID();
    const run = await extractingRun(userId);
    const recordedBefore = t.metrics.count('suppressed');
    await t.store.storeLeads(run, [lead('ada@example.com', 2), lead('bob@example.com', 3)], new Map([['ada@example.com', REASON], ['bob@example.com', REASON]]));
    // A redelivered batch stores them again: recorded once (the metrics of issue 11).
    await t.store.storeLeads(run, [lead('ada@example.com', 2), lead('bob@example.com', 3)], new Map([['ada@example.com', REASON], ['bob@example.com', REASON]]));
    expect(t.metrics.count('suppressed') - recordedBefore).toBe(2);
    await t.store.finishExtraction(run.runId, { report: report(2), columns: COLUMNS, skipped: 0 });
    expect(await t.store.completeIfSettled(run.runId)).toMatchObject({ outcome: { status: 'completed', errorMessage: expect.stringContaining('2 leads are suppressed') as string } });

    const later = await extractingRun(userId, { campaignId: run.campaignId });
    const stored = await t.store.storeLeads(later, [lead('ada@example.com', 2), lead('bob@example.com', 3)], new Map([['bob@example.com', 'still']]));
    const [ada, bob] = await leadsOf(later.runId);
    expect(stored).toEqual({ pending: [ada!.id], skipped: 0, stopped: false });
    expect(ada).toMatchObject({ status: 'pending', error: null, counted_run_id: null, settled: false });
    expect(bob).toMatchObject({ status: 'suppressed', error: 'still', counted_run_id: later.runId, settled: true });
    expect(t.metrics.count('suppressed') - recordedBefore).toBe(3);
    expect(await runCounters(run.runId)).toMatchObject({ suppressed: 2 }); // the earlier run keeps its count
  });

  it('a pending lead is suppressed before its research once, while its run is live, and counted with the run', async () => {
    const userId = randomUUID();
    const run = await extractingRun(userId);
    const stored = await t.store.storeLeads(run, [lead('ada@example.com', 2), lead('bob@example.com', 3), lead('cy@example.com', 4)]);
    const [ada, bob, cy] = stored.pending as [string, string, string];
    const recordedBefore = t.metrics.count('suppressed');
    // Before the totals are written: the count at the end of extraction includes it.
    expect(await t.store.saveSuppressed(ada, run.runId, REASON)).toBe(true);
    await t.store.finishExtraction(run.runId, { report: report(3), columns: COLUMNS, skipped: 0 });
    expect(await runCounters(run.runId)).toMatchObject({ suppressed: 1 });
    // After: one more.
    expect(await t.store.saveSuppressed(bob, run.runId, REASON)).toBe(true);
    expect(await t.store.saveSuppressed(bob, run.runId, REASON)).toBe(false);
    expect(await runCounters(run.runId)).toMatchObject({ suppressed: 2, processed: 0 });
    expect((await leadsOf(run.runId))[1]).toMatchObject({ status: 'suppressed', counted_run_id: run.runId, settled: true });
    // A researched lead still waits for its line (a re-run takes it there with its research): suppressed too, once.
    await t.store.saveResearch(cy, run.runId, { text: 'r', citations: [], model: 'm' });
    expect(await t.store.saveSuppressed(cy, run.runId, REASON)).toBe(true);
    expect(await t.store.saveSuppressed(cy, run.runId, REASON)).toBe(false);
    expect(await runCounters(run.runId)).toMatchObject({ suppressed: 3, processed: 0 });
    // Not a lead with its line, nor one of a run that has ended.
    const [eve] = (await t.store.storeLeads(run, [lead('eve@example.com', 5)])).pending;
    await t.store.saveResearch(eve!, run.runId, { text: 'r', citations: [], model: 'm' });
    await t.store.savePersonalized(eve!, run.runId, { message: 'Hi.', basis: 'r', model: 'w' });
    expect(await t.store.saveSuppressed(eve!, run.runId, REASON)).toBe(false);
    const ended = await extractingRun(userId);
    const [dee] = (await t.store.storeLeads(ended, [lead('dee@example.com', 2)])).pending;
    await t.store.failRun(ended.runId, 'stopped');
    expect(await t.store.saveSuppressed(dee!, ended.runId, REASON)).toBe(false);
    expect(await runCounters(ended.runId)).toMatchObject({ suppressed: 0 });
    // Each lead suppressed here recorded once, as a standard user's (the metrics of issue 11).
    expect(t.metrics.count('suppressed') - recordedBefore).toBe(3);
    expect(t.metrics.settled.slice(-3).map((entry) => entry.userClass)).toEqual(['standard', 'standard', 'standard']);
  });

  it('the run-ended failure leaves suppressed leads as they are', async () => {
    const run = await extractingRun(randomUUID());
    await t.store.storeLeads(run, [lead('ada@example.com', 2), lead('bob@example.com', 3)], new Map([['bob@example.com', REASON]]));
    await t.store.failRun(run.runId, 'The file could not be processed.');
    expect((await leadsOf(run.runId)).map((row) => [row.status, row.error])).toEqual([
      ['failed', 'The run ended before this lead was processed.'],
      ['suppressed', REASON],
    ]);
  });
});
