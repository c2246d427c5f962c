/**
 * An honest sandbox (issue 10, item 9), on the real entry point (src/main.ts, `npm start`) with
 * the real PostgreSQL and NATS:
 * - PROVIDERS=sandbox (no keys: the in-process sandbox): the preview's estimate says sandbox at
 *   $0; a run costs $0 and says `sandbox: true` on its status, results and export, its leads carry
 *   the sandbox's model; the owner's KPIs (GET /api/metrics) do not move.
 * - The same with a low RESEARCH_RPM: while the run is paced, its status (and the live stream's)
 *   carries an ETA and a `paced` notice naming the setting; both are gone once it completes.
 * - A deployment on the real providers' protocol with their base URLs pointing at a stub (how the
 *   app is checked from outside) is not the sandbox: priced, `sandbox: false`, counted in the KPIs.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_RESEARCH_MODEL, SANDBOX_WRITER_MODEL } from '../../adapters/sandbox/answers.ts';
import { apiGet, openEventStream, postPreview, postProcess, testUser, type ServerSentEvent, type TestUser } from '../support/http.ts';
import { eventually } from '../support/nats.ts';
import { processDeployment, type ProcessDeployment } from '../support/processes.ts';

/** Requests a minute of research: one call every 1.6 s (the limiter aims at 95% of it). */
const RESEARCH_RPM = 40;

/** Every provider variable unset, as `PROVIDERS=sandbox` with no keys asks. */
const IN_PROCESS_SANDBOX: NodeJS.ProcessEnv = {
  PROVIDERS: 'sandbox',
  PERPLEXITY_API_KEY: undefined,
  OPENROUTER_API_KEY: undefined,
  PERPLEXITY_BASE_URL: undefined,
  OPENROUTER_BASE_URL: undefined,
  RESEARCH_RPM: String(RESEARCH_RPM),
  PERSONALIZATION_RPM: undefined,
};

interface Notice {
  code: string;
  api: string;
  message: string;
}

interface Status {
  status: string;
  valid: number;
  personalized: number;
  cost_usd: number;
  sandbox: boolean;
  eta: { seconds: number; at: string } | null;
  notices: Notice[];
}

interface Lead {
  enrichment_status: string;
  model: string | null;
  cost_usd: number;
  sandbox: boolean;
}

function leadsCsv(tag: string, count: number): string {
  return ['First Name,Email,Company', ...Array.from({ length: count }, (_, i) => `Lee ${i},lee${i}@${tag}${i}.example,${tag} Company ${i}`)].join('\n');
}

async function json<T>(response: Response): Promise<T> {
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

function statusOf(deployment: ProcessDeployment, user: TestUser, runId: string): Promise<Status> {
  return apiGet(deployment.baseUrl, `/api/campaigns/status/${runId}`, user).then((res) => json<Status>(res));
}

async function submit(deployment: ProcessDeployment, user: TestUser, tag: string, count: number): Promise<{ runId: string; campaignId: string }> {
  const res = await postProcess(deployment.baseUrl, { token: user.token, content: leadsCsv(tag, count), fields: { campaign_name: tag } });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { run_id: string; campaign_id: string };
  return { runId: body.run_id, campaignId: body.campaign_id };
}

async function completed(deployment: ProcessDeployment, user: TestUser, runId: string, timeoutMs: number): Promise<Status> {
  await eventually('the run to complete', async () => (await statusOf(deployment, user, runId)).status === 'completed', timeoutMs);
  return statusOf(deployment, user, runId);
}

/** The export as records keyed by header. */
async function exported(deployment: ProcessDeployment, user: TestUser, campaignId: string): Promise<Record<string, string>[]> {
  const res = await apiGet(deployment.baseUrl, `/api/campaigns/export/${campaignId}`, user);
  expect(res.status).toBe(200);
  return parse<Record<string, string>>(await res.text(), { bom: true, columns: true });
}

describe('PROVIDERS=sandbox', () => {
  let deployment: ProcessDeployment;

  beforeAll(async () => {
    deployment = await processDeployment({ vars: IN_PROCESS_SANDBOX });
    deployment.start('');
    await deployment.ready();
  }, 60_000);
  afterAll(() => deployment?.close(), 30_000);

  it('estimates a sandbox run at $0 and says so in the preview', async () => {
    const user = await testUser();
    const res = await postPreview(deployment.baseUrl, { token: user.token, content: leadsCsv('preview', 40) });
    const body = await json<{ valid: number; estimate: { per_lead_usd: number; total_usd: number; sandbox: boolean; basis: string } }>(res);
    expect(body.valid).toBe(40);
    expect(body.estimate).toMatchObject({ per_lead_usd: 0, total_usd: 0, sandbox: true });
    expect(body.estimate.basis).toMatch(/^sandbox: .*PROVIDERS=sandbox.*\$0/);
  });

  it('runs on the sandbox at $0, says sandbox on the status, results and export, and leaves the KPIs as they were', async () => {
    const user = await testUser();
    // KPIs from earlier real work, which a sandbox run must leave exactly as they are.
    await deployment.database.sql`
      insert into client_metrics (user_id, leads_personalized, hours_saved, money_saved) values (${user.id}, 7, 0.14, 0.28)`;
    const before = await json<Record<string, unknown>>(await apiGet(deployment.baseUrl, '/api/metrics', user));
    expect(before).toMatchObject({ leads_personalized: 7, hours_saved: 0.14, money_saved: 0.28 });

    const { runId, campaignId } = await submit(deployment, user, 'sbx', 3);
    const run = await completed(deployment, user, runId, 30_000);
    expect(run).toMatchObject({ status: 'completed', valid: 3, personalized: 3, cost_usd: 0, sandbox: true, eta: null, notices: [] });

    const results = await json<{ leads: Lead[] }>(await apiGet(deployment.baseUrl, `/api/campaigns/results/${campaignId}`, user));
    expect(results.leads).toHaveLength(3);
    for (const lead of results.leads) expect(lead).toMatchObject({ enrichment_status: 'personalized', model: SANDBOX_WRITER_MODEL, cost_usd: 0, sandbox: true });

    const rows = await exported(deployment, user, campaignId);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatchObject({ enrichment_status: 'personalized', cost_usd: '0.000000', sandbox: 'true' });

    // The calls were made (and their usage recorded), each at $0: not a run that called nobody.
    const [calls] = await deployment.database.sql<{ research: number; writer: number; cost: string; models: string[] }[]>`
      select count(*) filter (where research_model is not null)::int as research, count(*) filter (where model is not null)::int as writer,
             sum(cost_usd)::text as cost, array_agg(distinct research_model) as models
      from leads where run_id = ${runId}`;
    expect(calls).toEqual({ research: 3, writer: 3, cost: '0.000000', models: [SANDBOX_RESEARCH_MODEL] });

    expect(await json(await apiGet(deployment.baseUrl, '/api/metrics', user))).toEqual(before);
  }, 60_000);

  it(`shows an ETA and a "paced" notice while research is paced at RESEARCH_RPM=${RESEARCH_RPM}, live too, and neither once the run completes`, async () => {
    const user = await testUser();
    const { runId } = await submit(deployment, user, 'paced', 10);
    const stream = await openEventStream(`${deployment.baseUrl}/api/campaigns/events/${runId}`, { Authorization: `Bearer ${user.token}` });
    try {
      let paced: Status | undefined;
      await eventually(
        'the paced notice',
        async () => {
          const status = await statusOf(deployment, user, runId);
          if (status.notices.some((notice) => notice.code === 'paced')) paced = status;
          return paced !== undefined || status.status === 'completed';
        },
        15_000,
      );
      expect(paced).toBeDefined();
      expect(paced!.status).not.toBe('completed');
      const notice = paced!.notices.find((each) => each.code === 'paced');
      expect(notice).toMatchObject({ api: 'research' });
      expect(notice!.message).toMatch(new RegExp(`^Research is paced at ${RESEARCH_RPM} requests a minute \\(RESEARCH_RPM\\): (a few|about \\d+) seconds left\\.$`));
      // Ten research calls 1.6 s apart, some of them made already.
      expect(paced!.eta).not.toBeNull();
      expect(paced!.eta!.seconds).toBeGreaterThan(0);
      expect(paced!.eta!.seconds).toBeLessThanOrEqual(30);
      expect(Date.parse(paced!.eta!.at)).toBeGreaterThan(Date.now() - 5_000);

      const events: ServerSentEvent[] = [];
      for (let event = await stream.next(30_000); event !== null; event = await stream.next(30_000)) events.push(event);
      const statuses = events.filter((event) => event.event === 'summary' || event.event === 'status').map((event) => JSON.parse(event.data) as Status);
      expect(statuses.some((status) => status.eta !== null && status.notices.some((each) => each.code === 'paced'))).toBe(true);
      expect(statuses.at(-1)).toMatchObject({ status: 'completed', eta: null, notices: [] });
      expect(events.at(-1)?.event).toBe('end');
    } finally {
      stream.close();
    }
    expect(await statusOf(deployment, user, runId)).toMatchObject({ status: 'completed', personalized: 10, cost_usd: 0, sandbox: true, eta: null, notices: [] });
  }, 60_000);
});

describe('the real providers\' protocol against a stub (base URLs), as the app is checked from outside', () => {
  let deployment: ProcessDeployment;

  beforeAll(async () => {
    deployment = await processDeployment();
    deployment.start('');
    await deployment.ready();
  }, 60_000);
  afterAll(() => deployment?.close(), 30_000);

  it('is not the sandbox: priced, sandbox false, and counted in the KPIs', async () => {
    const user = await testUser();
    const preview = await json<{ estimate: { total_usd: number; sandbox: boolean } }>(
      await postPreview(deployment.baseUrl, { token: user.token, content: leadsCsv('stub', 3) }),
    );
    expect(preview.estimate.sandbox).toBe(false);
    expect(preview.estimate.total_usd).toBeGreaterThan(0);

    const { runId, campaignId } = await submit(deployment, user, 'stub', 3);
    const run = await completed(deployment, user, runId, 30_000);
    expect(run).toMatchObject({ personalized: 3, sandbox: false });
    expect(run.cost_usd).toBeGreaterThan(0);
    const results = await json<{ leads: Lead[] }>(await apiGet(deployment.baseUrl, `/api/campaigns/results/${campaignId}`, user));
    for (const lead of results.leads) expect(lead.sandbox).toBe(false);
    const rows = await exported(deployment, user, campaignId);
    expect(Object.keys(rows[0]!)).not.toContain('sandbox');
    expect(await json(await apiGet(deployment.baseUrl, '/api/metrics', user))).toMatchObject({ leads_personalized: 3, hours_saved: 0.06, money_saved: 0.12 });
  }, 60_000);
});
