/**
 * The HTTP edge's routes through `app.request()`: no listening server, database or broker. The
 * inbound ports are in-memory doubles; tokens are verified by the real verifier with the test
 * secret. (The tests that need a real server, for streaming uploads over a socket, the event
 * stream and the real stores, stay in the other files of this folder.)
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SupabaseTokenVerifier } from '../../adapters/auth/supabase-token-verifier.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import { DEFAULT_PRICING } from '../../domain/pricing/pricing.ts';
import { InvalidCursorError, type LeadView, type RunView } from '../../ports/campaign-queries.port.ts';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import { CampaignNotFoundError } from '../../ports/submission-store.port.ts';
import { InvalidCampaignOption } from '../../ports/submit-campaign.port.ts';
import { FakeApiStatusReader, FakeCampaignQueries, FakeManageCampaigns, FakePreviewImport, FakeSubmitCampaign, FakeSuppressions, RecordingRunNotifications } from '../support/fakes/index.ts';
import { hs256Token, TEST_JWT_SECRET } from '../support/tokens.ts';
import { expectProblem, readJson } from './helpers.ts';

function edge(readiness: readonly ReadinessProbe[] = []) {
  const queries = new FakeCampaignQueries();
  const submit = new FakeSubmitCampaign();
  const providers = new FakeApiStatusReader();
  const notifications = new RecordingRunNotifications();
  const app = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    corsOrigins: [],
    tokenVerifier: new SupabaseTokenVerifier({ jwtSecret: TEST_JWT_SECRET }),
    readiness,
    previewImport: new FakePreviewImport(),
    limits: DEFAULT_IMPORT_LIMITS,
    pricing: DEFAULT_PRICING,
    submitCampaign: submit,
    manageCampaigns: new FakeManageCampaigns(),
    campaignOptions: [{ field: 'webhook_url' }],
    campaignQueries: queries,
    runWatcher: notifications,
    providerStatus: providers,
    suppressions: new FakeSuppressions(),
  });
  return { app, queries, submit, providers, notifications };
}

async function as(userId: string): Promise<Record<string, string>> {
  return { Authorization: `Bearer ${await hs256Token({ sub: userId })}` };
}

function runView(runId: string, overrides: Partial<RunView> = {}): RunView {
  return {
    run_id: runId,
    campaign_id: randomUUID(),
    status: 'personalizing',
    total_rows: 3,
    valid: 3,
    duplicates: 0,
    rejected_rows: 0,
    skipped: 0,
    processed: 1,
    personalized: 1,
    needs_review: 0,
    failed: 0,
    suppressed: 0,
    cancelled: 0,
    cost_usd: 0.0168,
    research_cache_hits: 0,
    error_message: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:01:00.000Z',
    completed_at: null,
    sandbox: false,
    cancelled_at: null,
    paused_at: null,
    deliveries: {},
    ...overrides,
  };
}

function leadView(runId: string, row: number): LeadView {
  return {
    id: randomUUID(),
    run_id: runId,
    row,
    email: `lead${row}@example.com`,
    company: 'Acme',
    canonical: { email: `lead${row}@example.com`, company: 'Acme' },
    fields: [
      ['Email', `lead${row}@example.com`],
      ['Company', 'Acme'],
    ],
    status: 'failed',
    research: null,
    citations: [],
    research_cached: false,
    message: null,
    outputs: {},
    message_basis: null,
    error: 'research failed after 6 attempts: provider unavailable',
    attempts: 6,
    model: null,
    research_model: null,
    cost_usd: 0,
    sandbox: false,
    updated_at: '2026-01-01T00:02:00.000Z',
    settled_at: '2026-01-01T00:02:00.000Z',
  };
}

function processForm(fields: Record<string, string>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('csv_file', new File(['Email,Company\nada@example.com,Analytical Engines\n'], 'leads.csv', { type: 'text/csv' }));
  return form;
}

/** Reads server-sent events until `count` have come: `[event, data]` pairs. */
async function readEvents(res: Response, count: number): Promise<[string, unknown][]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: [string, unknown][] = [];
  let buffer = '';
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) events.push([event, JSON.parse(data)]);
    }
  }
  await reader.cancel();
  return events;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the edge through app.request()', () => {
  it('answers /healthz without a token, and /readyz with a problem naming the failing dependency', async () => {
    const down: ReadinessProbe = { name: 'postgres', check: () => Promise.reject(new Error('connection refused')) };
    const up: ReadinessProbe = { name: 'nats', check: () => Promise.resolve() };
    const { app } = edge([down, up]);
    const health = await app.request('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const body = await expectProblem(await app.request('/readyz'), 503);
    expect(body).toMatchObject({ detail: 'Not ready: postgres unreachable.', checks: { postgres: 'unreachable', nats: 'ok' }, instance: '/readyz' });
  });

  it('answers 401 problems without a token, with a malformed one and with a forged one', async () => {
    const { app } = edge();
    const path = `/api/campaigns/status/${randomUUID()}`;
    const missing = await app.request(path);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    await expectProblem(missing, 401);
    await expectProblem(await app.request(path, { headers: { Authorization: 'Basic abc' } }), 401);
    const forged = await app.request(path, { headers: { Authorization: `Bearer ${await hs256Token({}, 'another-secret-0123456789abcdef0123')}` } });
    expect(forged.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    await expectProblem(forged, 401);
  });

  it("answers 404 for another user's run, an unknown one and a malformed id, and the run's status to its owner", async () => {
    const { app, queries } = edge();
    const [owner, stranger] = [randomUUID(), randomUUID()];
    const runId = randomUUID();
    queries.addRun(owner, runView(runId, { status: 'completed', completed_at: '2026-01-01T00:05:00.000Z' }));

    for (const [user, path] of [
      [stranger, runId],
      [owner, randomUUID()],
      [owner, 'not-a-uuid'],
    ] as const) {
      const body = await expectProblem(await app.request(`/api/campaigns/status/${path}`, { headers: await as(user) }), 404);
      expect(body.detail).toBe('No run with this id.');
    }
    const res = await app.request(`/api/campaigns/status/${runId}`, { headers: await as(owner) });
    expect(res.status).toBe(200);
    const { deliveries: _none, ...view } = runView(runId, { status: 'completed', completed_at: '2026-01-01T00:05:00.000Z' });
    expect(await res.json()).toEqual({ ...view, campaign_id: expect.any(String) as unknown, eta: null, notices: [] });
  });

  it("shows each delivery of the run under its consumer's name", async () => {
    const { app, queries } = edge();
    const owner = randomUUID();
    const runId = randomUUID();
    const webhook = { delivered_at: null, attempts: 2, last_error: 'webhook 503: unavailable', failed_at: null };
    queries.addRun(owner, runView(runId, { status: 'completed', completed_at: '2026-01-01T00:05:00.000Z', deliveries: { webhook } }));
    const body = await readJson(await app.request(`/api/campaigns/status/${runId}`, { headers: await as(owner) }));
    expect(body.webhook).toEqual(webhook);
    expect(body).not.toHaveProperty('deliveries');
  });

  it("tells why a run in progress may be waiting: the outside APIs that are not ok", async () => {
    const { app, queries, providers } = edge();
    const owner = randomUUID();
    const runId = randomUUID();
    queries.addRun(owner, runView(runId));
    providers.statuses = [
      { api: 'research', state: 'paused', reason: 'provider out of credit', since: '2026-01-01T00:00:00.000Z' },
      { api: 'personalization', state: 'circuit_open', reason: 'most recent calls failed', since: '2026-01-01T00:00:00.000Z' },
      { api: 'webhook', state: 'ok', reason: null, since: null },
    ];
    const body = await readJson(await app.request(`/api/campaigns/status/${runId}`, { headers: await as(owner) }));
    expect(body.notices).toEqual([
      { code: 'provider_paused', api: 'research', message: 'research paused: provider out of credit' },
      { code: 'provider_unavailable', api: 'personalization', message: 'personalization unavailable (circuit open): most recent calls failed' },
    ]);
    // The research the run still needs is paused: when it ends is unknown.
    expect(body.eta).toBeNull();
    expect(body).toMatchObject({ run_id: runId, status: 'personalizing', processed: 1 });
  });

  it('passes the results page asked for through, and answers its cursor', async () => {
    const { app, queries } = edge();
    const owner = randomUUID();
    const campaignId = randomUUID();
    const runId = randomUUID();
    const leads = [leadView(runId, 2), leadView(runId, 3)];
    queries.setLeads(owner, campaignId, { leads, next_cursor: 'next-page' });

    const res = await app.request(`/api/campaigns/results/${campaignId}?status=failed,needs_review,failed&run_id=${runId}&limit=2&cursor=abc`, { headers: await as(owner) });
    expect(res.status).toBe(200);
    expect(queries.leadCalls).toEqual([{ userId: owner, campaignId, page: { statuses: ['failed', 'needs_review'], runId, cursor: 'abc', limit: 2 } }]);
    const body = await readJson<{ leads: Record<string, unknown>[]; next_cursor: string }>(res);
    expect(body.next_cursor).toBe('next-page');
    expect(body.leads.map((lead) => lead.id)).toEqual(leads.map((lead) => lead.id));
    expect(body.leads[0]).toMatchObject({
      row: 2,
      enrichment_status: 'failed',
      personalized_message: null,
      error: 'research failed after 6 attempts: provider unavailable',
      sources: [],
      fields: { Email: 'lead2@example.com', Company: 'Acme' },
    });
    expect(body.leads[0]).not.toHaveProperty('message');
    expect(body.leads[0]).not.toHaveProperty('status');

    await app.request(`/api/campaigns/results/${campaignId}`, { headers: await as(owner) });
    expect(queries.leadCalls[1]?.page).toEqual({ limit: 100 });
  });

  it('answers bad result queries with 400, a cursor it did not hand out with 400, another campaign with 404', async () => {
    const { app, queries } = edge();
    const owner = randomUUID();
    const campaignId = randomUUID();
    const headers = await as(owner);
    expect((await expectProblem(await app.request(`/api/campaigns/results/${campaignId}?limit=501`, { headers }), 400)).detail).toBe('limit must be a whole number from 1 to 500');
    expect((await expectProblem(await app.request(`/api/campaigns/results/${campaignId}?status=done`, { headers }), 400)).detail).toMatch(/^status must be one or more/);
    expect((await expectProblem(await app.request(`/api/campaigns/results/${campaignId}?status=failed,`, { headers }), 400)).detail).toMatch(/^status must be one or more/);
    expect((await expectProblem(await app.request(`/api/campaigns/results/${campaignId}?run_id=run-1`, { headers }), 400)).detail).toMatch(/^run_id must be/);
    expect(queries.leadCalls).toEqual([]);

    await expectProblem(await app.request(`/api/campaigns/results/${campaignId}`, { headers }), 404);
    queries.setLeads(owner, campaignId, new InvalidCursorError());
    expect((await expectProblem(await app.request(`/api/campaigns/results/${campaignId}?cursor=forged`, { headers }), 400)).detail).toBe('cursor is not one this listing handed out');
  });

  it("answers the caller's KPIs", async () => {
    const { app, queries } = edge();
    const owner = randomUUID();
    queries.setMetrics(owner, { leads_personalized: 3, hours_saved: '0.06', money_saved: '0.12', updated_at: '2026-01-01T00:00:00.000Z' });
    expect(await (await app.request('/api/metrics', { headers: await as(owner) })).json()).toEqual({
      leads_personalized: 3,
      hours_saved: 0.06,
      money_saved: 0.12,
      updated_at: '2026-01-01T00:00:00.000Z',
    });
  });

  it('submits an upload with its details and campaign options, and answers 202 with where to follow the run', async () => {
    const { app, submit } = edge();
    const owner = randomUUID();
    const res = await app.request('/api/campaigns/process', {
      method: 'POST',
      headers: await as(owner),
      body: processForm({ campaign_name: ' Q3 outbound ', demo: 'true', research_prompt: 'Funding news.', webhook_url: ' https://hooks.example/a ', ignored: 'x' }),
    });
    expect(res.status).toBe(202);
    const { runId, campaignId } = submit.outcome as { runId: string; campaignId: string };
    expect(res.headers.get('location')).toBe(`/api/campaigns/status/${runId}`);
    expect(await res.json()).toEqual({
      run_id: runId,
      campaign_id: campaignId,
      status_url: `/api/campaigns/status/${runId}`,
      events_url: `/api/campaigns/events/${runId}`,
      results_url: `/api/campaigns/results/${campaignId}`,
    });
    expect(submit.calls).toEqual([
      {
        userId: owner,
        fileName: 'leads.csv',
        file: 'Email,Company\nada@example.com,Analytical Engines\n',
        details: { campaignName: 'Q3 outbound', demo: true, researchPrompt: 'Funding news.', options: { webhook_url: 'https://hooks.example/a' } },
      },
    ]);
  });

  it('maps a refused campaign option to 400 with its message, and an unknown campaign to 404', async () => {
    const { app, submit } = edge();
    const headers = await as(randomUUID());
    submit.outcome = new InvalidCampaignOption('webhook_url cannot be used: the webhook consumer is not enabled on this server (set WEBHOOK_SECRET)');
    const refused = await app.request('/api/campaigns/process', { method: 'POST', headers, body: processForm({ campaign_name: 'Q3', webhook_url: 'https://hooks.example/a' }) });
    expect((await expectProblem(refused, 400)).detail).toBe('webhook_url cannot be used: the webhook consumer is not enabled on this server (set WEBHOOK_SECRET)');

    submit.outcome = new CampaignNotFoundError();
    const unknown = await app.request('/api/campaigns/process', { method: 'POST', headers, body: processForm({ campaign_id: randomUUID() }) });
    expect((await expectProblem(unknown, 404)).detail).toBe('No campaign with this campaign_id.');

    // An unexpected failure is a 500 that says nothing of it.
    submit.outcome = new Error('connection to 10.0.0.5 refused');
    const failed = await app.request('/api/campaigns/process', { method: 'POST', headers, body: processForm({ campaign_name: 'Q3' }) });
    const body = await expectProblem(failed, 500);
    expect(JSON.stringify(body)).not.toContain('10.0.0.5');
  });

  it('answers a bad form with 400 before anything is submitted, and a body that is not multipart with 415', async () => {
    const { app, submit } = edge();
    const headers = await as(randomUUID());
    const both = await app.request('/api/campaigns/process', { method: 'POST', headers, body: processForm({ campaign_name: 'Q3', campaign_id: randomUUID() }) });
    expect((await expectProblem(both, 400)).detail).toBe('send campaign_name (a new campaign) or campaign_id (one of your campaigns), not both');
    const json = await app.request('/api/campaigns/process', { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: '{}' });
    await expectProblem(json, 415);
    expect(submit.calls).toEqual([]);
  });

  it('answers an unknown route with a 404 problem', async () => {
    const { app } = edge();
    const body = await expectProblem(await app.request('/nope'), 404);
    expect(body).toMatchObject({ title: 'Not Found', instance: '/nope', detail: 'No route for GET /nope.' });
  });

  it('follows a run on its event stream, woken by the run watcher, until it ends (token in the query string)', async () => {
    // The stream's 2-second poll never fires: only the watcher can wake it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { app, queries, notifications } = edge();
    const owner = randomUUID();
    const runId = randomUUID();
    queries.addRun(owner, runView(runId));
    const token = await hs256Token({ sub: owner });

    const res = await app.request(`/api/campaigns/events/${runId}?access_token=${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = readEvents(res, 3);
    await vi.waitFor(() => expect(notifications.watching(runId)).toBe(1), { interval: 1 });

    queries.addRun(owner, runView(runId, { status: 'completed', processed: 3, personalized: 3, completed_at: '2026-01-01T00:05:00.000Z' }));
    notifications.notify(runId);

    const [first, changed, end] = await events;
    expect(first).toEqual(['summary', expect.objectContaining({ status: 'personalizing', notices: [], earlier_leads: false }) as unknown]);
    expect(changed).toEqual(['status', expect.objectContaining({ status: 'completed', processed: 3 }) as unknown]);
    expect(end).toEqual(['end', { run_id: runId, status: 'completed' }]);
    await vi.waitFor(() => expect(notifications.watching(runId)).toBe(0), { interval: 1 });
  });
});
