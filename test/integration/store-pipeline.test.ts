/**
 * The campaign store's writes on the real PostgreSQL, as the pipeline drives them: submission,
 * extraction, the lead transitions, exactly-once counting, run completion and the reconciler's
 * queries. Each redelivery case is exercised by calling the same method again.
 */
import { randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import type { ImportReport, Lead } from '../../domain/leads/lead.ts';
import { getTracer, startTelemetry } from '../../adapters/telemetry/tracing.ts';
import type { RunToExtract } from '../../ports/extraction-store.port.ts';
import { CampaignNotFoundError } from '../../ports/submission-store.port.ts';
import type { Draft, Research } from '../../ports/providers.port.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();

function report(valid: number, rejected = 0, duplicates = 0): ImportReport {
  return {
    total_rows: valid + rejected + duplicates,
    valid,
    duplicates,
    rejected: Array.from({ length: rejected }, (_, index) => ({ row: 100 + index, reason: 'no email' })),
    columns: COLUMNS,
    demo_excluded: 0,
  };
}

const RESEARCH: Research = {
  text: 'Acme builds rockets.',
  citations: [{ url: 'https://acme.example/about', title: 'About Acme' }, { url: 'https://news.example/acme' }],
  model: 'sandbox/research',
  usage: { inputTokens: 12, outputTokens: 34 },
};

const DRAFT: Draft = { message: 'Loved the rocket launch.', basis: 'Acme builds rockets.', model: 'sandbox/writer' };

/** A run of a new campaign of `userId`, extracting. */
async function extractingRun(userId: string = randomUUID(), campaignId?: string): Promise<RunToExtract> {
  const { runId } = await t.store.createRun({
    userId,
    demo: false,
    fileName: 'leads.csv',
    ...(campaignId === undefined ? { campaignName: 'Q3 outbound' } : { campaignId }),
  });
  const run = await t.store.beginExtraction(runId);
  if (run === null) throw new Error('the new run cannot be extracted');
  return run;
}

/** A run with these leads stored and its extraction finished: `personalizing`. */
async function personalizingRun(emails: readonly string[], userId?: string, campaignId?: string) {
  const run = await extractingRun(userId, campaignId);
  const stored = await t.store.storeLeads(run, emails.map((email, index) => lead(email, index + 2)));
  await t.store.finishExtraction(run.runId, { report: report(emails.length), columns: COLUMNS, skipped: stored.skipped });
  return { run, ...stored };
}

async function personalize(leadId: string, runId: string): Promise<void> {
  expect(await t.store.saveResearch(leadId, runId, RESEARCH)).toBe(true);
  expect(await t.store.savePersonalized(leadId, runId, DRAFT)).toBe(true);
}

async function runRow(runId: string) {
  const [row] = await t.db.sql`select * from campaign_runs where id = ${runId}`;
  if (row === undefined) throw new Error('no such run');
  return row;
}

async function leadRow(leadId: string) {
  const [row] = await t.db.sql`select * from leads where id = ${leadId}`;
  if (row === undefined) throw new Error('no such lead');
  return row;
}

/** Moves a row's updated_at into the past, past the touch trigger (replica mode skips triggers). */
async function backdate(table: 'campaign_runs' | 'leads', id: string, minutes: number): Promise<void> {
  await t.db.sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update ${tx(table)} set updated_at = now() - make_interval(mins => ${minutes}) where id = ${id}`;
  });
}

describe('createRun', () => {
  it('records a new campaign and a queued run with its file key and prompts', async () => {
    const userId = randomUUID();
    const { runId, campaignId } = await t.store.createRun({
      userId,
      campaignName: 'Launch week',
      demo: true,
      fileName: 'apollo export.csv',
      researchPrompt: 'Find their latest launch.',
      personalizationPrompt: 'Be brief.',
    });
    const [campaign] = await t.db.sql`select user_id, name from campaigns where id = ${campaignId}`;
    expect(campaign).toEqual({ user_id: userId, name: 'Launch week' });
    expect(await runRow(runId)).toMatchObject({
      campaign_id: campaignId,
      user_id: userId,
      status: 'queued',
      demo: true,
      file_name: 'apollo export.csv',
      file_ref: `runs/${runId}`,
      research_prompt: 'Find their latest launch.',
      personalization_prompt: 'Be brief.',
    });
  });

  it("adds a run to one of the user's campaigns", async () => {
    const userId = randomUUID();
    const first = await t.store.createRun({ userId, campaignName: 'Repeat', demo: false, fileName: 'a.csv' });
    const second = await t.store.createRun({ userId, campaignId: first.campaignId, demo: false, fileName: 'b.csv' });
    expect(second.campaignId).toBe(first.campaignId);
    expect(second.runId).not.toBe(first.runId);
    expect(await runRow(second.runId)).toMatchObject({ research_prompt: null, personalization_prompt: null, file_name: 'b.csv' });
  });

  it("keeps a campaign's options for its later runs; a later run's value replaces the stored one", async () => {
    const userId = randomUUID();
    const options = async (campaignId: string) => (await t.db.sql<{ options: unknown }[]>`select options from campaigns where id = ${campaignId}`)[0]?.options;
    const first = await t.store.createRun({ userId, campaignName: 'Hooked', demo: false, fileName: 'a.csv', options: { webhook_url: 'https://a.example/hook' } });
    expect(await options(first.campaignId)).toEqual({ webhook_url: 'https://a.example/hook' });
    await t.store.createRun({ userId, campaignId: first.campaignId, demo: false, fileName: 'b.csv' });
    expect(await options(first.campaignId)).toEqual({ webhook_url: 'https://a.example/hook' });
    await t.store.createRun({ userId, campaignId: first.campaignId, demo: false, fileName: 'c.csv', options: { webhook_url: 'https://b.example/hook', crm_list: '7' } });
    expect(await options(first.campaignId)).toEqual({ webhook_url: 'https://b.example/hook', crm_list: '7' });
  });

  it("refuses another user's campaign, an unknown one and a malformed id, writing nothing", async () => {
    const owner = randomUUID();
    const { campaignId } = await t.store.createRun({ userId: owner, campaignName: 'Mine', demo: false, fileName: 'a.csv' });
    const [before] = await t.db.sql<{ count: string }[]>`select count(*) from campaign_runs`;
    for (const target of [campaignId, randomUUID(), 'not-a-uuid']) {
      await expect(
        t.store.createRun({ userId: randomUUID(), campaignId: target, demo: false, fileName: 'x.csv' }),
      ).rejects.toBeInstanceOf(CampaignNotFoundError);
    }
    const [after] = await t.db.sql<{ count: string }[]>`select count(*) from campaign_runs`;
    expect(after!.count).toBe(before!.count);
  });
});

describe('extraction', () => {
  it('begins a queued run, again for a redelivery, and never a run past extraction', async () => {
    const userId = randomUUID();
    const { runId, campaignId } = await t.store.createRun({ userId, campaignName: 'X', demo: true, fileName: 'a.csv' });
    const expected = { runId, campaignId, userId, demo: true, options: {} };
    expect(await t.store.beginExtraction(runId)).toEqual(expected);
    expect(await t.store.beginExtraction(runId)).toEqual(expected);
    expect((await runRow(runId)).status).toBe('extracting');
    await t.store.finishExtraction(runId, { report: report(0), columns: COLUMNS, skipped: 0 });
    expect(await t.store.beginExtraction(runId)).toBeNull();
    expect(await t.store.beginExtraction(randomUUID())).toBeNull();
  });

  it('stores a batch: every new lead is pending, in file order, with its fields intact', async () => {
    const run = await extractingRun();
    const tricky = 'He said "hi", {braces} \\ back\\slash, NULL, \'quote\', ünïcödé 🚀\nnew line';
    const leads: Lead[] = [
      lead('zoe@example.com', 2),
      { ...lead('ada@example.com', 3, 'Analytical Engines'), fields: [{ header: 'Email', value: 'Ada@Example.com' }, { header: 'Notes', value: tricky }, { header: 'Notes', value: '' }] },
      lead('bob@example.com', 4),
    ];
    const stored = await t.store.storeLeads(run, leads);
    expect(stored.skipped).toBe(0);
    const rows = await t.db.sql`select id, row_number, email, company, canonical, fields, status, run_id, user_id from leads where run_id = ${run.runId}`;
    const byRow = new Map(rows.map((row) => [row.row_number as number, row]));
    expect(stored.pending).toEqual([byRow.get(2)!.id, byRow.get(3)!.id, byRow.get(4)!.id]);
    expect(byRow.get(3)).toMatchObject({
      email: 'ada@example.com',
      company: 'Analytical Engines',
      canonical: { email: 'ada@example.com', company: 'Analytical Engines' },
      fields: [['Email', 'Ada@Example.com'], ['Notes', tricky], ['Notes', '']],
      status: 'pending',
      user_id: run.userId,
    });
  });

  it('keeps the progress of leads the run owns when the same batch is stored again (a redelivery)', async () => {
    const run = await extractingRun();
    const batch = [lead('one@example.com', 2), lead('two@example.com', 3), lead('three@example.com', 4)];
    const first = await t.store.storeLeads(run, batch);
    const [researchedId, personalizedId] = first.pending as [string, string, string];
    expect(await t.store.saveResearch(researchedId, run.runId, RESEARCH)).toBe(true);
    await personalize(personalizedId, run.runId);

    const again = await t.store.storeLeads(run, batch);
    // Each lead's lead.extracted committed with its first store: a redelivery releases none again,
    // whatever their status (a re-publish past the broker's de-duplication window restarted leads).
    expect(again).toEqual({ pending: [], skipped: 0, stopped: false });
    expect(await leadRow(researchedId)).toMatchObject({ status: 'researched', research: RESEARCH.text, attempts: 1 });
    expect(await leadRow(personalizedId)).toMatchObject({ status: 'personalized', message: DRAFT.message });
    const [count] = await t.db.sql<{ count: string }[]>`select count(*) from leads where run_id = ${run.runId}`;
    expect(count!.count).toBe('3');
  });

  it('skips leads personalized by an earlier run and takes the others over, reset', async () => {
    const userId = randomUUID();
    const earlier = await personalizingRun(['done@example.com', 'broken@example.com', 'left@example.com'], userId);
    const [doneId, brokenId, leftId] = earlier.pending as [string, string, string];
    await personalize(doneId, earlier.run.runId);
    expect(await t.store.saveResearch(brokenId, earlier.run.runId, RESEARCH)).toBe(true);
    await t.store.recordAttempt(brokenId, earlier.run.runId);
    expect(await t.store.saveFailed(brokenId, earlier.run.runId, 'personalization failed')).toBe(true);
    expect(await t.store.countOutcome(doneId, earlier.run.runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.countOutcome(brokenId, earlier.run.runId, DEFAULT_KPI_RATES)).toBe(true);

    const later = await extractingRun(userId, earlier.run.campaignId);
    const batch = [lead('done@example.com', 2), lead('broken@example.com', 3, 'Broken Inc'), lead('new@example.com', 4)];
    const stored = await t.store.storeLeads(later, batch);
    expect(stored.skipped).toBe(1);
    expect(stored.pending).toHaveLength(2);
    expect(stored.pending[0]).toBe(brokenId);
    expect(await t.store.storeLeads(later, batch)).toEqual({ pending: [], skipped: 1, stopped: false });

    expect(await leadRow(doneId)).toMatchObject({ run_id: earlier.run.runId, status: 'personalized', counted_run_id: earlier.run.runId });
    expect(await leadRow(brokenId)).toMatchObject({
      run_id: later.runId,
      status: 'pending',
      company: 'Broken Inc',
      research: null,
      citations: null,
      research_model: null,
      error: null,
      attempts: 0,
      settled_at: null,
      counted_run_id: null,
      usage: null,
    });
    // The earlier run's events for a lead it lost change nothing.
    expect(await t.store.leadWork(brokenId, earlier.run.runId)).toBeNull();
    expect(await t.store.saveFailed(brokenId, earlier.run.runId, 'late')).toBe(false);
    // And it still ends once what it owns is counted, though it never counted the lead it lost.
    expect(await t.store.completeIfSettled(earlier.run.runId)).toBeNull();
    expect(await t.store.saveFailed(leftId, earlier.run.runId, 'gave up')).toBe(true);
    expect(await t.store.countOutcome(leftId, earlier.run.runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.completeIfSettled(earlier.run.runId)).toMatchObject({ outcome: { status: 'completed', errorMessage: null } });
  });

  it('refuses a batch that repeats an email, storing nothing', async () => {
    const run = await extractingRun();
    await expect(t.store.storeLeads(run, [lead('twice@example.com', 2), lead('twice@example.com', 3)])).rejects.toThrow('repeats an email');
    const rows = await t.db.sql`select 1 from leads where run_id = ${run.runId}`;
    expect(rows).toHaveLength(0);
  });

  it('finishes with absolute totals, so a second finish writes the same', async () => {
    const run = await extractingRun();
    const result = { report: report(2, 3, 1), columns: COLUMNS, skipped: 1 };
    await t.store.finishExtraction(run.runId, result);
    const first = await runRow(run.runId);
    expect(first).toMatchObject({
      status: 'personalizing',
      total_rows: 6,
      valid: 2,
      duplicates: 1,
      rejected_rows: 3,
      skipped: 1,
      columns: COLUMNS,
      import_report: result.report,
    });
    await t.store.finishExtraction(run.runId, result);
    const second = await runRow(run.runId);
    expect({ ...second, updated_at: null }).toEqual({ ...first, updated_at: null });
  });

  it('fails a run that has not ended, once', async () => {
    const run = await extractingRun();
    expect(await t.store.failRun(run.runId, 'The uploaded file is gone.')).toEqual({
      runId: run.runId,
      campaignId: run.campaignId,
      userId: run.userId,
      outcome: { status: 'failed', errorMessage: 'The uploaded file is gone.' },
    });
    expect(await runRow(run.runId)).toMatchObject({ status: 'failed', error_message: 'The uploaded file is gone.' });
    expect((await runRow(run.runId)).completed_at).toBeInstanceOf(Date);
    expect(await t.store.failRun(run.runId, 'again')).toBeNull();
    await t.store.finishExtraction(run.runId, { report: report(1), columns: COLUMNS, skipped: 0 });
    expect((await runRow(run.runId)).status).toBe('failed');
  });
});

describe('lead transitions', () => {
  it('move pending → researched → personalized once each, guarded by run and status', async () => {
    const { run, pending } = await personalizingRun(['step@example.com']);
    const leadId = pending[0]!;
    const otherRun = randomUUID();

    expect(await t.store.savePersonalized(leadId, run.runId, DRAFT)).toBe(false);
    expect(await t.store.saveResearch(leadId, otherRun, RESEARCH)).toBe(false);
    expect(await t.store.saveResearch(leadId, run.runId, RESEARCH)).toBe(true);
    expect(await t.store.saveResearch(leadId, run.runId, { ...RESEARCH, text: 'second' })).toBe(false);

    const work = await t.store.leadWork(leadId, run.runId);
    expect(work).toEqual({
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
      researchPrompt: null,
      personalizationPrompt: null,
      allowQuestions: false,
      outputs: [],
      sandbox: false,
      rejectedDraft: null,
    });

    expect(await t.store.savePersonalized(leadId, run.runId, DRAFT)).toBe(true);
    expect(await t.store.savePersonalized(leadId, run.runId, { ...DRAFT, message: 'second' })).toBe(false);
    expect(await t.store.saveFailed(leadId, run.runId, 'too late')).toBe(false);
    expect(await leadRow(leadId)).toMatchObject({
      status: 'personalized',
      message: DRAFT.message,
      message_basis: DRAFT.basis,
      model: DRAFT.model,
      research_model: RESEARCH.model,
      error: null,
      usage: { research: RESEARCH.usage },
      attempts: 2, // each successful save counts its attempt; the refused ones count nothing
    });
    expect((await leadRow(leadId)).settled_at).toBeInstanceOf(Date);
    expect(await t.store.leadWork(leadId, otherRun)).toBeNull();
    expect(await t.store.leadWork(randomUUID(), run.runId)).toBeNull();
  });

  it('fail a lead that is not final, with the reason, and count attempts only while it is not', async () => {
    const { run, pending } = await personalizingRun(['fail@example.com']);
    const leadId = pending[0]!;
    await t.store.recordAttempt(leadId, run.runId);
    await t.store.recordAttempt(leadId, run.runId);
    expect(await t.store.saveFailed(leadId, run.runId, 'research failed after 2 attempts')).toBe(true);
    expect(await t.store.saveFailed(leadId, run.runId, 'again')).toBe(false);
    await t.store.recordAttempt(leadId, run.runId);
    expect(await leadRow(leadId)).toMatchObject({ status: 'failed', error: 'research failed after 2 attempts', attempts: 2 });
    const work = await t.store.leadWork(leadId, run.runId);
    expect(work).toMatchObject({ status: 'failed', research: null });
  });

  it('carry the run prompts to the workers', async () => {
    const userId = randomUUID();
    const { runId } = await t.store.createRun({
      userId,
      campaignName: 'Prompts',
      demo: false,
      fileName: 'a.csv',
      researchPrompt: 'Look for funding news.',
      personalizationPrompt: 'Mention the funding.',
    });
    const run = await t.store.beginExtraction(runId);
    const { pending } = await t.store.storeLeads(run!, [lead('prompt@example.com', 2)]);
    expect(await t.store.leadWork(pending[0]!, runId)).toMatchObject({
      researchPrompt: 'Look for funding news.',
      personalizationPrompt: 'Mention the funding.',
      outputs: [],
    });
  });

  it('carry the run\'s custom outputs to the writer, keep the written ones with the lead, and reset them when a later run takes it over', async () => {
    const userId = randomUUID();
    const templateId = randomUUID();
    const outputs = [{ name: 'subject_line', instruction: 'A subject line about {{Company}}', maxWords: 8 }];
    const { runId, campaignId } = await t.store.createRun({
      userId,
      campaignName: 'Outputs',
      demo: false,
      fileName: 'a.csv',
      personalizationPrompt: 'Hi {{first_name | "there"}}',
      outputs,
      templateId,
    });
    const [stored] = await t.db.sql`select outputs, template_id from campaign_runs where id = ${runId}`;
    expect(stored).toEqual({ outputs: [{ name: 'subject_line', instruction: 'A subject line about {{Company}}', max_words: 8 }], template_id: templateId });

    const run = await t.store.beginExtraction(runId);
    const leadId = (await t.store.storeLeads(run!, [lead('out@example.com', 2)])).pending[0]!;
    expect(await t.store.leadWork(leadId, runId)).toMatchObject({ outputs });
    await t.store.saveResearch(leadId, runId, RESEARCH);
    expect(await t.store.saveNeedsReview(leadId, runId, { ...DRAFT, outputs: { subject_line: 'Acme news' } }, 'needs review: x')).toBe(true);
    expect((await leadRow(leadId)).outputs).toEqual({ subject_line: 'Acme news' });

    const { runId: laterRunId } = await t.store.createRun({ userId, campaignId, demo: false, fileName: 'b.csv' });
    const later = await t.store.beginExtraction(laterRunId);
    await t.store.storeLeads(later!, [lead('out@example.com', 2)]);
    expect(await leadRow(leadId)).toMatchObject({ run_id: laterRunId, status: 'pending', message: null, outputs: null });
    expect(await t.store.leadWork(leadId, laterRunId)).toMatchObject({ outputs: [] });
  });
});

describe('projection', () => {
  it('counts a personalized lead once: run, campaign and KPIs, exactly, and moves the run forward', async () => {
    const userId = randomUUID();
    const { run, pending } = await personalizingRun(['kpi@example.com'], userId);
    const leadId = pending[0]!;
    expect(await t.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES)).toBe(false); // not final yet
    await personalize(leadId, run.runId);
    await backdate('campaign_runs', run.runId, 30);
    const before = (await runRow(run.runId)).updated_at as Date;

    expect(await t.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES)).toBe(false);

    const after = await runRow(run.runId);
    expect(after).toMatchObject({ processed: 1, personalized: 1, failed: 0 });
    expect((after.updated_at as Date).getTime()).toBeGreaterThan(before.getTime());
    const [campaign] = await t.db.sql`select completed_count from campaigns where id = ${run.campaignId}`;
    expect(campaign).toEqual({ completed_count: 1 });
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 1, hours_saved: '0.02', money_saved: '0.04' });
  });

  it('counts concurrent deliveries of one outcome once', async () => {
    const userId = randomUUID();
    const { run, pending } = await personalizingRun(['race@example.com'], userId);
    await personalize(pending[0]!, run.runId);
    const results = await Promise.all(Array.from({ length: 6 }, () => t.store.countOutcome(pending[0]!, run.runId, DEFAULT_KPI_RATES)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 1, hours_saved: '0.02', money_saved: '0.04' });
  });

  it('adds KPIs as exact decimals over many leads, at the configured rates', async () => {
    const userId = randomUUID();
    const emails = Array.from({ length: 30 }, (_, index) => `lead${index}@example.com`);
    const { run, pending } = await personalizingRun(emails, userId);
    for (const leadId of pending) {
      await personalize(leadId, run.runId);
      await t.store.countOutcome(leadId, run.runId, { hoursPerLead: 0.1, moneyPerLead: 0.7 });
    }
    // 30 × 0.1 and 30 × 0.7 in binary floating point are 3.0000000000000013 and 20.999999999999996.
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 30, hours_saved: '3.00', money_saved: '21.00' });
  });

  it('counts a failed lead as failed, with no KPI', async () => {
    const userId = randomUUID();
    const { run, pending } = await personalizingRun(['nope@example.com'], userId);
    await t.store.saveFailed(pending[0]!, run.runId, 'rejected by the provider');
    expect(await t.store.countOutcome(pending[0]!, run.runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await runRow(run.runId)).toMatchObject({ processed: 1, personalized: 0, failed: 1 });
    const [campaign] = await t.db.sql`select completed_count from campaigns where id = ${run.campaignId}`;
    expect(campaign).toEqual({ completed_count: 0 });
    expect(await t.store.metrics(userId)).toEqual({ leads_personalized: 0, hours_saved: '0.00', money_saved: '0.00', updated_at: null });
  });

  it('completes a run once every lead is counted, and only once', async () => {
    const { run, pending } = await personalizingRun(['a@example.com', 'b@example.com']);
    const [a, b] = pending as [string, string];
    await personalize(a, run.runId);
    await t.store.countOutcome(a, run.runId, DEFAULT_KPI_RATES);
    expect(await t.store.completeIfSettled(run.runId)).toBeNull();
    await t.store.saveFailed(b, run.runId, 'gave up');
    expect(await t.store.completeIfSettled(run.runId)).toBeNull(); // final, but not counted yet
    await t.store.countOutcome(b, run.runId, DEFAULT_KPI_RATES);

    expect(await t.store.completeIfSettled(run.runId)).toEqual({
      runId: run.runId,
      campaignId: run.campaignId,
      userId: run.userId,
      outcome: { status: 'completed', errorMessage: null },
    });
    expect(await t.store.completeIfSettled(run.runId)).toBeNull();
    const row = await runRow(run.runId);
    expect(row).toMatchObject({ status: 'completed', error_message: null, processed: 2, personalized: 1, failed: 1 });
    expect(row.completed_at).toBeInstanceOf(Date);
  });

  it('fails a settled run where no lead was personalized, or with no valid lead', async () => {
    const { run, pending } = await personalizingRun(['x@example.com', 'y@example.com']);
    for (const leadId of pending) {
      await t.store.saveFailed(leadId, run.runId, 'provider down');
      await t.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES);
    }
    expect(await t.store.completeIfSettled(run.runId)).toMatchObject({
      outcome: { status: 'failed', errorMessage: 'No lead could be personalized (2 failed).' },
    });
    expect(await runRow(run.runId)).toMatchObject({ status: 'failed', error_message: 'No lead could be personalized (2 failed).' });

    const empty = await personalizingRun([]);
    expect((await t.store.completeIfSettled(empty.run.runId))?.outcome.status).toBe('failed');
  });

  it('completes a run whose every lead was skipped, and never one still extracting', async () => {
    const userId = randomUUID();
    const earlier = await personalizingRun(['only@example.com'], userId);
    await personalize(earlier.pending[0]!, earlier.run.runId);
    await t.store.countOutcome(earlier.pending[0]!, earlier.run.runId, DEFAULT_KPI_RATES);

    const later = await extractingRun(userId, earlier.run.campaignId);
    const stored = await t.store.storeLeads(later, [lead('only@example.com', 2)]);
    expect(stored).toEqual({ pending: [], skipped: 1, stopped: false });
    expect(await t.store.completeIfSettled(later.runId)).toBeNull();
    await t.store.finishExtraction(later.runId, { report: report(1), columns: COLUMNS, skipped: stored.skipped });
    expect(await t.store.completeIfSettled(later.runId)).toMatchObject({ outcome: { status: 'completed', errorMessage: null } });
  });
});

describe('batching (group commit)', () => {
  it('counts concurrent outcomes of two runs and two users exactly, each lead once, at each call\'s rates', async () => {
    const [userA, userB] = [randomUUID(), randomUUID()];
    const a = await personalizingRun(Array.from({ length: 12 }, (_, index) => `a${index}@example.com`), userA);
    const b = await personalizingRun(Array.from({ length: 8 }, (_, index) => `b${index}@example.com`), userB);
    await Promise.all(a.pending.map((leadId, index) => (index < 9 ? personalize(leadId, a.run.runId) : t.store.saveFailed(leadId, a.run.runId, 'gave up'))));
    await Promise.all(b.pending.map((leadId) => personalize(leadId, b.run.runId)));

    // Every lead twice (a redelivery racing the first delivery), all at once.
    const calls = [
      ...[...a.pending, ...a.pending].map((leadId) => t.store.countOutcome(leadId, a.run.runId, { hoursPerLead: 0.1, moneyPerLead: 0.3 })),
      ...[...b.pending, ...b.pending].map((leadId) => t.store.countOutcome(leadId, b.run.runId, { hoursPerLead: 0.5, moneyPerLead: 1 })),
    ];
    const counted = await Promise.all(calls);
    expect(counted.filter(Boolean)).toHaveLength(20);

    expect(await runRow(a.run.runId)).toMatchObject({ processed: 12, personalized: 9, failed: 3 });
    expect(await runRow(b.run.runId)).toMatchObject({ processed: 8, personalized: 8, failed: 0 });
    expect(await t.store.metrics(userA)).toMatchObject({ leads_personalized: 9, hours_saved: '0.90', money_saved: '2.70' });
    expect(await t.store.metrics(userB)).toMatchObject({ leads_personalized: 8, hours_saved: '4.00', money_saved: '8.00' });
    const [campaign] = await t.db.sql`select completed_count from campaigns where id = ${a.run.campaignId}`;
    expect(campaign).toEqual({ completed_count: 9 });
  });

  it('hands a run\'s completion to one of many concurrent callers', async () => {
    const { run, pending } = await personalizingRun(['one@example.com', 'two@example.com']);
    for (const leadId of pending) {
      await personalize(leadId, run.runId);
      await t.store.countOutcome(leadId, run.runId, DEFAULT_KPI_RATES);
    }
    const other = await personalizingRun(['open@example.com']);
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => t.store.completeIfSettled(run.runId)),
      t.store.completeIfSettled(other.run.runId),
    ]);
    expect(results.filter((result) => result !== null)).toEqual([
      { runId: run.runId, campaignId: run.campaignId, userId: run.userId, outcome: { status: 'completed', errorMessage: null } },
    ]);
    expect(await runRow(other.run.runId)).toMatchObject({ status: 'personalizing' });
  });

  it('fails only the statement PostgreSQL rejects, not the others batched with it', async () => {
    const { run, pending } = await personalizingRun(Array.from({ length: 6 }, (_, index) => `batch${index}@example.com`));
    const [bad, ...good] = pending as [string, ...string[]];
    // The first call runs at once, alone; the others wait for it and go as one batch, where
    // PostgreSQL rejects the save of a text holding a NUL character.
    const results = await Promise.allSettled([
      t.store.recordAttempt(good[0]!, run.runId),
      t.store.saveResearch(bad, run.runId, { ...RESEARCH, text: 'Acme \u0000 builds rockets.' }),
      ...good.map((leadId) => t.store.saveResearch(leadId, run.runId, RESEARCH)),
      ...good.slice(1).map((leadId) => t.store.recordAttempt(leadId, run.runId)),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', ...Array.from({ length: 9 }, () => 'fulfilled')]);
    const rows = await t.db.sql<{ id: string; status: string; attempts: number }[]>`
      select id, status, attempts from leads where run_id = ${run.runId}`;
    for (const row of rows) {
      // One attempt recorded and one counted by the save, each in its own statement of the batch.
      expect(row).toMatchObject(row.id === bad ? { status: 'pending', attempts: 0 } : { status: 'researched', attempts: 2 });
    }
  });

  it('commits the events of exactly the changes that committed, when a batch fails on its last statement', async () => {
    const { run, pending } = await personalizingRun(Array.from({ length: 6 }, (_, index) => `events${index}@example.com`));
    const bad = pending.at(-1)!;
    const good = pending.slice(0, -1);
    await t.db.sql`delete from outbox`;
    const research = (leadId: string, text: string) =>
      t.stores.uow.commit(t.stores.leadWork.saveResearch(leadId, run.runId, { ...RESEARCH, text }, '0'), (saved) =>
        saved ? [{ type: 'lead.researched' as const, run_id: run.runId, lead_id: leadId }] : [],
      );
    // The first call runs alone; the rest go as one batch whose last statement PostgreSQL rejects,
    // after the others have run and emitted their events.
    const results = await Promise.allSettled([
      t.store.recordAttempt(good[0]!, run.runId),
      ...good.map((leadId) => research(leadId, RESEARCH.text)),
      research(bad, 'Acme \u0000 builds rockets.'),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', ...good.map(() => 'fulfilled'), 'rejected']);
    const outbox = await t.db.sql<{ lead_id: string }[]>`select payload->>'lead_id' as lead_id from outbox where run_id = ${run.runId}`;
    // One event per lead saved, none for the rejected one, none twice (the failed batch left nothing behind).
    expect(outbox.map((row) => row.lead_id).sort()).toEqual([...good].sort());
  });
});

describe('reconciler queries', () => {
  const LEASE_MS = 5 * 60_000;

  it('find queued and extracting runs only once they have made no progress for the lease', async () => {
    const queued = await t.store.createRun({ userId: randomUUID(), campaignName: 'Q', demo: false, fileName: 'a.csv' });
    const extracting = await extractingRun();
    const stalled = () => t.store.stalledExtractions(LEASE_MS, 1000).then((runs) => runs.map((run) => run.runId));
    expect(await stalled()).not.toContain(queued.runId);
    expect(await stalled()).not.toContain(extracting.runId);

    await backdate('campaign_runs', queued.runId, 10);
    await backdate('campaign_runs', extracting.runId, 10);
    expect(await stalled()).toEqual(expect.arrayContaining([queued.runId, extracting.runId]));
    // The reconciler reads no campaign options: it only re-drives the extraction.
    const { options: _options, ...withoutOptions } = extracting;
    expect(await t.store.stalledExtractions(LEASE_MS, 1000)).toContainEqual(withoutOptions);

    // A stored batch is progress.
    await t.store.storeLeads(extracting, [lead('progress@example.com', 2)]);
    expect(await stalled()).not.toContain(extracting.runId);
    expect(await t.store.stalledExtractions(LEASE_MS, 1)).toHaveLength(1);
  });

  it('find the unfinished or uncounted leads of a run that stopped making progress', async () => {
    const { run, pending } = await personalizingRun(['p@example.com', 'r@example.com', 'f@example.com', 'c@example.com', 't@example.com']);
    const [pendingId, researchedId, failedId, countedId, touchedId] = pending as [string, string, string, string, string];
    await t.store.saveResearch(researchedId, run.runId, RESEARCH);
    await t.store.saveFailed(failedId, run.runId, 'gave up');
    await t.store.saveFailed(countedId, run.runId, 'gave up');
    await t.store.countOutcome(countedId, run.runId, DEFAULT_KPI_RATES);
    for (const leadId of pending) await backdate('leads', leadId, 10);

    const ofRun = async () => (await t.store.stalledLeads(LEASE_MS, 1000)).filter((lead) => lead.runId === run.runId);
    expect(await ofRun()).toEqual([]); // the run counted a lead just now: it is progressing

    await backdate('campaign_runs', run.runId, 10);
    await t.store.recordAttempt(touchedId, run.runId); // being worked on right now
    const stuck = await ofRun();
    expect(stuck).toHaveLength(3);
    expect(stuck).toEqual(
      expect.arrayContaining([
        { leadId: pendingId, runId: run.runId, status: 'pending' },
        { leadId: researchedId, runId: run.runId, status: 'researched' },
        { leadId: failedId, runId: run.runId, status: 'failed' },
      ]),
    );
    expect(await t.store.stalledLeads(LEASE_MS, 2)).toHaveLength(2);
    // Only the stages asked for: the reconciler leaves a stage alone while its consumer is busy or its API paused.
    expect((await t.store.stalledLeads(LEASE_MS, 1000, ['researched'])).filter((lead) => lead.runId === run.runId)).toEqual([
      { leadId: researchedId, runId: run.runId, status: 'researched' },
    ]);
    // A run with an event waiting in the outbox is in the relay's hands, not stalled.
    await t.stores.uow.enqueue([{ type: 'lead.extracted', run_id: run.runId, lead_id: pendingId }]);
    expect(await ofRun()).toEqual([]);
    // After the broker lost its stream: every unfinished lead, whatever the lease, but the one whose
    // own event still waits in the outbox (never published, so not lost); pages in (run, lead) order.
    const afterLoss = (await t.stores.reconciler.stalledLeads({ leaseMs: 0, outbox: 'own' }, ['pending', 'researched', 'failed'], 1000)).filter(
      (lead) => lead.runId === run.runId,
    );
    expect(afterLoss.map((lead) => lead.leadId).sort()).toEqual([researchedId, failedId, touchedId].sort());
    const [first] = await t.stores.reconciler.stalledLeads({ leaseMs: 0, outbox: 'own' }, ['pending', 'researched', 'failed'], 1, afterLoss[0]);
    expect(first).toEqual(afterLoss[1]);
    await t.db.sql`delete from outbox where run_id = ${run.runId}`;
  });

  it('list personalizing runs with every lead counted, and no other', async () => {
    const settled = await personalizingRun(['s@example.com']);
    await t.store.saveFailed(settled.pending[0]!, settled.run.runId, 'x');
    const open = await personalizingRun(['o@example.com']);
    await t.store.saveFailed(open.pending[0]!, open.run.runId, 'x');
    expect(await t.store.settledRuns(1000)).not.toContain(settled.run.runId);

    await t.store.countOutcome(settled.pending[0]!, settled.run.runId, DEFAULT_KPI_RATES);
    const runs = await t.store.settledRuns(1000);
    expect(runs).toContain(settled.run.runId);
    expect(runs).not.toContain(open.run.runId);

    await t.store.completeIfSettled(settled.run.runId);
    expect(await t.store.settledRuns(1000)).not.toContain(settled.run.runId);
  });
});

describe('tracing', () => {
  it('runs each operation in a client span under the active one, with ids and no lead data', async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry = startTelemetry({ serviceName: 'store-test', exporter });
    try {
      const { run, pending } = await personalizingRun(['traced@example.com']);
      exporter.reset();
      await getTracer().startActiveSpan('handler', async (parent) => {
        await t.store.saveResearch(pending[0]!, run.runId, RESEARCH);
        await t.store.storeLeads(run, [lead('other@example.com', 3)]);
        parent.end();
      });
      const spans = exporter.getFinishedSpans();
      const parent = spans.find((span) => span.name === 'handler')!;
      const save = spans.find((span) => span.name === 'postgres saveResearch')!;
      const batch = spans.find((span) => span.name === 'postgres storeLeads')!;
      for (const span of [save, batch]) {
        expect(span.kind).toBe(SpanKind.CLIENT);
        expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
        expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
        expect(span.attributes).toMatchObject({ 'db.system.name': 'postgresql', run_id: run.runId });
        expect(JSON.stringify(span.attributes)).not.toContain('@example.com');
      }
      expect(save.attributes).toMatchObject({ 'db.operation.name': 'saveResearch', lead_id: pending[0] });
      expect(batch.attributes).toMatchObject({ 'db.operation.name': 'storeLeads', 'leads.count': 1 });
    } finally {
      await telemetry.shutdown();
    }
  });
});
