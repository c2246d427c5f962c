/** Per-user quotas on `POST /api/campaigns/process`, through the real app on real PostgreSQL. */
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_QUOTAS, type QuotaLimits } from '../../domain/quotas/quota.ts';
import type { Pricing } from '../../domain/pricing/pricing.ts';
import { postProcess, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { readJson } from './helpers.ts';

const QUOTA_TYPE = 'tag:ai-growth-accelerator,2026:quota-exceeded';
/** One dollar per lead (a research request fee of $1, tokens free): estimates in round figures. */
const DOLLAR_A_LEAD: Pricing = {
  research: { perRequestUsd: 1, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 },
  personalization: { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 },
};

/** A CSV of `n` valid leads, different for each `tag`. */
function leads(n: number, tag = 'a'): string {
  return ['email,company', ...Array.from({ length: n }, (_, i) => `${tag}${i}@example.com,Acme ${i}`)].join('\n');
}

interface Refusal {
  type: string;
  title: string;
  status: number;
  detail: string;
  limit: string;
  limit_value: number;
  used: number;
  requested: number;
}

/** A 429 quota problem: its body, and its Retry-After in seconds (null when absent). */
async function expectQuotaRefusal(res: Response, limit: string): Promise<{ body: Refusal; retryAfter: number | null }> {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = await readJson<Refusal>(res);
  expect(body).toMatchObject({ type: QUOTA_TYPE, title: 'Quota exceeded', status: 429, limit });
  const header = res.headers.get('retry-after');
  return { body, retryAfter: header === null ? null : Number(header) };
}

async function quotaServer(quotas: Partial<QuotaLimits>, pricing?: Pricing): Promise<TestServer> {
  return startTestServer({ quotas: { ...NO_QUOTAS, ...quotas }, ...(pricing === undefined ? {} : { pricing }) });
}

/** A submission into a new campaign (each its own name: names are unique per user). */
function submit(server: TestServer, user: TestUser, content: string, fields: Record<string, string> = {}): Promise<Response> {
  return postProcess(server.baseUrl, { token: user.token, content, fields: { campaign_name: `Quota test ${crypto.randomUUID()}`, ...fields } });
}

async function runCount(server: TestServer, userId: string): Promise<number> {
  const [row] = await server.sql<{ count: number }[]>`select count(*)::int as count from campaign_runs where user_id = ${userId}`;
  return row?.count ?? 0;
}

async function storedFiles(server: TestServer): Promise<number> {
  const bucket = await new Objm(server.nc).open(server.fileBucket);
  return (await bucket.list()).length;
}

describe('QUOTA_CONCURRENT_RUNS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await quotaServer({ concurrentRuns: 3 });
  });
  afterAll(() => server.close());

  it('lets exactly 3 of 50 concurrent submissions through, refusing the rest with 429 and keeping none of their files', async () => {
    const user = await testUser();
    const before = await storedFiles(server);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => submit(server, user, leads(2, `c${i}-`))));

    expect(answers.filter((res) => res.status === 202)).toHaveLength(3);
    const refused = answers.filter((res) => res.status !== 202);
    expect(refused).toHaveLength(47);
    for (const res of refused) {
      const { body, retryAfter } = await expectQuotaRefusal(res, 'concurrent_runs');
      expect(body).toMatchObject({ limit_value: 3, used: 3 });
      expect(body.detail).toMatch(/3 runs in progress.*Wait for one to end/);
      expect(retryAfter).toBe(30);
    }
    expect(await runCount(server, user.id)).toBe(3);
    expect((await storedFiles(server)) - before).toBe(3);
  });

  it('does not hold another user back, and takes the user again once a run has ended', async () => {
    const user = await testUser();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await submit(server, user, leads(1, `e${i}-`));
      expect(res.status).toBe(202);
      ids.push((await readJson<{ run_id: string }>(res)).run_id);
    }
    await expectQuotaRefusal(await submit(server, user, leads(1)), 'concurrent_runs');
    expect((await submit(server, await testUser(), leads(1))).status).toBe(202);

    await server.sql`update campaign_runs set status = 'completed', completed_at = now() where id = ${ids[0]!}`;
    expect((await submit(server, user, leads(1))).status).toBe(202);
    await server.sql`update campaign_runs set status = 'failed' where id = ${ids[1]!}`;
    expect((await submit(server, user, leads(1))).status).toBe(202);
  });
});

describe('QUOTA_LEADS_PER_RUN and QUOTA_LEADS_PER_DAY', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await quotaServer({ leadsPerRun: 4, leadsPerDay: 6 });
  });
  afterAll(() => server.close());

  it('refuses a file of more valid leads than a run may have, saying to split it, with no Retry-After', async () => {
    const user = await testUser();
    const before = await storedFiles(server);
    // 5 valid leads (a duplicate and a bad row do not count).
    const csv = `${leads(5)}\na0@example.com,Again\nnot-an-email,Bad`;
    const { body, retryAfter } = await expectQuotaRefusal(await submit(server, user, csv), 'leads_per_run');
    expect(body).toMatchObject({ limit_value: 4, used: 5, requested: 5 });
    expect(body.detail).toMatch(/5 valid leads.*at most 4.*Split it/);
    expect(retryAfter).toBeNull();
    expect(await runCount(server, user.id)).toBe(0);
    expect(await storedFiles(server)).toBe(before);

    expect((await submit(server, user, `${leads(4)}\na0@example.com,Again\nnot-an-email,Bad`)).status).toBe(202);
  });

  it('counts a demo run as the leads it will process (at most 20)', async () => {
    const demo = await quotaServer({ leadsPerRun: 20 });
    try {
      const user = await testUser();
      expect((await submit(demo, user, leads(25), { demo: 'true' })).status).toBe(202);
      await expectQuotaRefusal(await submit(demo, user, leads(25)), 'leads_per_run');
    } finally {
      await demo.close();
    }
  });

  it('refuses leads past the rolling 24-hour limit, with Retry-After when enough of the window frees up', async () => {
    const user = await testUser();
    expect((await submit(server, user, leads(2, 'd1-'))).status).toBe(202);
    expect((await submit(server, user, leads(3, 'd2-'))).status).toBe(202);
    // 5 used: 2 more would make 7 of 6.
    let refusal = await expectQuotaRefusal(await submit(server, user, leads(2, 'd3-')), 'leads_per_day');
    expect(refusal.body).toMatchObject({ limit_value: 6, used: 5, requested: 2 });
    expect(refusal.body.detail).toMatch(/5 valid leads in the last 24 hours.*limit of 6 a day.*Retry in about 24 hours/);
    // The first run (2 leads) leaves the window 24 hours after it came: then 3 + 2 fit.
    expect(refusal.retryAfter).toBeGreaterThan(86_400 - 60);
    expect(refusal.retryAfter).toBeLessThanOrEqual(86_400);

    // Pretend the first run came 23 hours ago: it frees its leads in an hour.
    await server.sql`update campaign_runs set created_at = now() - interval '23 hours' where user_id = ${user.id} and submitted_leads = 2`;
    refusal = await expectQuotaRefusal(await submit(server, user, leads(2, 'd3-')), 'leads_per_day');
    expect(refusal.retryAfter).toBeGreaterThan(3_600 - 60);
    expect(refusal.retryAfter).toBeLessThanOrEqual(3_600);

    // A file of 4 needs both runs gone: the second is the one to wait for.
    refusal = await expectQuotaRefusal(await submit(server, user, leads(4, 'd4-')), 'leads_per_day');
    expect(refusal.retryAfter).toBeGreaterThan(86_400 - 60);

    await server.sql`update campaign_runs set created_at = now() - interval '24 hours 1 second' where user_id = ${user.id} and submitted_leads = 2`;
    expect((await submit(server, user, leads(2, 'd3-'))).status).toBe(202);
    expect(await runCount(server, user.id)).toBe(3);
  });
});

describe('QUOTA_SPEND_PER_DAY_USD', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await quotaServer({ spendPerDayUsd: 5 }, DOLLAR_A_LEAD);
  });
  afterAll(() => server.close());

  it('refuses a run whose cost estimate would pass the 24-hour spend, naming amounts in USD', async () => {
    const user = await testUser();
    expect((await submit(server, user, leads(3))).status).toBe(202);
    const [run] = await server.sql<{ estimated_cost_usd: string; submitted_leads: number }[]>`
      select estimated_cost_usd::text, submitted_leads from campaign_runs where user_id = ${user.id}`;
    expect(run).toEqual({ estimated_cost_usd: '3.000000', submitted_leads: 3 });

    const { body, retryAfter } = await expectQuotaRefusal(await submit(server, user, leads(3, 'b')), 'spend_per_day_usd');
    expect(body).toMatchObject({ limit_value: 5, used: 3, requested: 3 });
    expect(body.detail).toMatch(/estimated at \$3\.00; this file's \$3\.00 would pass the limit of \$5\.00 a day/);
    expect(retryAfter).toBeGreaterThan(86_400 - 60);
    expect((await submit(server, user, leads(2, 'c'))).status).toBe(202);

    const tooBig = await expectQuotaRefusal(await submit(server, await testUser(), leads(6)), 'spend_per_day_usd');
    expect(tooBig.retryAfter).toBeNull();
    expect(tooBig.body.detail).toMatch(/\$6\.00, is more than the \$5\.00.*split it/);
  });
});
