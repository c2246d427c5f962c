/**
 * The `needs_review` outcome in the campaign store on the real PostgreSQL: the lead keeps its
 * draft and the reasons, its outcome is counted once into the run's `needs_review` (never into
 * the KPIs or the campaign's completed count), and the reads show it.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import type { LeadView } from '../../ports/campaign-queries.port.ts';
import type { Draft, Research } from '../../ports/providers.port.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();

const RESEARCH: Research = { text: '- Acme opened a Lisbon office. [1]', citations: [], model: 'sandbox/research' };
const GOOD: Draft = { message: 'Saw that Acme opened a Lisbon office.', basis: 'Acme opened a Lisbon office.', model: 'sandbox/writer' };
const REJECTED: Draft = {
  message: 'Hi [First Name], saw that Acme opened a Lisbon office and I would love to hear how it is going.',
  basis: 'Acme opened a Lisbon office.',
  model: 'sandbox/writer',
  usage: { inputTokens: 900, outputTokens: 40 },
};
const REASONS = 'needs review: unfilled placeholder "[First Name]"';

/** A `personalizing` run of `emails`, every lead researched unless `research` is false; ids in the order of `emails`. */
async function researchedRun(
  emails: readonly string[],
  owner: { userId: string; campaignId?: string } = { userId: randomUUID() },
  research = true,
) {
  const { runId, campaignId } = await t.store.createRun({
    userId: owner.userId,
    demo: false,
    fileName: 'leads.csv',
    ...(owner.campaignId === undefined ? { campaignName: 'Review me' } : { campaignId: owner.campaignId }),
  });
  const run = await t.store.beginExtraction(runId);
  if (run === null) throw new Error('the new run cannot be extracted');
  const stored = await t.store.storeLeads(run, emails.map((email, index) => lead(email, index + 2)));
  const report = { total_rows: emails.length, valid: emails.length, duplicates: 0, rejected: [], columns: COLUMNS, demo_excluded: 0 };
  await t.store.finishExtraction(runId, { report, columns: COLUMNS, skipped: stored.skipped });
  if (research) for (const leadId of stored.pending) expect(await t.store.saveResearch(leadId, runId, RESEARCH)).toBe(true);
  return { runId, campaignId, userId: owner.userId, leadIds: stored.pending };
}

async function runCounters(runId: string) {
  const [row] = await t.db.sql<{ processed: number; personalized: number; needs_review: number; failed: number; status: string; error_message: string | null }[]>`
    select processed, personalized, needs_review, failed, status, error_message from campaign_runs where id = ${runId}`;
  return row;
}

async function completedCount(campaignId: string): Promise<number | undefined> {
  const [row] = await t.db.sql<{ completed_count: number }[]>`select completed_count from campaigns where id = ${campaignId}`;
  return row?.completed_count;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const collected: T[] = [];
  for await (const item of items) collected.push(item);
  return collected;
}

describe('saveNeedsReview', () => {
  it('moves a researched lead to needs_review once, keeping the draft and the reasons', async () => {
    const { runId, leadIds } = await researchedRun(['a@acme.example']);
    const leadId = leadIds[0]!;
    expect(await t.store.saveNeedsReview(leadId, runId, REJECTED, REASONS)).toBe(true);
    // A redelivery, a personalization racing it, a lead of another run: nothing is written.
    expect(await t.store.saveNeedsReview(leadId, runId, GOOD, 'needs review: other')).toBe(false);
    expect(await t.store.savePersonalized(leadId, runId, GOOD)).toBe(false);
    expect(await t.store.saveNeedsReview(leadId, randomUUID(), REJECTED, REASONS)).toBe(false);

    const [row] = await t.db.sql`
      select status, message, message_basis, model, error, usage -> 'personalization' as usage, settled_at from leads where id = ${leadId}`;
    expect(row).toMatchObject({
      status: 'needs_review',
      message: REJECTED.message,
      message_basis: REJECTED.basis,
      model: 'sandbox/writer',
      error: REASONS,
      usage: { inputTokens: 900, outputTokens: 40 },
    });
    expect(row?.settled_at).toBeInstanceOf(Date);
    // Final: a late give-up does not fail it.
    expect(await t.store.saveFailed(leadId, runId, 'personalization failed')).toBe(false);
  });

  it('refuses a lead that is not researched yet', async () => {
    const { runId, leadIds } = await researchedRun(['pending@acme.example'], { userId: randomUUID() }, false);
    expect(await t.store.saveNeedsReview(leadIds[0]!, runId, REJECTED, REASONS)).toBe(false);
    const [row] = await t.db.sql`select status, message, error from leads where id = ${leadIds[0]!}`;
    expect(row).toEqual({ status: 'pending', message: null, error: null });
  });
});

describe('counting a needs_review lead', () => {
  it('counts it once into the run only: no KPI, no completed lead for the campaign', async () => {
    const { runId, campaignId, userId, leadIds } = await researchedRun(['good@acme.example', 'review@acme.example', 'bad@acme.example']);
    const [good, review, bad] = leadIds as [string, string, string];
    expect(await t.store.savePersonalized(good, runId, GOOD)).toBe(true);
    expect(await t.store.saveNeedsReview(review, runId, REJECTED, REASONS)).toBe(true);
    expect(await t.store.saveFailed(bad, runId, 'personalization failed after 1 attempt: rejected')).toBe(true);

    const recorded = { needs_review: t.metrics.count('needs_review'), personalized: t.metrics.count('personalized'), failed: t.metrics.count('failed') };
    expect(await t.store.countOutcome(review, runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await runCounters(runId)).toMatchObject({ processed: 1, personalized: 0, needs_review: 1, failed: 0 });
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 0, hours_saved: '0.00', money_saved: '0.00' });
    expect(await completedCount(campaignId)).toBe(0);
    // Redelivered, concurrently or later: counted once.
    expect(await Promise.all([0, 1, 2].map(() => t.store.countOutcome(review, runId, DEFAULT_KPI_RATES)))).toEqual([false, false, false]);
    expect(await runCounters(runId)).toMatchObject({ processed: 1, needs_review: 1 });

    expect(await t.store.completeIfSettled(runId)).toBeNull();
    expect(await t.store.countOutcome(good, runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await t.store.countOutcome(bad, runId, DEFAULT_KPI_RATES)).toBe(true);
    expect(await runCounters(runId)).toEqual({
      processed: 3,
      personalized: 1,
      needs_review: 1,
      failed: 1,
      status: 'personalizing',
      error_message: null,
    });
    // Each counted lead recorded once by its outcome, redeliveries not (the metrics of issue 11).
    expect({
      needs_review: t.metrics.count('needs_review') - recorded.needs_review,
      personalized: t.metrics.count('personalized') - recorded.personalized,
      failed: t.metrics.count('failed') - recorded.failed,
    }).toEqual({ needs_review: 1, personalized: 1, failed: 1 });
    // Only the personalized lead reaches the KPIs and the campaign's count.
    expect(await t.store.metrics(userId)).toMatchObject({ leads_personalized: 1, hours_saved: '0.02', money_saved: '0.04' });
    expect(await completedCount(campaignId)).toBe(1);

    expect(await t.store.completeIfSettled(runId)).toMatchObject({ runId, outcome: { status: 'completed', errorMessage: null } });
    expect(await t.store.runStatus(userId, runId)).toMatchObject({
      status: 'completed',
      processed: 3,
      personalized: 1,
      needs_review: 1,
      failed: 1,
      error_message: null,
    });
  });

  it('completes a run where every lead needs review, saying so', async () => {
    const { runId, userId, leadIds } = await researchedRun(['r1@acme.example', 'r2@acme.example']);
    for (const leadId of leadIds) {
      expect(await t.store.saveNeedsReview(leadId, runId, REJECTED, REASONS)).toBe(true);
      expect(await t.store.countOutcome(leadId, runId, DEFAULT_KPI_RATES)).toBe(true);
    }
    expect(await t.store.completeIfSettled(runId)).toMatchObject({ outcome: { status: 'completed', errorMessage: '2 leads need review.' } });
    expect(await t.store.runStatus(userId, runId)).toMatchObject({ status: 'completed', personalized: 0, needs_review: 2, error_message: '2 leads need review.' });
  });

  it('refuses a negative counter', async () => {
    const { runId } = await researchedRun(['neg@acme.example']);
    await expect(t.db.sql`update campaign_runs set needs_review = -1 where id = ${runId}`).rejects.toThrow(/campaign_runs_needs_review_nonnegative/);
  });
});

describe('reading needs_review leads', () => {
  it('lists, streams and exports the lead with its status, draft and reasons', async () => {
    const { runId, campaignId, userId, leadIds } = await researchedRun(['shown@acme.example', 'fine@acme.example']);
    const [shown, fine] = leadIds as [string, string];
    await t.store.saveNeedsReview(shown, runId, REJECTED, REASONS);
    await t.store.savePersonalized(fine, runId, GOOD);
    for (const leadId of leadIds) await t.store.countOutcome(leadId, runId, DEFAULT_KPI_RATES);
    await t.store.completeIfSettled(runId);

    const expected = { id: shown, status: 'needs_review', message: REJECTED.message, error: REASONS };
    const page = await t.store.leads(userId, campaignId, { statuses: ['needs_review'], limit: 10 });
    expect(page?.leads).toEqual([expect.objectContaining(expected)]);
    const settled = await t.store.settledLeads(userId, runId, null, 10);
    expect(settled.leads.map((view: LeadView) => view.id).sort()).toEqual([...leadIds].sort());
    expect(settled.leads).toContainEqual(expect.objectContaining(expected));
    const exported = await t.store.exportLeads(userId, campaignId);
    const rows = (await all(exported!.rows)).flatMap((row) => (row.kind === 'lead' ? [row.lead] : []));
    expect(rows.map((view) => [view.email, view.status, view.message])).toEqual([
      ['shown@acme.example', 'needs_review', REJECTED.message],
      ['fine@acme.example', 'personalized', GOOD.message],
    ]);
  });

  it('gives a needs_review lead another try when a later run brings it again', async () => {
    const first = await researchedRun(['again@acme.example', 'kept@acme.example']);
    const [again, kept] = first.leadIds as [string, string];
    await t.store.saveNeedsReview(again, first.runId, REJECTED, REASONS);
    await t.store.savePersonalized(kept, first.runId, GOOD);

    const second = await researchedRun(['again@acme.example', 'kept@acme.example'], { userId: first.userId, campaignId: first.campaignId });
    // The personalized lead is skipped; the one left for review is taken over, reset, and researched again.
    expect(second.leadIds).toEqual([again]);
    const [row] = await t.db.sql`select run_id, status, message, error from leads where id = ${again}`;
    expect(row).toEqual({ run_id: second.runId, status: 'researched', message: null, error: null });
  });
});
