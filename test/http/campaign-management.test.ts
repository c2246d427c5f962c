/**
 * A user's campaigns over HTTP, on the real PostgreSQL and NATS: the list, one campaign, its
 * settings (PATCH) and what its next run takes from them, unique names, its runs, and erasure.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileNotFoundError } from '../../ports/lead-file-store.port.ts';
import { runFileKey } from '../../src/app/submit-campaign.ts';
import { apiGet, postProcess, seedRun, settleLead, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { STANDARD_WEBHOOKS_VECTOR } from '../support/webhooks.ts';
import { expectProblem, readJson } from './helpers.ts';

interface RunJson {
  id: string;
  status: string;
  counters: Record<string, number>;
  cost_usd: number;
  created_at: string;
  status_url: string;
  research_prompt?: string | null;
  personalization_prompt?: string | null;
  allow_questions?: boolean;
  [key: string]: unknown;
}

interface CampaignJson {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  run_count: number;
  counts: { total: number; pending: number; personalized: number; needs_review: number; failed: number };
  cost_usd: number;
  last_run: RunJson | null;
  [key: string]: unknown;
}

interface ListJson {
  campaigns: CampaignJson[];
  next_cursor: string | null;
}

const CSV = (domain: string, n = 3) => ['Email,Company', ...Array.from({ length: n }, (_, i) => `p${i}@${domain},Co ${i}`)].join('\n');

describe('campaigns and their runs', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ webhookSecret: STANDARD_WEBHOOKS_VECTOR.secret });
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  const send = (method: string, path: string, user: TestUser, body?: unknown, contentType = 'application/json') =>
    fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${user.token}`, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const patch = (id: string, body: unknown, user = alice) => send('PATCH', `/api/campaigns/${id}`, user, body);
  const list = async (query = '', user = alice) => {
    const res = await apiGet(server.baseUrl, `/api/campaigns${query}`, user);
    expect(res.status).toBe(200);
    return readJson<ListJson>(res);
  };
  const get = async (id: string, user = alice) => {
    const res = await apiGet(server.baseUrl, `/api/campaigns/${id}`, user);
    expect(res.status).toBe(200);
    return readJson<CampaignJson>(res);
  };

  /** Every page of the list, following next_cursor. */
  async function allPages(query: string, user = alice): Promise<{ campaigns: CampaignJson[]; pages: number }> {
    const campaigns: CampaignJson[] = [];
    let pages = 0;
    for (let cursor: string | null = ''; cursor !== null; pages += 1) {
      const page = await list(`?${query}${cursor === '' ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, user);
      campaigns.push(...page.campaigns);
      cursor = page.next_cursor;
    }
    return { campaigns, pages };
  }

  /** Ends the seeded run: its leads personalized (one failed), as the pipeline would. */
  async function finishRun(run: { runId: string; leadIds: ReadonlyMap<string, string> }): Promise<void> {
    const ids = [...run.leadIds.values()];
    for (const [index, leadId] of ids.entries()) {
      await settleLead(server, run.runId, leadId, index === 0 ? { error: 'bounced' } : { message: `Hi ${index}` });
    }
  }

  describe('GET /api/campaigns', () => {
    let user: TestUser;
    const ids: string[] = [];

    beforeAll(async () => {
      user = await testUser();
      // Oldest first; names chosen for the filter (a literal % and _ among them).
      for (const name of ['Spring outreach', 'SPRING follow-up', '100% growth', 'Growth_team', 'Winter']) {
        ids.push((await seedRun(server, { userId: user.id, csv: CSV(`${ids.length}.example`), campaignName: name })).campaignId);
      }
    });

    it('lists only the caller’s campaigns, newest first, each with counts, cost and its last run', async () => {
      const { campaigns } = await list('', user);
      expect(campaigns.map((campaign) => campaign.id)).toEqual([...ids].reverse());
      const winter = campaigns[0]!;
      expect(winter).toMatchObject({
        name: 'Winter',
        run_count: 1,
        counts: { total: 3, pending: 3, personalized: 0, needs_review: 0, failed: 0 },
        cost_usd: 0,
        runs_url: `/api/campaigns/${winter.id}/runs`,
        results_url: `/api/campaigns/results/${winter.id}`,
        export_url: `/api/campaigns/export/${winter.id}`,
      });
      expect(winter.last_run).toMatchObject({
        status: 'personalizing',
        demo: false,
        file_name: 'leads.csv',
        counters: { total_rows: 3, valid: 3, duplicates: 0, rejected_rows: 0, skipped: 0, processed: 0, personalized: 0, needs_review: 0, failed: 0 },
        cost_usd: 0,
        error_message: null,
        completed_at: null,
      });
      expect(winter.last_run?.status_url).toBe(`/api/campaigns/status/${winter.last_run?.id}`);
      expect(new Date(winter.created_at).toISOString()).toBe(winter.created_at);
      // Nobody else's.
      const others = await list('', bob);
      expect(others.campaigns.some((campaign) => ids.includes(campaign.id))).toBe(false);
    });

    it('pages by cursor through every campaign exactly once, 50 to a page by default', async () => {
      const { campaigns, pages } = await allPages('limit=2', user);
      expect(pages).toBe(3);
      expect(campaigns.map((campaign) => campaign.id)).toEqual([...ids].reverse());
      const first = await list('', user);
      expect(first.next_cursor).toBeNull();
      expect(first.campaigns).toHaveLength(5);
    });

    it('keeps a page boundary while campaigns are added: a new one comes first, never twice', async () => {
      const page = await list('?limit=2', user);
      const added = await seedRun(server, { userId: user.id, csv: CSV('added.example'), campaignName: 'Added meanwhile' });
      const rest = await list(`?limit=10&cursor=${encodeURIComponent(page.next_cursor!)}`, user);
      expect([...page.campaigns, ...rest.campaigns].map((campaign) => campaign.id)).toEqual([...ids].reverse());
      expect((await list('?limit=1', user)).campaigns[0]?.id).toBe(added.campaignId);
      ids.push(added.campaignId);
    });

    it('filters by name, ignoring case; % and _ are plain characters', async () => {
      const names = async (q: string) => (await allPages(`q=${encodeURIComponent(q)}&limit=1`, user)).campaigns.map((campaign) => campaign.name);
      expect(await names('spring')).toEqual(['SPRING follow-up', 'Spring outreach']);
      expect(await names('%')).toEqual(['100% growth']);
      expect(await names('o_t')).toEqual([]);
      expect(await names('_')).toEqual(['Growth_team']);
      expect(await names('GROWTH')).toEqual(['Growth_team', '100% growth']);
      expect(await names('nothing like it')).toEqual([]);
      expect(await names('  winter ')).toEqual(['Winter']);
    });

    it('answers 400 for a limit outside 1..200, a cursor it did not hand out, and an overlong q', async () => {
      for (const [query, detail] of [
        ['?limit=0', /limit must be a whole number from 1 to 200/],
        ['?limit=201', /limit must be a whole number from 1 to 200/],
        ['?limit=x', /limit must be a whole number from 1 to 200/],
        ['?cursor=bm90LWEtY3Vyc29y', /cursor/],
        ['?cursor=%21', /cursor/],
        [`?q=${'x'.repeat(201)}`, /q must be at most 200 characters/],
        ['?q=a%00b', /q must not contain a NUL character/],
      ] as const) {
        const body = await expectProblem(await apiGet(server.baseUrl, `/api/campaigns${query}`, user), 400);
        expect(body.detail).toMatch(detail);
      }
      expect((await list('?limit=200', user)).campaigns).toHaveLength(ids.length);
    });
  });

  describe('GET /api/campaigns/:id', () => {
    it('shows the campaign with the settings its next run uses, its counts and cost once leads settle', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('detail.example', 4), campaignName: 'Detail' });
      await finishRun(run);
      const campaign = await get(run.campaignId);
      expect(campaign).toMatchObject({
        id: run.campaignId,
        name: 'Detail',
        research_prompt: null,
        personalization_prompt: null,
        allow_questions: false,
        webhook_url: null,
        run_count: 1,
        counts: { total: 4, pending: 0, personalized: 3, needs_review: 0, failed: 1 },
      });
      expect(campaign.last_run).toMatchObject({ id: run.runId, status: 'completed', counters: { processed: 4, personalized: 3, failed: 1 } });
      expect(campaign.last_run?.completed_at).toEqual(expect.any(String));
    });

    it('sums the cost of every run of the campaign', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('cost.example', 2), campaignName: 'Costly' });
      const [a, b] = [...run.leadIds.values()];
      await server.store.saveResearch(a!, run.runId, { text: 'R.', citations: [], model: 'm' }, '0.010000');
      await server.store.savePersonalized(a!, run.runId, { message: 'Hi', basis: 'R.', model: 'm' }, '0.002500');
      await server.store.countOutcome(a!, run.runId, { hoursPerLead: 0, moneyPerLead: 0 });
      await server.store.saveFailed(b!, run.runId, 'no');
      await server.store.countOutcome(b!, run.runId, { hoursPerLead: 0, moneyPerLead: 0 });
      await server.store.completeIfSettled(run.runId);
      const second = await seedRun(server, { userId: alice.id, csv: CSV('cost2.example', 1), campaignId: run.campaignId });
      const [c] = [...second.leadIds.values()];
      await server.store.saveResearch(c!, second.runId, { text: 'R.', citations: [], model: 'm' }, '0.000001');
      await server.store.saveFailed(c!, second.runId, 'no');
      await server.store.countOutcome(c!, second.runId, { hoursPerLead: 0, moneyPerLead: 0 });
      const campaign = await get(run.campaignId);
      expect(campaign.cost_usd).toBe(0.012501);
      expect(campaign.run_count).toBe(2);
      expect(campaign.last_run?.id).toBe(second.runId);
      expect(campaign.last_run?.cost_usd).toBe(0.000001);
    });

    it('answers 404, saying nothing of it, for another user’s campaign, an unknown id and a malformed one', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('private.example'), campaignName: 'Private' });
      for (const [user, id] of [
        [bob, run.campaignId],
        [alice, randomUUID()],
        [alice, 'not-a-uuid'],
      ] as const) {
        for (const path of [`/api/campaigns/${id}`, `/api/campaigns/${id}/runs`]) {
          const body = await expectProblem(await apiGet(server.baseUrl, path, user), 404);
          expect(body.detail).toBe('No campaign with this id.');
        }
        await expectProblem(await patch(id, { name: 'Mine now' }, user), 404);
        await expectProblem(await send('DELETE', `/api/campaigns/${id}`, user), 404);
      }
      expect((await get(run.campaignId)).name).toBe('Private');
    });

    it('leaves the other /api/campaigns routes where they were', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('routes.example'), campaignName: 'Routes' });
      for (const path of [`/status/${run.runId}`, `/results/${run.campaignId}`, `/export/${run.campaignId}`, `/runs/${run.runId}/report`]) {
        expect((await apiGet(server.baseUrl, `/api/campaigns${path}`, alice)).status).toBe(200);
      }
    });
  });

  describe('PATCH /api/campaigns/:id', () => {
    it('renames the campaign and changes the settings its next runs use; null clears a prompt', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('patch.example'), campaignName: 'Before' });
      const res = await patch(run.campaignId, {
        name: '  After  ',
        research_prompt: 'Look for funding news.',
        personalization_prompt: 'Mention the funding.',
        allow_questions: true,
        webhook_url: 'https://93.184.215.14/hooks/aga',
      });
      expect(res.status).toBe(200);
      const body = await readJson<CampaignJson>(res);
      expect(body).toMatchObject({
        id: run.campaignId,
        name: 'After',
        research_prompt: 'Look for funding news.',
        personalization_prompt: 'Mention the funding.',
        allow_questions: true,
        webhook_url: 'https://93.184.215.14/hooks/aga',
        counts: { total: 3 },
      });
      expect(await get(run.campaignId)).toEqual(body);

      const cleared = await readJson<CampaignJson>(await patch(run.campaignId, { research_prompt: null, personalization_prompt: '  ', webhook_url: null }));
      expect(cleared).toMatchObject({ name: 'After', research_prompt: null, personalization_prompt: null, allow_questions: true, webhook_url: null });
      // The run already recorded keeps what it was submitted with.
      const [stored] = await server.sql`select research_prompt, allow_questions from campaign_runs where id = ${run.runId}`;
      expect(stored).toEqual({ research_prompt: null, allow_questions: false });
    });

    it('makes the next submission without settings use the campaign’s, and one with settings change them', async () => {
      const first = await postProcess(server.baseUrl, {
        token: alice.token,
        content: CSV('next.example'),
        fields: { campaign_name: 'Next runs', research_prompt: 'First research.', allow_questions: 'true' },
      });
      expect(first.status).toBe(202);
      const { campaign_id: campaignId } = await readJson<{ campaign_id: string }>(first);
      expect(await get(campaignId)).toMatchObject({ research_prompt: 'First research.', personalization_prompt: null, allow_questions: true });

      await patch(campaignId, { personalization_prompt: 'Patched writer prompt.' });
      const second = await postProcess(server.baseUrl, { token: alice.token, content: CSV('next2.example'), fields: { campaign_id: campaignId } });
      expect(second.status).toBe(202);
      const third = await postProcess(server.baseUrl, {
        token: alice.token,
        content: CSV('next3.example'),
        fields: { campaign_id: campaignId, research_prompt: 'Third research.', allow_questions: 'false' },
      });
      expect(third.status).toBe(202);

      const runs = await readJson<{ runs: RunJson[] }>(await apiGet(server.baseUrl, `/api/campaigns/${campaignId}/runs`, alice));
      expect(runs.runs.map((run) => [run.research_prompt, run.personalization_prompt, run.allow_questions])).toEqual([
        ['Third research.', 'Patched writer prompt.', false],
        ['First research.', 'Patched writer prompt.', true],
        ['First research.', null, true],
      ]);
      expect(await get(campaignId)).toMatchObject({ research_prompt: 'Third research.', personalization_prompt: 'Patched writer prompt.', allow_questions: false });
    });

    it('answers 400 naming the problem, and changes nothing', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('bad.example'), campaignName: 'Unchanged' });
      for (const [body, detail] of [
        [{}, /send at least one of name, research_prompt, personalization_prompt, webhook_url, allow_questions/],
        [{ nme: 'typo' }, /nme is not a field of a campaign you can change/],
        [{ name: '   ' }, /name must not be blank/],
        [{ name: 'x'.repeat(201) }, /name must be at most 200 characters/],
        [{ name: null }, /name must be text/],
        [{ research_prompt: 'x'.repeat(4001) }, /research_prompt must be at most 4000 characters/],
        [{ allow_questions: 'yes' }, /allow_questions must be true or false/],
        [{ webhook_url: 'http://127.0.0.1/hook' }, /webhook_url resolves to a private, loopback or reserved address/],
        [{ webhook_url: 'ftp://93.184.215.14/x' }, /webhook_url must use http or https/],
        [[], /send at least one of/],
        ['"just text"', /the body must be a JSON object/],
        ['{"name": ', /The body is not valid JSON/],
      ] as const) {
        const res = await patch(run.campaignId, body);
        expect((await expectProblem(res, 400)).detail).toMatch(detail);
      }
      await expectProblem(await send('PATCH', `/api/campaigns/${run.campaignId}`, alice, 'name=x', 'application/x-www-form-urlencoded'), 415);
      await expectProblem(await patch(run.campaignId, { name: 'x', research_prompt: 'y'.repeat(70_000) }), 413);
      expect(await get(run.campaignId)).toMatchObject({ name: 'Unchanged', research_prompt: null, webhook_url: null });
    });
  });

  describe('names are unique per user', () => {
    it('answers 409 with the existing campaign’s id to a submission or a rename to a name the user has, ignoring case and spaces', async () => {
      const user = await testUser();
      const existing = await seedRun(server, { userId: user.id, csv: CSV('taken.example'), campaignName: 'Q3 Outreach' });
      const other = await seedRun(server, { userId: user.id, csv: CSV('other.example'), campaignName: 'Other' });
      const runsBefore = await server.sql`select id from campaign_runs where user_id = ${user.id}`;

      const submitted = await postProcess(server.baseUrl, { token: user.token, content: CSV('again.example'), fields: { campaign_name: '  q3 OUTREACH ' } });
      expect(submitted.status).toBe(409);
      expect(submitted.headers.get('content-type')).toBe('application/problem+json');
      const problem = await readJson(submitted);
      expect(problem).toMatchObject({ type: 'tag:ai-growth-accelerator,2026:campaign-name-taken', status: 409, campaign_id: existing.campaignId });
      expect(problem.detail).toMatch(/already have a campaign with this name/);
      expect(await server.sql`select id from campaign_runs where user_id = ${user.id}`).toHaveLength(runsBefore.length);

      const renamed = await send('PATCH', `/api/campaigns/${other.campaignId}`, user, { name: 'Q3 OUTREACH' });
      expect(renamed.status).toBe(409);
      expect(await readJson(renamed)).toMatchObject({ type: 'tag:ai-growth-accelerator,2026:campaign-name-taken', campaign_id: existing.campaignId });
      expect((await get(other.campaignId, user)).name).toBe('Other');

      // Its own name in another case is a rename, and another user may have the name.
      expect((await readJson<CampaignJson>(await send('PATCH', `/api/campaigns/${existing.campaignId}`, user, { name: 'Q3 outreach' }))).name).toBe('Q3 outreach');
      const elsewhere = await postProcess(server.baseUrl, { token: bob.token, content: CSV('bob.example'), fields: { campaign_name: 'Q3 Outreach' } });
      expect(elsewhere.status).toBe(202);
    });

    it('lets only one of two concurrent submissions of a new name create the campaign', async () => {
      const user = await testUser();
      const answers = await Promise.all(
        [1, 2, 3].map((i) => postProcess(server.baseUrl, { token: user.token, content: CSV(`race${i}.example`), fields: { campaign_name: 'Race' } })),
      );
      const statuses = answers.map((res) => res.status).sort();
      expect(statuses).toEqual([202, 409, 409]);
      const created = await readJson<{ campaign_id: string }>(answers.find((res) => res.status === 202)!);
      for (const res of answers.filter((answer) => answer.status === 409)) expect(await readJson(res)).toMatchObject({ campaign_id: created.campaign_id });
      expect(await server.sql`select id from campaigns where user_id = ${user.id}`).toHaveLength(1);
    });
  });

  describe('GET /api/campaigns/:id/runs', () => {
    it('lists the campaign’s runs newest first, paged, with their counters and settings', async () => {
      const first = await seedRun(server, { userId: alice.id, csv: CSV('runs.example', 2), campaignName: 'Many runs' });
      await finishRun(first);
      const runIds = [first.runId];
      for (let i = 0; i < 4; i += 1) {
        runIds.push((await seedRun(server, { userId: alice.id, csv: CSV(`runs${i}.example`, 1), campaignId: first.campaignId })).runId);
      }
      const seen: RunJson[] = [];
      let pages = 0;
      for (let cursor: string | null = ''; cursor !== null; pages += 1) {
        const res = await apiGet(server.baseUrl, `/api/campaigns/${first.campaignId}/runs?limit=2${cursor === '' ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, alice);
        expect(res.status).toBe(200);
        const page = await readJson<{ runs: RunJson[]; next_cursor: string | null }>(res);
        seen.push(...page.runs);
        cursor = page.next_cursor;
      }
      expect(pages).toBe(3);
      expect(seen.map((run) => run.id)).toEqual([...runIds].reverse());
      expect(seen.at(-1)).toMatchObject({
        id: first.runId,
        status: 'completed',
        counters: { total_rows: 2, valid: 2, processed: 2, personalized: 1, failed: 1 },
        research_prompt: null,
        personalization_prompt: null,
        allow_questions: false,
        status_url: `/api/campaigns/status/${first.runId}`,
      });
      const bad = await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/${first.campaignId}/runs?cursor=abc`, alice), 400);
      expect(bad.detail).toMatch(/cursor/);
      await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/${first.campaignId}/runs?limit=201`, alice), 400);
    });
  });

  describe('DELETE /api/campaigns/:id', () => {
    /** Every row left anywhere of these campaigns and runs. */
    async function remains(campaignIds: readonly string[], runIds: readonly string[]): Promise<Record<string, number>> {
      const [row] = await server.sql<Record<string, number>[]>`
        select (select count(*)::int from campaigns where id = any(${campaignIds}::uuid[])) as campaigns,
               (select count(*)::int from campaign_runs where id = any(${runIds}::uuid[]) or campaign_id = any(${campaignIds}::uuid[])) as runs,
               (select count(*)::int from leads where run_id = any(${runIds}::uuid[]) or campaign_id = any(${campaignIds}::uuid[])) as leads,
               (select count(*)::int from paid_call_claims where run_id = any(${runIds}::uuid[])) as claims,
               (select count(*)::int from run_deliveries where run_id = any(${runIds}::uuid[])) as deliveries,
               (select count(*)::int from outbox where run_id = any(${runIds}::uuid[])) as outbox,
               (select count(*)::int from idempotency_keys where run_id = any(${runIds}::uuid[]) or campaign_id = any(${campaignIds}::uuid[])) as keys`;
      return row!;
    }

    /** The object store's messages about a run's file: its chunks and its record (name, file name). */
    async function fileTraces(runId: string): Promise<number> {
      const jsm = await jetstreamManager(server.nc);
      const info = await jsm.streams.info(`OBJ_${server.fileBucket}`, { subjects_filter: '>' });
      const subjects = info.state.subjects ?? {};
      const meta = `$O.${server.fileBucket}.M.${Buffer.from(runFileKey(runId)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
      return subjects[meta] ?? 0;
    }

    it('refuses while a run is in progress (409 naming it), then erases the campaign, its runs, leads, claims, deliveries, events, keys and files', async () => {
      const user = await testUser();
      // A run submitted over HTTP with an Idempotency-Key (a key row, a stored file, an outbox event).
      const submitted = await postProcess(server.baseUrl, {
        token: user.token,
        content: CSV('erase.example', 3),
        fields: { campaign_name: 'To erase' },
        headers: { 'Idempotency-Key': randomUUID() },
      });
      expect(submitted.status).toBe(202);
      const { campaign_id: campaignId, run_id: submittedRun } = await readJson<{ campaign_id: string; run_id: string }>(submitted);
      expect(await fileTraces(submittedRun)).toBeGreaterThan(0);
      // A second run of it, extracted, with a paid-call claim, a delivery and an event waiting.
      const second = await seedRun(server, { userId: user.id, csv: CSV('erase2.example', 2), campaignId });
      const [leadId] = [...second.leadIds.values()];
      expect(await server.store.claimCall({ leadId: leadId!, runId: second.runId, stage: 'research', owner: 'test', leaseMs: 60_000 })).toMatchObject({ kind: 'claimed' });
      await server.store.recordDeliveryAttempt({ runId: second.runId, userId: user.id }, 'webhook', 'receiver down');
      await server.stores.uow.enqueue([{ type: 'lead.researched', run_id: second.runId, lead_id: leadId! }]);
      // A file the extraction never got to discard.
      await server.files.put(runFileKey(second.runId), Readable.from([Buffer.from(CSV('erase2.example', 2))]), { fileName: 'jane-doe-contacts.csv' });
      // Another campaign of the user's, and another user's: untouched.
      const kept = await seedRun(server, { userId: user.id, csv: CSV('kept.example'), campaignName: 'Kept' });
      const bobs = await seedRun(server, { userId: bob.id, csv: CSV('bobs.example'), campaignName: 'To erase' });

      const refused = await send('DELETE', `/api/campaigns/${campaignId}`, user);
      expect(refused.status).toBe(409);
      const problem = await readJson<{ type: string; detail: string; run_ids: string[] }>(refused);
      expect(problem.type).toBe('tag:ai-growth-accelerator,2026:run-in-progress');
      expect(problem.run_ids.sort()).toEqual([submittedRun, second.runId].sort());
      expect(problem.detail).toMatch(/cancel it \(POST \/api\/campaigns\/runs\/[0-9a-f-]+\/cancel\) or wait for it to end/);
      expect(await remains([campaignId], [submittedRun, second.runId])).toMatchObject({ campaigns: 1, runs: 2, claims: 1, deliveries: 1 });

      // A cancelled run whose calls in flight have not settled yet has not ended either.
      await server.sql`update campaign_runs set status = 'cancelled', cancelled_at = now(), completed_at = null where id = ${second.runId}`;
      const stillInFlight = await send('DELETE', `/api/campaigns/${campaignId}`, user);
      expect(stillInFlight.status).toBe(409);
      expect((await readJson<{ run_ids: string[] }>(stillInFlight)).run_ids.sort()).toEqual([submittedRun, second.runId].sort());
      await server.sql`update campaign_runs set status = 'personalizing', cancelled_at = null where id = ${second.runId}`;

      // The runs end (as a failure or a cancellation would end them).
      await server.store.failRun(submittedRun, 'The run was stopped.');
      await server.store.failRun(second.runId, 'The run was stopped.');
      expect((await remains([campaignId], [submittedRun, second.runId])).outbox).toBeGreaterThan(0);

      const erased = await send('DELETE', `/api/campaigns/${campaignId}`, user);
      expect(erased.status).toBe(204);
      expect(await erased.text()).toBe('');
      expect(await remains([campaignId], [submittedRun, second.runId])).toEqual({
        campaigns: 0,
        runs: 0,
        leads: 0,
        claims: 0,
        deliveries: 0,
        outbox: 0,
        keys: 0,
      });
      for (const runId of [submittedRun, second.runId]) {
        await expect(server.files.get(runFileKey(runId))).rejects.toBeInstanceOf(FileNotFoundError);
        expect(await fileTraces(runId)).toBe(0);
      }
      await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/${campaignId}`, user), 404);
      await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/results/${campaignId}`, user), 404);
      await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/status/${second.runId}`, user), 404);
      expect((await list('', user)).campaigns.map((campaign) => campaign.id)).toEqual([kept.campaignId]);
      expect(await remains([kept.campaignId, bobs.campaignId], [kept.runId, bobs.runId])).toMatchObject({ campaigns: 2, runs: 2, leads: 6 });

      // Gone: a second delete is a 404, the name is free again, and a run of it is refused.
      await expectProblem(await send('DELETE', `/api/campaigns/${campaignId}`, user), 404);
      const orphan = await postProcess(server.baseUrl, { token: user.token, content: CSV('late.example'), fields: { campaign_id: campaignId } });
      expect((await expectProblem(orphan, 404)).detail).toBe('No campaign with this campaign_id.');
      expect((await postProcess(server.baseUrl, { token: user.token, content: CSV('reuse.example'), fields: { campaign_name: 'To erase' } })).status).toBe(202);
    });

    it('refuses while a run is paused (paused is not ended), erases once it is cancelled; the list counts its cancelled leads', async () => {
      const user = await testUser();
      const seeded = await seedRun(server, { userId: user.id, csv: CSV('paused.example', 3), campaignName: 'Paused' });
      await settleLead(server, seeded.runId, seeded.leadIds.get('p0@paused.example')!, { message: 'Hi.' });
      expect((await send('POST', `/api/campaigns/runs/${seeded.runId}/pause`, user)).status).toBe(200);

      const refused = await send('DELETE', `/api/campaigns/${seeded.campaignId}`, user);
      expect(refused.status).toBe(409);
      expect(await readJson(refused)).toMatchObject({ run_ids: [seeded.runId] });

      expect((await send('POST', `/api/campaigns/runs/${seeded.runId}/cancel`, user)).status).toBe(200);
      const listed = await readJson<{ campaigns: { id: string; counts: Record<string, number>; last_run: { status: string; counters: Record<string, number> } }[] }>(
        await apiGet(server.baseUrl, '/api/campaigns', user),
      );
      expect(listed.campaigns).toEqual([
        expect.objectContaining({
          id: seeded.campaignId,
          counts: { total: 3, pending: 0, personalized: 1, needs_review: 0, failed: 0, suppressed: 0, cancelled: 2 },
          last_run: expect.objectContaining({ status: 'cancelled', counters: expect.objectContaining({ processed: 1, cancelled: 2 }) as unknown }) as unknown,
        }),
      ]);
      expect((await send('DELETE', `/api/campaigns/${seeded.campaignId}`, user)).status).toBe(204);
    });

    it('erases a campaign of more leads than one statement deletes', async () => {
      const user = await testUser();
      const run = await seedRun(server, { userId: user.id, csv: CSV('big.example', 2), campaignName: 'Big' });
      await server.sql`
        insert into leads (campaign_id, run_id, user_id, row_number, email, company, fields, status)
        select ${run.campaignId}, ${run.runId}, ${user.id}, n + 10, 'lead' || n || '@big.example', 'Big Co', '[]'::jsonb, 'failed'
        from generate_series(1, 12000) n`;
      await server.store.failRun(run.runId, 'The run was stopped.');
      expect((await remains([run.campaignId], [run.runId])).leads).toBe(12002);
      expect((await send('DELETE', `/api/campaigns/${run.campaignId}`, user)).status).toBe(204);
      expect(await remains([run.campaignId], [run.runId])).toMatchObject({ campaigns: 0, runs: 0, leads: 0 });
    });

    it('erases a campaign whose runs all ended, with the results of a finished run', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV('done.example', 2), campaignName: 'Done and gone' });
      await finishRun(run);
      expect((await send('DELETE', `/api/campaigns/${run.campaignId}`, alice)).status).toBe(204);
      expect(await remains([run.campaignId], [run.runId])).toMatchObject({ campaigns: 0, runs: 0, leads: 0 });
    });
  });
});
