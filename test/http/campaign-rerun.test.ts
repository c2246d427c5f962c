/**
 * `POST /api/campaigns/:id/runs` through the real app on a real PostgreSQL, with no consumer
 * running: what the re-run records (the run, the leads taken over, the events in the outbox), the
 * quotas, and the research kept or not. The pipeline's side is tested end to end in
 * test/e2e/research-reuse.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_QUOTAS } from '../../domain/quotas/quota.ts';
import { seedRun, settleLead, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';

const CSV = ['Email,Company,Website', 'ann@acme.example,Acme,acme.example', 'bob@acme.example,Acme,acme.example', 'cy@zeta.example,Zeta,zeta.example'].join('\n');

describe('POST /api/campaigns/:id/runs', () => {
  let server: TestServer;
  let user: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ quotas: { ...NO_QUOTAS, leadsPerRun: 2 } });
    user = await testUser();
  });
  afterAll(() => server?.close());

  function rerun(campaignId: string, body: unknown): Promise<Response> {
    return fetch(`${server.baseUrl}/api/campaigns/${campaignId}/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** A campaign whose run ended: ann and bob personalized (with research), cy failed in research. */
  async function endedCampaign() {
    const seeded = await seedRun(server, { userId: user.id, csv: CSV });
    const [ann, bob, cy] = ['ann@acme.example', 'bob@acme.example', 'cy@zeta.example'].map((email) => seeded.leadIds.get(email)!);
    await settleLead(server, seeded.runId, ann!, { message: 'Hi Ann.' });
    await settleLead(server, seeded.runId, bob!, { message: 'Hi Bob.' });
    await settleLead(server, seeded.runId, cy!, { error: 'research failed after 6 attempts: provider unavailable' });
    const [run] = await server.sql<{ status: string }[]>`select status from campaign_runs where id = ${seeded.runId}`;
    expect(run!.status).toBe('completed');
    return { ...seeded, ann: ann!, bob: bob!, cy: cy! };
  }

  it("refuses a selection over the user's quota with a 429 that says to select fewer, and records nothing", async () => {
    const campaign = await endedCampaign();
    const res = await rerun(campaign.campaignId, { statuses: ['personalized', 'failed'] });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({
      type: 'tag:ai-growth-accelerator,2026:quota-exceeded',
      limit: 'leads_per_run',
      limit_value: 2,
      used: 3,
      detail: expect.stringMatching(/This selection has 3 leads; a run may have at most 2\. Select fewer/) as unknown,
    });
    const runs = await server.sql`select id from campaign_runs where campaign_id = ${campaign.campaignId}`;
    expect(runs).toHaveLength(1);
  });

  it('records a personalizing run over the selected leads, reusing their research, with each lead\'s event in the outbox', async () => {
    const campaign = await endedCampaign();
    const res = await rerun(campaign.campaignId, { lead_ids: [campaign.bob, campaign.cy], personalization_prompt: 'Be brief.' });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };

    const [run] = await server.sql`
      select status, valid, total_rows, skipped, personalization_prompt, research_refresh, selection, columns, file_name, submitted_leads
      from campaign_runs where id = ${runId}`;
    expect(run).toEqual({
      status: 'personalizing',
      valid: 2,
      total_rows: 2,
      skipped: 0,
      personalization_prompt: 'Be brief.',
      research_refresh: false,
      selection: { lead_ids: 2 },
      columns: [
        { original: 'Email', canonical: 'email' },
        { original: 'Company', canonical: 'company' },
        { original: 'Website', canonical: 'website' },
      ],
      file_name: null,
      submitted_leads: 2,
    });
    const leads = await server.sql`
      select email, run_id = ${runId} as taken, status, research is not null as has_research, research_cached, message, counted_run_id, cost_usd::text as cost
      from leads where campaign_id = ${campaign.campaignId} order by email`;
    expect(leads).toEqual([
      { email: 'ann@acme.example', taken: false, status: 'personalized', has_research: true, research_cached: false, message: 'Hi Ann.', counted_run_id: campaign.runId, cost: '0.000000' },
      { email: 'bob@acme.example', taken: true, status: 'researched', has_research: true, research_cached: true, message: null, counted_run_id: null, cost: '0.000000' },
      { email: 'cy@zeta.example', taken: true, status: 'pending', has_research: false, research_cached: false, message: null, counted_run_id: null, cost: '0.000000' },
    ]);
    const events = await server.sql<{ event_type: string; lead_id: string }[]>`
      select event_type, payload ->> 'lead_id' as lead_id from outbox where run_id = ${runId} order by event_type`;
    expect(events).toEqual([
      { event_type: 'lead.extracted', lead_id: campaign.cy },
      { event_type: 'lead.researched', lead_id: campaign.bob },
    ]);
    // Bob's line is written again: the campaign counts him again only once it is.
    const [counted] = await server.sql`select completed_count from campaigns where id = ${campaign.campaignId}`;
    expect(counted).toEqual({ completed_count: 1 });

    // The run in progress holds its campaign's leads.
    const again = await rerun(campaign.campaignId, { statuses: ['personalized'] });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ run_id: runId, run_status: 'personalizing' });
  });

  it('refuses while a run of the campaign is paused (409, resume or cancel it); once cancelled, its cancelled leads can be re-run', async () => {
    const seeded = await seedRun(server, { userId: user.id, csv: CSV });
    await settleLead(server, seeded.runId, seeded.leadIds.get('ann@acme.example')!, { message: 'Hi Ann.' });
    const control = (action: string) =>
      fetch(`${server.baseUrl}/api/campaigns/runs/${seeded.runId}/${action}`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` } });
    expect((await control('pause')).status).toBe(200);

    // Paused is not ended: its leads are still its own.
    const refused = await rerun(seeded.campaignId, { statuses: ['personalized'] });
    expect(refused.status).toBe(409);
    const problem = (await refused.json()) as { run_id: string; run_status: string; detail: string };
    expect(problem).toMatchObject({ run_id: seeded.runId, run_status: 'paused' });
    expect(problem.detail).toContain(`POST /api/campaigns/runs/${seeded.runId}/resume`);
    expect(await server.sql`select id from campaign_runs where campaign_id = ${seeded.campaignId}`).toHaveLength(1);

    // Cancelled, it has ended: bob and cy end cancelled, and a re-run takes them (the quota allows 2).
    expect((await control('cancel')).status).toBe(200);
    const res = await rerun(seeded.campaignId, { statuses: ['cancelled'] });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };
    const leads = await server.sql`select email, run_id = ${runId} as taken, status from leads where campaign_id = ${seeded.campaignId} order by email`;
    expect(leads).toEqual([
      { email: 'ann@acme.example', taken: false, status: 'personalized' },
      { email: 'bob@acme.example', taken: true, status: 'pending' },
      { email: 'cy@zeta.example', taken: true, status: 'pending' },
    ]);
    // The cancelled run keeps what it counted.
    const [cancelled] = await server.sql`select status, cancelled, processed from campaign_runs where id = ${seeded.runId}`;
    expect(cancelled).toEqual({ status: 'cancelled', cancelled: 2, processed: 1 });
  });

  it('never reuses research a sandbox run made up for a real run', async () => {
    const campaign = await endedCampaign();
    await server.sql`update campaign_runs set sandbox = true where id = ${campaign.runId}`;
    const res = await rerun(campaign.campaignId, { lead_ids: [campaign.ann] });
    expect(res.status).toBe(202);
    expect(await server.sql`select status, research, research_cached from leads where id = ${campaign.ann}`).toEqual([{ status: 'pending', research: null, research_cached: false }]);
  });

  it('researches again for a new research prompt, or when asked, and keeps the campaign\'s prompts otherwise', async () => {
    const campaign = await endedCampaign();
    await server.sql`update campaign_runs set research_prompt = 'Funding news.', personalization_prompt = 'Be warm.' where id = ${campaign.runId}`;
    await server.sql`update campaigns set research_prompt = 'Funding news.', personalization_prompt = 'Be warm.' where id = ${campaign.campaignId}`;
    const res = await rerun(campaign.campaignId, { lead_ids: [campaign.ann], research_prompt: 'Hiring news.' });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };
    expect(await server.sql`select research_prompt, personalization_prompt from campaign_runs where id = ${runId}`).toEqual([
      { research_prompt: 'Hiring news.', personalization_prompt: 'Be warm.' },
    ]);
    expect(await server.sql`select status, research from leads where id = ${campaign.ann}`).toEqual([{ status: 'pending', research: null }]);

    const other = await endedCampaign();
    const refresh = await rerun(other.campaignId, { statuses: ['personalized'], research: 'refresh' });
    expect(refresh.status).toBe(202);
    const { run_id: refreshRun } = (await refresh.json()) as { run_id: string };
    expect(await server.sql`select research_refresh from campaign_runs where id = ${refreshRun}`).toEqual([{ research_refresh: true }]);
    expect(await server.sql`select status from leads where run_id = ${refreshRun}`).toEqual([{ status: 'pending' }, { status: 'pending' }]);
  });
});
