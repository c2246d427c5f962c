/** Extraction (`campaign.submitted`) against the in-memory doubles, with the real (pure) CSV reader. */
import { describe, expect, it } from 'vitest';
import type { CampaignSubmitted } from '../../../domain/campaigns/events.ts';
import { DEFAULT_KPI_RATES, RUN_ENDED_REASON } from '../../../domain/campaigns/run.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../../domain/leads/import-error.ts';
import { FileNotFoundError, type LeadFileStore } from '../../../ports/lead-file-store.port.ts';
import { EXTRACTION_FAILED_MESSAGE, ExtractLeads, FILE_GONE_MESSAGE } from '../../../src/app/consumers/extraction.ts';
import { runFileKey } from '../../../src/app/submit-campaign.ts';
import { commitDecision, handlerContext, inMemoryPipeline, logged, personalizingRun, pipelinePorts, queuedRun, type InMemoryPipeline } from '../../support/fakes/index.ts';
import type { PipelinePorts } from '../../../src/app/kernel/ports.ts';

/** Five valid leads, one rejected row (row 4) and one duplicate (row 8). */
const FILE = [
  'Email,Company',
  'ada@example.com,Analytical Engines',
  'bob@example.com,Bobcat',
  'broken@,Nowhere',
  'cy@example.com,Cyan',
  'di@example.com,Dial',
  'ed@example.com,Edison',
  'ADA@example.com,Analytical again',
].join('\n');

function extraction(p: InMemoryPipeline, overrides: Partial<PipelinePorts> = {}) {
  return new ExtractLeads(pipelinePorts(p, { extractionBatchSize: 2, ...overrides }));
}

async function submitted(p: InMemoryPipeline, file: string | null = FILE, run: Parameters<typeof queuedRun>[1] = {}): Promise<CampaignSubmitted> {
  const created = await queuedRun(p, run);
  if (file !== null) p.files.seed(runFileKey(created.runId), file);
  return { type: 'campaign.submitted', run_id: created.runId, campaign_id: created.campaignId, user_id: created.userId };
}

describe('ExtractLeads', () => {
  it('stops reading the file once its run is cancelled: later batches store nothing, no totals, the file is discarded', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    p.outbox.clear();
    let batches = 0;
    // The owner's cancel commits after the first batch (the PostgreSQL store orders the two with the run's lock).
    p.uow.failCommits((name) => {
      if (name === 'storeLeads' && ++batches === 2) p.store.endRun(event.run_id, 'cancelled');
      return undefined;
    });
    const context = handlerContext();

    expect(await extraction(p).handle(event, context)).toBeNull();

    expect(p.store.leadsOfRun(event.run_id).map((lead) => lead.email)).toEqual(['ada@example.com', 'bob@example.com']);
    expect(p.outbox.events().map((e) => e.type)).toEqual(['lead.extracted', 'lead.extracted']);
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'cancelled', totalRows: 0, importReport: null });
    expect(p.files.has(runFileKey(event.run_id))).toBe(false);
    expect(logged(context.log, 'the run was stopped while its file was read (cancelled): extraction stops', 'info')).toHaveLength(1);
  });

  it('reads the file of a paused run (it costs nothing) and keeps the run paused for its resume', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    p.store.endRun(event.run_id, 'paused');

    expect(await extraction(p).handle(event, handlerContext())).toBeNull();

    expect(p.store.leadsOfRun(event.run_id)).toHaveLength(5);
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'paused', valid: 5 });
    expect(p.store.run(event.run_id)?.importReport).not.toBeNull();
    expect(p.outbox.events('run.completed')).toEqual([]);
  });

  it('stores the leads in batches, each committed with one lead.extracted per pending lead in its own trace, then the totals', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    p.outbox.clear();

    expect(await extraction(p).handle(event, handlerContext())).toBeNull();

    const leads = p.store.leadsOfRun(event.run_id);
    expect(leads.map((lead) => [lead.row, lead.email, lead.status])).toEqual([
      [2, 'ada@example.com', 'pending'],
      [3, 'bob@example.com', 'pending'],
      [5, 'cy@example.com', 'pending'],
      [6, 'di@example.com', 'pending'],
      [7, 'ed@example.com', 'pending'],
    ]);
    // Batches of two, each with the events of its own leads.
    const batches = p.uow.commits.filter((commit) => commit.name === 'storeLeads');
    expect(batches.map((commit) => commit.events.map((e) => ('lead_id' in e ? e.lead_id : null)))).toEqual([
      [leads[0]!.id, leads[1]!.id],
      [leads[2]!.id, leads[3]!.id],
      [leads[4]!.id],
    ]);
    expect(p.outbox.events()).toEqual(leads.map((lead) => ({ type: 'lead.extracted', run_id: event.run_id, lead_id: lead.id })));
    // One trace per lead, started for that lead and carried by its event.
    expect(p.tracing.started.map((trace) => trace.attributes)).toEqual(leads.map((lead) => ({ run_id: event.run_id, lead_id: lead.id })));
    const carriers = p.outbox.rows().map((row) => row.trace);
    expect(carriers).toEqual(p.tracing.started.map((trace) => trace.carrier));
    expect(new Set(carriers.map((carrier) => carrier?.traceparent)).size).toBe(5);

    expect(p.store.run(event.run_id)).toMatchObject({ status: 'personalizing', totalRows: 7, valid: 5, duplicates: 1, rejectedRows: 1, skipped: 0 });
    expect(p.store.run(event.run_id)?.importReport?.rejected).toEqual([{ row: 4, reason: expect.stringContaining('broken@') as unknown }]);
    // The rows that are not leads, with their cells, for the export.
    expect(p.store.run(event.run_id)?.importRows).toEqual([
      { row: 4, status: 'rejected', reason: "row 4: email 'broken@' is not a valid address", cells: ['broken@', 'Nowhere'] },
      { row: 8, status: 'duplicate', reason: 'row 8: same email as row 2', cells: ['ADA@example.com', 'Analytical again'] },
    ]);
    expect(p.store.run(event.run_id)?.columns).toEqual([
      { original: 'Email', canonical: 'email' },
      { original: 'Company', canonical: 'company' },
    ]);
    expect(p.outbox.events('run.completed')).toEqual([]); // leads are waiting
    expect(p.notifier.notified).toEqual([event.run_id]);
    expect(p.files.has(runFileKey(event.run_id))).toBe(false); // personal data not kept
  });

  it('completes at once a run with nothing to do: no valid lead (failed), or every lead skipped (completed)', async () => {
    const p = inMemoryPipeline();
    const noValid = await submitted(p, 'Email,Company\nbroken@,Nowhere\nalso-broken,Nope');
    await extraction(p).handle(noValid, handlerContext());
    expect(p.store.run(noValid.run_id)).toMatchObject({ status: 'failed', errorMessage: expect.stringContaining('no valid leads') as unknown });
    expect(p.outbox.events('run.completed')).toEqual([{ type: 'run.completed', run_id: noValid.run_id, campaign_id: noValid.campaign_id, user_id: noValid.user_id, status: 'failed' }]);

    // An earlier run personalized both leads; a new run of the same file has nothing to do.
    const userId = crypto.randomUUID();
    const earlier = await personalizingRun(p, ['ada@example.com', 'bob@example.com'], { userId });
    for (const leadId of earlier.pending) {
      await p.uow.commit(p.store.saveResearch(leadId, earlier.run.runId, { text: 't', citations: [], model: 'm' }, '0.000000'));
      await p.uow.commit(p.store.saveDraft(leadId, earlier.run.runId, { message: 'm', basis: 'b', model: 'm' }, '0.000000'));
      await p.uow.commit(p.store.countOutcome(leadId, earlier.run.runId, DEFAULT_KPI_RATES));
    }
    p.outbox.clear();
    const again = await submitted(p, 'Email,Company\nada@example.com,A\nbob@example.com,B', { userId, campaignId: earlier.run.campaignId });
    await extraction(p).handle(again, handlerContext());
    expect(p.store.run(again.run_id)).toMatchObject({ status: 'completed', skipped: 2, errorMessage: null });
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: again.run_id, campaign_id: again.campaign_id, user_id: userId, status: 'completed' }]);
  });

  it('announces only the leads an earlier run did not personalize, and counts the others as skipped', async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const earlier = await personalizingRun(p, ['ada@example.com', 'bob@example.com'], { userId });
    const [ada, bob] = earlier.pending as [string, string];
    await p.uow.commit(p.store.saveResearch(ada, earlier.run.runId, { text: 't', citations: [], model: 'm' }, '0.000000'));
    await p.uow.commit(p.store.saveDraft(ada, earlier.run.runId, { message: 'm', basis: 'b', model: 'm' }, '0.000000'));
    await p.uow.commit(p.store.saveFailed(bob, earlier.run.runId, 'gave up'));
    p.outbox.clear();

    const event = await submitted(p, FILE, { userId, campaignId: earlier.run.campaignId });
    await extraction(p).handle(event, handlerContext());

    const announced = p.outbox.events('lead.extracted').map((e) => ('lead_id' in e ? e.lead_id : null));
    expect(announced).toHaveLength(4);
    expect(announced).not.toContain(ada);
    expect(announced).toContain(bob); // failed before: tried again
    expect(p.store.lead(ada)).toMatchObject({ runId: earlier.run.runId, status: 'personalized' });
    expect(p.store.lead(bob)).toMatchObject({ runId: event.run_id, status: 'pending', attempts: 0 });
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'personalizing', valid: 5, skipped: 1 });
  });

  it("stores the leads on the owner's suppression list suppressed, with why: no event, counted for the run, not processed", async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    p.store.addSuppression(userId, 'bob@example.com');
    p.store.addSuppression(userId, 'example.com'); // would match every lead: the address is the closer reason for bob
    p.store.addSuppression(crypto.randomUUID(), 'cy@example.com'); // another user's list changes nothing
    const event = await submitted(p, 'Email,Company,Website\nada@acme.io,Acme,\nbob@example.com,Bobcat,\ncy@other.org,Cyan,https://www.example.com/\ndi@other.org,Dial,dial.io', { userId });
    p.outbox.clear();

    await extraction(p).handle(event, handlerContext());

    const leads = p.store.leadsOfRun(event.run_id);
    expect(leads.map((lead) => [lead.email, lead.status, lead.error])).toEqual([
      ['ada@acme.io', 'pending', null],
      ['bob@example.com', 'suppressed', 'Suppressed: the email address is on your suppression list.'],
      ['cy@other.org', 'suppressed', "Suppressed: the website's domain example.com is on your suppression list."],
      ['di@other.org', 'pending', null],
    ]);
    expect(leads.filter((lead) => lead.status === 'suppressed').every((lead) => lead.countedRunId === event.run_id && lead.settledAt !== null)).toBe(true);
    expect(p.outbox.events('lead.extracted').map((e) => ('lead_id' in e ? e.lead_id : null))).toEqual([leads[0]!.id, leads[3]!.id]);
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'personalizing', valid: 4, suppressed: 2, processed: 0 });
  });

  it('completes a run whose every lead is suppressed, with a message, and makes no call', async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    p.store.addSuppression(userId, 'example.com');
    const event = await submitted(p, 'Email,Company\nada@example.com,A\nbob@eu.example.com,B', { userId });
    p.outbox.clear();

    await extraction(p).handle(event, handlerContext());

    expect(p.outbox.events('lead.extracted')).toEqual([]);
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'completed', suppressed: 2, processed: 0, errorMessage: expect.stringContaining('2 leads are suppressed') as unknown });
    expect(p.outbox.events('run.completed')).toHaveLength(1);
    expect(p.store.metrics(userId).leadsPersonalized).toBe(0);
  });

  it("with skip_personalized_within_days, suppresses leads personalized in another of the owner's campaigns within the window", async () => {
    const p = inMemoryPipeline();
    const userId = crypto.randomUUID();
    const other = await personalizingRun(p, ['ada@example.com', 'bob@example.com'], { userId, campaignName: 'Spring push' });
    const [ada, bob] = other.pending as [string, string];
    for (const lead of [ada, bob]) {
      await p.uow.commit(p.store.saveResearch(lead, other.run.runId, { text: 't', citations: [], model: 'm' }, '0.000000'));
    }
    await p.uow.commit(p.store.saveDraft(ada, other.run.runId, { message: 'm', basis: 'b', model: 'm' }, '0.000000'));
    await p.uow.commit(p.store.saveDraft(bob, other.run.runId, { message: 'm', basis: 'b', model: 'm' }, '0.000000', 'too long')); // needs review: not shipped
    // Someone else's history is not the owner's.
    const stranger = await personalizingRun(p, ['cy@example.com'], { campaignName: 'Theirs' });
    await p.uow.commit(p.store.saveResearch(stranger.pending[0]!, stranger.run.runId, { text: 't', citations: [], model: 'm' }, '0.000000'));
    await p.uow.commit(p.store.saveDraft(stranger.pending[0]!, stranger.run.runId, { message: 'm', basis: 'b', model: 'm' }, '0.000000'));
    p.outbox.clear();

    const event = await submitted(p, 'Email,Company\nada@example.com,A\nbob@example.com,B\ncy@example.com,C', { userId, options: { skip_personalized_within_days: '30' } });
    await extraction(p).handle(event, handlerContext());

    const leads = p.store.leadsOfRun(event.run_id);
    expect(leads.map((lead) => [lead.email, lead.status])).toEqual([
      ['ada@example.com', 'suppressed'],
      ['bob@example.com', 'pending'],
      ['cy@example.com', 'pending'],
    ]);
    expect(leads[0]!.error).toMatch(/^Suppressed: personalized in campaign "Spring push" on \d{4}-\d{2}-\d{2} \(skip_personalized_within_days: within the last 30 days\)\.$/);

    // Kept on the campaign: its next run skips them too, until the option is set to 0.
    const again = await submitted(p, 'Email,Company\nada@example.com,A', { userId, campaignId: event.campaign_id });
    await extraction(p).handle(again, handlerContext());
    expect(p.store.leadsOfRun(again.run_id).map((lead) => lead.status)).toEqual(['suppressed']);
    const off = await submitted(p, 'Email,Company\nada@example.com,A', { userId, campaignId: event.campaign_id, options: { skip_personalized_within_days: '0' } });
    await extraction(p).handle(off, handlerContext());
    expect(p.store.leadsOfRun(off.run_id).map((lead) => lead.status)).toEqual(['pending']);
  });

  it('checks skip_personalized_within_days at submission', async () => {
    const { extraction: declaration } = await import('../../../src/app/consumers/extraction.ts');
    const option = declaration.campaignOptions?.find((candidate) => candidate.field === 'skip_personalized_within_days');
    expect(option).toBeDefined();
    const ports = pipelinePorts(inMemoryPipeline());
    await expect(option!.check(' 30 ', ports, {})).resolves.toBe('30');
    await expect(option!.check('0', ports, {})).resolves.toBe('0');
    for (const bad of ['3651', 'ten', '-1', '2.5']) {
      await expect(option!.check(bad, ports, {})).rejects.toThrow('skip_personalized_within_days must be a whole number of days from 1 to 3650 (0 turns it off)');
    }
  });

  it('fails the run whose file is gone, once, and says why', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p, null);
    p.outbox.clear();
    const context = handlerContext();
    await extraction(p).handle(event, context);
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'failed', errorMessage: FILE_GONE_MESSAGE });
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: event.run_id, campaign_id: event.campaign_id, user_id: event.user_id, status: 'failed' }]);
    expect(p.notifier.notified).toEqual([event.run_id]);
    expect(logged(context.log, 'missing from the object store', 'warn')).toHaveLength(1);

    // A redelivery finds the run ended: nothing more.
    await extraction(p).handle(event, handlerContext());
    expect(p.outbox.events()).toHaveLength(1);
  });

  it('leaves a run alone when its file was discarded by a concurrent delivery that finished it', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p, null);
    const files: LeadFileStore = {
      put: (key, file, meta) => p.files.put(key, file, meta),
      delete: (key) => p.files.delete(key),
      // The other delivery finishes the run (and discards the file) while this one looks for it.
      get: async (key) => {
        await p.uow.commit(p.store.finishExtraction(event.run_id, { report: { total_rows: 1, valid: 1, duplicates: 0, rejected: [], columns: [], demo_excluded: 0 }, columns: [], skipped: 0 }));
        throw new FileNotFoundError(key);
      },
    };
    p.outbox.clear();
    await extraction(p, { files }).handle(event, handlerContext());
    expect(p.store.run(event.run_id)?.status).toBe('personalizing');
    expect(p.outbox.events()).toEqual([]);
  });

  it('fails a run whose file cannot be imported, with the import problem, and discards the file', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p, 'Name,Company\nAda,Analytical Engines');
    await extraction(p).handle(event, handlerContext());
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'failed', errorMessage: expect.stringMatching(/email/i) as unknown });
    expect(p.outbox.events('run.completed')).toHaveLength(1);
    expect(p.files.has(runFileKey(event.run_id))).toBe(false);

    const empty = await submitted(p, '');
    await extraction(p).handle(empty, handlerContext());
    expect(p.store.run(empty.run_id)).toMatchObject({ status: 'failed', errorMessage: expect.stringContaining('empty') as unknown });
  });

  it('fails the run with no lead stored or released when the problem is at the end of the file', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p, `Email,Company\nada@example.com,A\nbob@example.com,B\ncy@example.com,${'x'.repeat(200)}`);
    p.outbox.clear();
    await extraction(p, { extractionBatchSize: 1, importLimits: { ...DEFAULT_IMPORT_LIMITS, maxCellChars: 100 } }).handle(event, handlerContext());
    expect(p.outbox.events('lead.extracted')).toEqual([]);
    expect(p.store.leadsOfRun(event.run_id)).toEqual([]);
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'failed', errorMessage: 'Row 4 has a cell of 200 characters; a cell may hold at most 100.' });
    expect(p.outbox.events('run.completed')).toHaveLength(1);
  });

  it('never releases a lead twice, however late the retries: each lead.extracted goes out once, with its lead', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    p.outbox.clear();
    // Every delivery fails on the second batch, the first batch committed each time.
    let batches = 0;
    p.uow.failCommits((name) => (name === 'storeLeads' && ++batches % 2 === 0 ? new Error('database restarting') : undefined));
    for (let delivery = 1; delivery <= 3; delivery += 1) {
      await expect(extraction(p, { extractionBatchSize: 1 }).handle(event, handlerContext({ deliveryCount: delivery }))).rejects.toThrow('database restarting');
    }
    p.uow.failCommits(undefined);
    await extraction(p, { extractionBatchSize: 1 }).handle(event, handlerContext({ deliveryCount: 4 }));

    const leads = p.store.leadsOfRun(event.run_id);
    const announced = p.outbox.events('lead.extracted').map((e) => ('lead_id' in e ? e.lead_id : ''));
    expect(announced.sort()).toEqual(leads.map((lead) => lead.id).sort());
  });

  it('fails the leads it had released when it gives up on the run: none is paid for, none counted', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    let batches = 0;
    p.uow.failCommits((name) => (name === 'storeLeads' && ++batches === 2 ? new Error('database restarting') : undefined));
    await expect(extraction(p).handle(event, handlerContext())).rejects.toThrow('database restarting');
    p.uow.failCommits(undefined);
    const stored = p.store.leadsOfRun(event.run_id);
    expect(stored.length).toBeGreaterThan(0);

    await commitDecision(p.uow, await extraction(p).giveUp(event, 'database restarting', handlerContext({ deliveryCount: 5 })));

    expect(p.store.run(event.run_id)).toMatchObject({ status: 'failed', processed: 0 });
    for (const lead of p.store.leadsOfRun(event.run_id)) expect(lead).toMatchObject({ status: 'failed', error: RUN_ENDED_REASON, countedRunId: null });
  });

  it('is idempotent on redelivery after a crash mid-file: each lead stored once, totals the same, progress kept', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    p.outbox.clear();
    // The database fails on the second batch: the delivery fails, with the first batch committed.
    let batches = 0;
    p.uow.failCommits((name) => (name === 'storeLeads' && ++batches === 2 ? new Error('database restarting') : undefined));
    await expect(extraction(p).handle(event, handlerContext())).rejects.toThrow('database restarting');
    p.uow.failCommits(undefined);
    expect(p.store.run(event.run_id)?.status).toBe('extracting');
    expect(p.files.has(runFileKey(event.run_id))).toBe(true); // kept for the redelivery
    // The first batch is in; the second is not; the third may be (two commits run at once).
    const first = p.store.leadsOfRun(event.run_id);
    expect(first.map((lead) => lead.row)).toEqual(expect.arrayContaining([2, 3]));
    expect(first.map((lead) => lead.row)).not.toContain(4);
    // Research moved one of them on meanwhile.
    await p.uow.commit(p.store.saveResearch(first[0]!.id, event.run_id, { text: 't', citations: [], model: 'm' }, '0.000000'));

    await extraction(p).handle(event, handlerContext());

    const leads = p.store.leadsOfRun(event.run_id);
    expect(leads).toHaveLength(5);
    expect(leads[0]).toMatchObject({ id: first[0]!.id, status: 'researched' });
    expect(leads[1]!.id).toBe(first[1]!.id);
    const announced = p.outbox.committed('lead.extracted').map((e) => ('lead_id' in e ? e.lead_id : null));
    // The researched lead is not announced again; the other one of the first batch is, under the same event id.
    expect(announced.filter((id) => id === first[0]!.id)).toHaveLength(1);
    expect(new Set(announced)).toEqual(new Set(leads.map((lead) => lead.id)));
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'personalizing', valid: 5, totalRows: 7, skipped: 0 });

    // Once past extraction, a redelivery changes nothing.
    const commits = p.uow.commits.length;
    await extraction(p).handle(event, handlerContext());
    expect(p.uow.commits.slice(commits).map((commit) => [commit.name, commit.result])).toEqual([['beginExtraction', null]]);
  });

  it('gives the message back between batches when the process stops', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    const stop = new AbortController();
    stop.abort(new Error('shutting down'));
    await expect(extraction(p).handle(event, handlerContext({ signal: stop.signal }))).rejects.toThrow('shutting down');
    expect(p.store.run(event.run_id)?.status).toBe('extracting');
    expect(p.store.counts().leads).toBe(0);
    expect(p.files.has(runFileKey(event.run_id))).toBe(true);
  });

  it('giveUp fails a run still being extracted, once, with a message for its owner', async () => {
    const p = inMemoryPipeline();
    const event = await submitted(p);
    p.outbox.clear();
    const context = handlerContext({ deliveryCount: 5, maxDeliver: 5 });
    expect(await extraction(p).giveUp(event, 'database down', context)).toBeNull();
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'failed', errorMessage: EXTRACTION_FAILED_MESSAGE });
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: event.run_id, campaign_id: event.campaign_id, user_id: event.user_id, status: 'failed' }]);
    expect(logged(context.log, 'extraction failed on every delivery', 'error')[0]?.fields).toMatchObject({ reason: 'database down' });

    await extraction(p).giveUp(event, 'again', handlerContext());
    expect(p.outbox.events()).toHaveLength(1);

    // A run past extraction is left to its leads.
    const done = await submitted(p);
    await extraction(p).handle(done, handlerContext());
    await extraction(p).giveUp(done, 'late failure', handlerContext());
    expect(p.store.run(done.run_id)?.status).toBe('personalizing');
  });
});
