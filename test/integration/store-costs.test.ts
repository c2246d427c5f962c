/**
 * What the campaign store records of provider costs, on the real PostgreSQL: each paid call adds
 * to its lead, and the projection adds a lead's cost to its run once, with the counters.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import { costOf, DEFAULT_PRICING } from '../../domain/pricing/pricing.ts';
import type { Draft, Research } from '../../ports/providers.port.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();

const RESEARCH: Research = { text: 'Acme builds rockets.', citations: [], model: 'sandbox/research', usage: { inputTokens: 3_000, outputTokens: 500 } };
const REJECTED_DRAFT: Draft = { message: 'Hi [Name]!', basis: 'rockets', model: 'sandbox/writer', usage: { inputTokens: 1_700, outputTokens: 90 } };
const DRAFT: Draft = { message: 'Loved the launch.', basis: 'Acme builds rockets.', model: 'sandbox/writer', usage: { inputTokens: 1_900, outputTokens: 110 } };

// Priced as the use cases price them: 0.005 + 0.0030 + 0.0005; 0.0051 + 0.00135; 0.0057 + 0.00165.
const RESEARCH_COST = costOf(RESEARCH.usage, DEFAULT_PRICING.research);
const REJECTED_COST = costOf(REJECTED_DRAFT.usage, DEFAULT_PRICING.personalization);
const DRAFT_COST = costOf(DRAFT.usage, DEFAULT_PRICING.personalization);

/** A `personalizing` run of a new campaign with these leads pending; lead ids by email. */
async function personalizingRun(emails: readonly string[], userId: string = randomUUID(), campaignId?: string) {
  const { runId } = await t.store.createRun({
    userId,
    demo: false,
    fileName: 'leads.csv',
    ...(campaignId === undefined ? { campaignName: 'Costs' } : { campaignId }),
  });
  const run = (await t.store.beginExtraction(runId))!;
  const stored = await t.store.storeLeads(run, emails.map((email, index) => lead(email, index + 2)));
  const report = { total_rows: emails.length, valid: emails.length, duplicates: 0, rejected: [], columns: COLUMNS, demo_excluded: 0 };
  await t.store.finishExtraction(runId, { report, columns: COLUMNS, skipped: stored.skipped });
  const rows = await t.db.sql<{ id: string; email: string }[]>`select id, email from leads where run_id = ${runId}`;
  return { runId, userId, campaignId: run.campaignId, ids: new Map(rows.map((row) => [row.email, row.id])) };
}

async function leadCost(leadId: string): Promise<string> {
  const [row] = await t.db.sql<{ cost_usd: string }[]>`select cost_usd from leads where id = ${leadId}`;
  return row!.cost_usd;
}

async function runCost(runId: string): Promise<string> {
  const [row] = await t.db.sql<{ cost_usd: string }[]>`select cost_usd from campaign_runs where id = ${runId}`;
  return row!.cost_usd;
}

/** The sum of 6-decimal amounts, exactly. */
function sum(...amounts: string[]): string {
  const micros = amounts.reduce((total, amount) => total + BigInt(amount.replace('.', '')), 0n);
  return `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, '0')}`;
}

describe('lead and run costs', () => {
  it('adds every paid call to the lead: research, a draft sent back, and the draft saved', async () => {
    const run = await personalizingRun(['ann@example.com']);
    const ann = run.ids.get('ann@example.com')!;
    expect(await leadCost(ann)).toBe('0.000000');

    expect(await t.store.saveResearch(ann, run.runId, RESEARCH, RESEARCH_COST)).toBe(true);
    await t.store.addCost(ann, run.runId, { stage: 'personalization', model: REJECTED_DRAFT.model, usage: REJECTED_DRAFT.usage!, costUsd: REJECTED_COST });
    expect(await t.store.savePersonalized(ann, run.runId, DRAFT, DRAFT_COST)).toBe(true);

    expect([RESEARCH_COST, REJECTED_COST, DRAFT_COST]).toEqual(['0.008500', '0.006450', '0.007350']);
    expect(await leadCost(ann)).toBe('0.022300');
    const [row] = await t.db.sql<{ usage: { calls: unknown[] } }[]>`select usage from leads where id = ${ann}`;
    expect(row!.usage.calls).toEqual([
      { stage: 'research', model: 'sandbox/research', inputTokens: 3_000, outputTokens: 500, costUsd: RESEARCH_COST },
      { stage: 'personalization', model: 'sandbox/writer', inputTokens: 1_700, outputTokens: 90, costUsd: REJECTED_COST },
      { stage: 'personalization', model: 'sandbox/writer', inputTokens: 1_900, outputTokens: 110, costUsd: DRAFT_COST },
    ]);
    // The saved call's usage is still where the pipeline reads it.
    expect((await t.store.leadWork(ann, run.runId))?.research?.usage).toEqual(RESEARCH.usage);
    // Nothing reaches the run before the lead is counted.
    expect(await runCost(run.runId)).toBe('0.000000');
  });

  it('adds the cost of a call whose save finds nothing to do (it was paid for), and none to a lead of another run', async () => {
    const run = await personalizingRun(['bob@example.com']);
    const bob = run.ids.get('bob@example.com')!;
    expect(await t.store.saveResearch(bob, run.runId, RESEARCH, RESEARCH_COST)).toBe(true);
    // A second delivery's call, which lost the race: not saved, but paid for.
    expect(await t.store.saveResearch(bob, run.runId, RESEARCH, RESEARCH_COST)).toBe(false);
    expect(await leadCost(bob)).toBe(sum(RESEARCH_COST, RESEARCH_COST));
    expect(await t.store.savePersonalized(bob, randomUUID(), DRAFT, DRAFT_COST)).toBe(false);
    await t.store.addCost(bob, randomUUID(), { stage: 'research', model: 'm', costUsd: '1.000000' });
    expect(await leadCost(bob)).toBe(sum(RESEARCH_COST, RESEARCH_COST));
    const [row] = await t.db.sql<{ calls: number; status: string }[]>`select jsonb_array_length(usage -> 'calls') as calls, status from leads where id = ${bob}`;
    expect(row).toEqual({ calls: 2, status: 'researched' });
  });

  it("adds each counted lead's cost to the run once, failed leads included, however often it is counted", async () => {
    const run = await personalizingRun(['a@example.com', 'b@example.com', 'c@example.com']);
    const [a, b, c] = ['a', 'b', 'c'].map((letter) => run.ids.get(`${letter}@example.com`)!);
    await t.store.saveResearch(a!, run.runId, RESEARCH, RESEARCH_COST);
    await t.store.addCost(a!, run.runId, { stage: 'personalization', model: 'sandbox/writer', costUsd: REJECTED_COST });
    await t.store.savePersonalized(a!, run.runId, DRAFT, DRAFT_COST);
    // b's research was paid for, then its writing failed.
    await t.store.saveResearch(b!, run.runId, RESEARCH, RESEARCH_COST);
    await t.store.saveFailed(b!, run.runId, 'personalization failed: unavailable');

    for (const id of [a!, b!]) {
      expect(await t.store.countOutcome(id, run.runId, DEFAULT_KPI_RATES)).toBe(true);
      expect(await t.store.countOutcome(id, run.runId, DEFAULT_KPI_RATES)).toBe(false);
    }
    expect(await runCost(run.runId)).toBe(sum(RESEARCH_COST, REJECTED_COST, DRAFT_COST, RESEARCH_COST));

    // c failed in research: no call we know the price of.
    await t.store.saveFailed(c!, run.runId, 'research failed: unavailable');
    expect(await t.store.countOutcome(c!, run.runId, DEFAULT_KPI_RATES)).toBe(true);
    const [leads] = await t.db.sql<{ total: string }[]>`select sum(cost_usd)::numeric(14, 6)::text as total from leads where run_id = ${run.runId}`;
    expect(await runCost(run.runId)).toBe(leads!.total);
    expect(await t.store.completeIfSettled(run.runId)).toMatchObject({ outcome: { status: 'completed' } });
    expect(await runCost(run.runId)).toBe('0.030800');
  });

  it('adds a call that ends after the lead was counted to the run as well', async () => {
    const run = await personalizingRun(['late@example.com', 'other@example.com']);
    const late = run.ids.get('late@example.com')!;
    await t.store.saveResearch(late, run.runId, RESEARCH, RESEARCH_COST);
    await t.store.savePersonalized(late, run.runId, DRAFT, DRAFT_COST);
    await t.store.countOutcome(late, run.runId, DEFAULT_KPI_RATES);
    // A concurrent delivery's writer call, answered after the first one was saved and counted.
    await t.store.addCost(late, run.runId, { stage: 'personalization', model: 'sandbox/writer', costUsd: DRAFT_COST });
    expect(await leadCost(late)).toBe(sum(RESEARCH_COST, DRAFT_COST, DRAFT_COST));
    expect(await runCost(run.runId)).toBe(await leadCost(late));
  });

  it('sums without drift', async () => {
    const run = await personalizingRun(['tenth@example.com']);
    const id = run.ids.get('tenth@example.com')!;
    for (let i = 0; i < 3; i += 1) await t.store.addCost(id, run.runId, { stage: 'research', model: 'm', costUsd: '0.100000' });
    await t.store.saveFailed(id, run.runId, 'gave up');
    await t.store.countOutcome(id, run.runId, DEFAULT_KPI_RATES);
    expect(await runCost(run.runId)).toBe('0.300000');
    expect((await t.store.runStatus(run.userId, run.runId))?.cost_usd).toBe(0.3);
  });

  it('starts a lead taken over by a later run from zero, the earlier run keeping what it counted', async () => {
    const earlier = await personalizingRun(['moved@example.com']);
    const id = earlier.ids.get('moved@example.com')!;
    await t.store.saveResearch(id, earlier.runId, RESEARCH, RESEARCH_COST);
    await t.store.saveFailed(id, earlier.runId, 'personalization failed: rejected');
    await t.store.countOutcome(id, earlier.runId, DEFAULT_KPI_RATES);

    const later = await personalizingRun(['moved@example.com'], earlier.userId, earlier.campaignId);
    expect(later.ids.get('moved@example.com')).toBe(id);
    expect(await leadCost(id)).toBe('0.000000');
    expect(await runCost(earlier.runId)).toBe(RESEARCH_COST);
  });

  it('shows the costs in the run status, the results and the export, as numbers', async () => {
    const run = await personalizingRun(['view@example.com', 'idle@example.com']);
    const id = run.ids.get('view@example.com')!;
    await t.store.saveResearch(id, run.runId, RESEARCH, RESEARCH_COST);
    await t.store.savePersonalized(id, run.runId, DRAFT, DRAFT_COST);
    await t.store.countOutcome(id, run.runId, DEFAULT_KPI_RATES);

    expect((await t.store.runStatus(run.userId, run.runId))?.cost_usd).toBe(0.01585);
    const page = await t.store.leads(run.userId, run.campaignId, { limit: 10 });
    expect(Object.fromEntries(page!.leads.map((view) => [view.email, view.cost_usd]))).toEqual({ 'view@example.com': 0.01585, 'idle@example.com': 0 });
    const exported = await t.store.exportLeads(run.userId, run.campaignId);
    const costs: number[] = [];
    for await (const row of exported!.rows) if (row.kind === 'lead') costs.push(row.lead.cost_usd);
    expect(costs).toEqual([0.01585, 0]);
  });
});
