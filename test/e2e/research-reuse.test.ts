/**
 * Research once per company and re-runs without re-uploading (issue 10, items 3 and 4), end to end
 * on the real NATS JetStream and PostgreSQL, through the real HTTP edge, with the sandbox provider
 * over real HTTP counting every research and writer call it answers. The tests share one system
 * and run in order; each user's research is their own.
 */
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRewriteRequest } from '../../adapters/sandbox/answers.ts';
import type { LeadResultBody } from '../../adapters/http/routes/campaign-results.ts';
import type { RunView } from '../../ports/campaign-queries.port.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

/** Research for this company waits until the test lets it go: its run stays in progress meanwhile. */
const SLOW_COMPANY = 'Slow Research Co';
/** Each research call takes this long, so that a company's leads are researched at the same time. */
const RESEARCH_LATENCY_MS = 150;

interface Accepted {
  run_id: string;
  campaign_id: string;
  status_url: string;
  events_url: string;
  results_url: string;
}

describe('research once per company, and re-runs of stored leads', () => {
  let system: E2ESystem;
  let examples: string;
  let releaseSlow: () => void = () => {};
  let slow = new Promise<void>((resolve) => (releaseSlow = resolve));
  /** Every call the sandbox answered, in order. */
  const seen: { endpoint: string; company: string; rewrite: boolean; body: string }[] = [];

  beforeAll(async () => {
    examples = await readFile(new URL('../../examples/leads.csv', import.meta.url), 'utf8');
    system = await startE2ESystem({
      interceptors: [
        async ({ endpoint, body, signal }) => {
          const text = JSON.stringify(body);
          const company = /\\"company\\": \\"([^"\\]*)\\"/.exec(text)?.[1] ?? '';
          seen.push({ endpoint, company, rewrite: endpoint === 'chatCompletions' && isRewriteRequest(body), body: text });
          if (endpoint !== 'responses') return undefined;
          if (company === SLOW_COMPANY) await slow;
          await new Promise((resolve) => setTimeout(resolve, RESEARCH_LATENCY_MS));
          signal.throwIfAborted();
          return undefined;
        },
      ],
    });
  });
  afterAll(() => system?.close());

  /** The calls from `mark` on: research calls, and first drafts (rewrites apart). */
  function callsSince(mark: number) {
    const calls = seen.slice(mark);
    return {
      research: calls.filter((call) => call.endpoint === 'responses'),
      firstDrafts: calls.filter((call) => call.endpoint === 'chatCompletions' && !call.rewrite),
      writer: calls.filter((call) => call.endpoint === 'chatCompletions'),
    };
  }

  async function submitFile(user: TestUser, csv: string, fields: Record<string, string>): Promise<Accepted> {
    const res = await postProcess(system.baseUrl, { token: user.token, content: csv, fields });
    expect(res.status).toBe(202);
    return (await res.json()) as Accepted;
  }

  function rerun(user: TestUser, campaignId: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${system.baseUrl}/api/campaigns/${campaignId}/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async function status(user: TestUser, runId: string): Promise<RunView> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user);
    expect(res.status).toBe(200);
    return (await res.json()) as RunView;
  }

  async function ended(user: TestUser, runId: string): Promise<RunView> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const view = await status(user, runId);
      if (view.status === 'completed' || view.status === 'failed') return view;
      if (Date.now() > deadline) {
        const leads = await system.sql<{ status: string; company: string }[]>`select status, company from leads where run_id = ${runId}`;
        throw new Error(`run ${runId} still ${view.status}: ${JSON.stringify(leads)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function results(user: TestUser, campaignId: string): Promise<LeadResultBody[]> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/results/${campaignId}?limit=500`, user);
    expect(res.status).toBe(200);
    return ((await res.json()) as { leads: LeadResultBody[] }).leads;
  }

  const ada = { user: undefined as unknown as TestUser, run: undefined as unknown as Accepted, leads: [] as LeadResultBody[] };

  it('examples/leads.csv (9 valid leads of 6 companies) makes one research call per company', async () => {
    ada.user = await testUser();
    const mark = seen.length;
    ada.run = await submitFile(ada.user, examples, { campaign_name: 'Examples' });
    const view = await ended(ada.user, ada.run.run_id);

    expect(view).toMatchObject({ status: 'completed', valid: 9, processed: 9, research_cache_hits: 3 });
    const { research, firstDrafts } = callsSince(mark);
    expect(research).toHaveLength(6);
    expect(new Set(research.map((call) => call.company)).size).toBe(6);
    expect(firstDrafts).toHaveLength(9);
    // The shared call is about the company: the first contact's name and title are not in it.
    for (const call of research) expect(call.body).not.toMatch(/first_name|last_name|\\"title\\"/);

    ada.leads = await results(ada.user, ada.run.campaign_id);
    expect(ada.leads).toHaveLength(9);
    const byCompany = Map.groupBy(ada.leads, (lead) => lead.company);
    expect(byCompany.size).toBe(6);
    for (const leads of byCompany.values()) {
      // One research for all of a company's leads; only one of them paid for it.
      expect(new Set(leads.map((lead) => lead.research_summary)).size).toBe(1);
      expect(leads.filter((lead) => !lead.research_cached)).toHaveLength(1);
    }
    // A lead that reused its company's research paid for its line only: its cost is its own calls'.
    const paid = await system.sql<{ id: string; research_calls: number; calls_cost: string; cost_usd: string }[]>`
      select id,
             (select count(*) from jsonb_array_elements(coalesce(usage -> 'calls', '[]')) c where c ->> 'stage' = 'research')::int as research_calls,
             (select coalesce(sum((c ->> 'costUsd')::numeric), 0) from jsonb_array_elements(coalesce(usage -> 'calls', '[]')) c)::numeric(12, 6)::text as calls_cost,
             cost_usd::text as cost_usd
      from leads where campaign_id = ${ada.run.campaign_id}`;
    for (const row of paid) {
      const lead = ada.leads.find((candidate) => candidate.id === row.id)!;
      expect(row.research_calls).toBe(lead.research_cached ? 0 : 1);
      expect(row.calls_cost).toBe(row.cost_usd);
    }
    // The run's cost is its leads' costs, each counted once.
    expect(view.cost_usd).toBeCloseTo(ada.leads.reduce((sum, lead) => sum + lead.cost_usd, 0), 6);
  });

  it("reuses the user's research of a company in the user's later runs, never another user's", async () => {
    let mark = seen.length;
    const again = await submitFile(ada.user, examples, { campaign_name: 'Examples again' });
    expect(await ended(ada.user, again.run_id)).toMatchObject({ status: 'completed', valid: 9, research_cache_hits: 9 });
    expect(callsSince(mark).research).toHaveLength(0);
    expect(callsSince(mark).firstDrafts).toHaveLength(9);
    expect((await results(ada.user, again.campaign_id)).every((lead) => lead.research_cached && lead.research_summary !== null)).toBe(true);

    // Another research prompt is another question: researched again, once per company.
    mark = seen.length;
    const focused = await submitFile(ada.user, examples, { campaign_name: 'Examples, hiring', research_prompt: 'Look for hiring news.' });
    expect(await ended(ada.user, focused.run_id)).toMatchObject({ status: 'completed', research_cache_hits: 3 });
    expect(callsSince(mark).research).toHaveLength(6);

    // Another user pays for their own research.
    const bob = await testUser();
    mark = seen.length;
    const theirs = await submitFile(bob, examples, { campaign_name: 'Examples' });
    expect(await ended(bob, theirs.run_id)).toMatchObject({ status: 'completed', research_cache_hits: 3 });
    expect(callsSince(mark).research).toHaveLength(6);
  });

  it('re-runs stored leads without a file: new lines with a new prompt, no research call', async () => {
    const mark = seen.length;
    const prompt = 'Mention the city the company is based in.';
    const res = await rerun(ada.user, ada.run.campaign_id, { statuses: ['personalized', 'needs_review', 'failed'], personalization_prompt: prompt });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as Accepted;
    expect(accepted).toMatchObject({
      campaign_id: ada.run.campaign_id,
      status_url: `/api/campaigns/status/${accepted.run_id}`,
      events_url: `/api/campaigns/events/${accepted.run_id}`,
      results_url: `/api/campaigns/results/${ada.run.campaign_id}`,
    });
    expect(res.headers.get('location')).toBe(accepted.status_url);
    expect(accepted.run_id).not.toBe(ada.run.run_id);

    const view = await ended(ada.user, accepted.run_id);
    expect(view).toMatchObject({ status: 'completed', valid: 9, processed: 9, skipped: 0, research_cache_hits: 9 });
    const { research, firstDrafts } = callsSince(mark);
    expect(research).toHaveLength(0);
    expect(firstDrafts).toHaveLength(9);
    expect(firstDrafts.every((call) => call.body.includes(prompt))).toBe(true);

    const leads = await results(ada.user, ada.run.campaign_id);
    expect(leads).toHaveLength(9);
    for (const lead of leads) {
      const before = ada.leads.find((earlier) => earlier.id === lead.id)!;
      expect(lead).toMatchObject({ run_id: accepted.run_id, research_cached: true, research_summary: before.research_summary });
      expect(['personalized', 'needs_review']).toContain(lead.enrichment_status);
    }
    // The new run paid for its lines only; the first run's counters are its own.
    expect(view.cost_usd).toBeCloseTo(leads.reduce((sum, lead) => sum + lead.cost_usd, 0), 6);
    expect(await status(ada.user, ada.run.run_id)).toMatchObject({ status: 'completed', processed: 9 });
    // The campaign's count is of its leads personalized now, not of lines written.
    const [campaign] = await system.sql<{ completed_count: number }[]>`select completed_count from campaigns where id = ${ada.run.campaign_id}`;
    expect(campaign!.completed_count).toBe(leads.filter((lead) => lead.enrichment_status === 'personalized').length);
  });

  it('re-runs chosen leads by id, and researches again once per company when asked', async () => {
    const leads = await results(ada.user, ada.run.campaign_id);
    const chosen = leads.filter((lead) => ['Northwind Robotics', 'Lumen Analytics', 'Bluepeak Dental'].includes(lead.company));
    const mark = seen.length;
    const res = await rerun(ada.user, ada.run.campaign_id, { lead_ids: chosen.map((lead) => lead.id), research: 'refresh' });
    expect(res.status).toBe(202);
    const { run_id } = (await res.json()) as Accepted;
    expect(await ended(ada.user, run_id)).toMatchObject({ status: 'completed', valid: 5, research_cache_hits: 2 });
    expect(callsSince(mark).research).toHaveLength(3);
    expect(callsSince(mark).firstDrafts).toHaveLength(5);
    const after = await results(ada.user, ada.run.campaign_id);
    expect(after.filter((lead) => lead.run_id === run_id).map((lead) => lead.id).sort()).toEqual(chosen.map((lead) => lead.id).sort());
  });

  it('answers the same re-run again for the same Idempotency-Key, and starts nothing', async () => {
    const key = randomUUID();
    const body = { statuses: ['personalized'] };
    const first = await rerun(ada.user, ada.run.campaign_id, body, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    const accepted = (await first.json()) as Accepted;
    await ended(ada.user, accepted.run_id);
    const again = await rerun(ada.user, ada.run.campaign_id, body, { 'Idempotency-Key': key });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(accepted);
    const other = await rerun(ada.user, ada.run.campaign_id, { statuses: ['failed'] }, { 'Idempotency-Key': key });
    expect(other.status).toBe(422);
    const [runs] = await system.sql<{ count: number }[]>`select count(*)::int as count from campaign_runs where campaign_id = ${ada.run.campaign_id}`;
    expect(runs!.count).toBe(4);
  });

  it('refuses a bad body (400), another user\'s or an unknown campaign (404), an empty selection (422)', async () => {
    const campaign = ada.run.campaign_id;
    const problems: [unknown, RegExp][] = [
      [{}, /either statuses .* or lead_ids/],
      [{ statuses: ['failed'], lead_ids: [randomUUID()] }, /not both/],
      [{ statuses: ['pending'] }, /"pending" is not a status a lead can be re-run from/],
      [{ statuses: [] }, /at least one status/],
      [{ lead_ids: ['nope'] }, /"nope" is not a lead id/],
      [{ statuses: ['failed'], research: 'always' }, /research must be "reuse"/],
      [{ statuses: ['failed'], colour: 'blue' }, /unknown field "colour"/],
      [{ statuses: ['failed'], personalization_prompt: 'x'.repeat(4001) }, /personalization_prompt must be at most 4000 characters/],
      ['{"statuses": ', /not valid JSON/],
      ['["failed"]', /must be a JSON object/],
    ];
    for (const [body, detail] of problems) {
      const res = await rerun(ada.user, campaign, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { detail: string }).detail).toMatch(detail);
    }
    const text = await fetch(`${system.baseUrl}/api/campaigns/${campaign}/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ada.user.token}`, 'Content-Type': 'text/plain' },
      body: 'statuses=failed',
    });
    expect(text.status).toBe(415);

    const stranger = await testUser();
    for (const id of [campaign, randomUUID(), 'not-a-uuid']) {
      const res = await rerun(stranger, id, { statuses: ['failed'] });
      expect(res.status).toBe(404);
    }
    const none = await rerun(ada.user, campaign, { lead_ids: [randomUUID()] });
    expect(none.status).toBe(422);
    expect(await none.json()).toMatchObject({ type: 'tag:ai-growth-accelerator,2026:nothing-to-rerun' });
  });

  it('refuses a re-run while a run of the campaign is in progress (409), and takes it once it ended', async () => {
    const user = await testUser();
    const csv = ['Email,Company', 'ann@slow.example,Slow Research Co', 'ben@quick.example,Quick Co'].join('\n');
    const first = await submitFile(user, csv, { campaign_name: 'Slow' });
    const res = await rerun(user, first.campaign_id, { statuses: ['failed', 'personalized', 'needs_review'] });
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(await res.json()).toMatchObject({ type: 'tag:ai-growth-accelerator,2026:run-in-progress', run_id: first.run_id });

    releaseSlow();
    await ended(user, first.run_id);
    slow = Promise.resolve();
    const later = await rerun(user, first.campaign_id, { statuses: ['failed', 'personalized', 'needs_review'] });
    expect(later.status).toBe(202);
    const { run_id } = (await later.json()) as Accepted;
    expect(await ended(user, run_id)).toMatchObject({ status: 'completed', valid: 2 });
  });
});
