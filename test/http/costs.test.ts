/**
 * Cost over HTTP: the estimate in the preview, and the actual cost, recorded through the store as
 * the consumers record it, in the run's status, the results and the export.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import { DEFAULT_ESTIMATE_ASSUMPTIONS, estimateRunCost, type Pricing } from '../../domain/pricing/pricing.ts';
import { apiGet, postPreview, seedRun, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { readJson } from './helpers.ts';

interface EstimateJson {
  per_lead_usd: number;
  total_usd: number;
  basis: string;
  assumptions: Record<string, number>;
}

/** A file of `count` valid, distinct leads, plus one row without a company (rejected). */
function leadsCsv(count: number): string {
  const rows = Array.from({ length: count }, (_, i) => `lead${i}@example.com,Company ${i}`);
  return ['email,company', ...rows, 'nobody@example.com,'].join('\n');
}

/** Round prices, so the expected figures can be worked out by hand. */
const PRICING: Pricing = {
  research: { perRequestUsd: 0.01, perMillionInputTokensUsd: 2, perMillionOutputTokensUsd: 2 },
  personalization: { perRequestUsd: 0, perMillionInputTokensUsd: 4, perMillionOutputTokensUsd: 20 },
};

describe('cost', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ pricing: PRICING });
    alice = await testUser();
  });
  afterAll(() => server.close());

  async function estimate(count: number): Promise<{ valid: number; estimate: EstimateJson }> {
    const res = await postPreview(server.baseUrl, { token: alice.token, content: leadsCsv(count) });
    expect(res.status).toBe(200);
    return readJson(res);
  }

  describe('the preview', () => {
    it('estimates the run from the valid leads, the configured prices and stated assumptions', async () => {
      const body = await estimate(40);
      expect(body.valid).toBe(40);
      // research 0.01 + 4,000 × 2/M + 600 × 2/M = 0.0192; writer 1.15 × (1,800 × 4/M + 120 × 20/M) = 1.15 × 0.0096 = 0.01104
      expect(body.estimate).toEqual({
        per_lead_usd: 0.03024,
        total_usd: 1.2096,
        sandbox: false,
        basis: 'estimate: valid leads × expected calls × price; actual cost depends on tokens used',
        assumptions: {
          research_calls_per_lead: 1,
          research_input_tokens: DEFAULT_ESTIMATE_ASSUMPTIONS.researchInputTokens,
          research_output_tokens: DEFAULT_ESTIMATE_ASSUMPTIONS.researchOutputTokens,
          writer_calls_per_lead: DEFAULT_ESTIMATE_ASSUMPTIONS.writerCallsPerLead,
          writer_input_tokens: DEFAULT_ESTIMATE_ASSUMPTIONS.writerInputTokens,
          writer_output_tokens: DEFAULT_ESTIMATE_ASSUMPTIONS.writerOutputTokens,
        },
      });
      expect(Number(estimateRunCost(40, PRICING).totalUsd)).toBe(body.estimate.total_usd);
    });

    it('is proportional to the valid leads, and zero without any', async () => {
      const [three, thirty, none] = await Promise.all([estimate(3), estimate(30), estimate(0)]);
      expect(three.estimate.per_lead_usd).toBe(thirty.estimate.per_lead_usd);
      expect(Math.round(three.estimate.total_usd * 1e6) * 10).toBe(Math.round(thirty.estimate.total_usd * 1e6));
      expect(three.estimate.total_usd).toBe(0.09072);
      expect(none.estimate).toMatchObject({ per_lead_usd: 0.03024, total_usd: 0 });
    });
  });

  describe('the actual cost', () => {
    const CSV = 'Email,Company,cost_usd\nann@example.com,Acme,12\nbob@example.com,Beta,\ncid@example.com,Gamma,\n';
    let run: Awaited<ReturnType<typeof seedRun>>;

    beforeAll(async () => {
      run = await seedRun(server, { userId: alice.id, csv: CSV });
      const { store } = server;
      const ann = run.leadIds.get('ann@example.com')!;
      const bob = run.leadIds.get('bob@example.com')!;
      // Ann: research, a draft sent back, the draft saved. Bob: research, then writing failed.
      await store.saveResearch(ann, run.runId, { text: 'Research.', citations: [], model: 'r' }, '0.008500');
      await store.addCost(ann, run.runId, { stage: 'personalization', model: 'w', costUsd: '0.006450' });
      await store.savePersonalized(ann, run.runId, { message: 'Hi Ann', basis: 'Research.', model: 'w' }, '0.007350');
      await store.saveResearch(bob, run.runId, { text: 'Research.', citations: [], model: 'r' }, '0.008500');
      await store.saveFailed(bob, run.runId, 'personalization failed: unavailable');
      for (const id of [ann, bob]) await store.countOutcome(id, run.runId, DEFAULT_KPI_RATES);
    });

    it("is the run's status: the sum of its counted leads", async () => {
      const res = await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice);
      expect(await readJson(res)).toMatchObject({ processed: 2, personalized: 1, failed: 1, cost_usd: 0.0308 });
    });

    it("is each lead's in the results", async () => {
      const res = await apiGet(server.baseUrl, `/api/campaigns/results/${run.campaignId}`, alice);
      const { leads } = await readJson<{ leads: { email: string; cost_usd: number }[] }>(res);
      expect(Object.fromEntries(leads.map((lead) => [lead.email, lead.cost_usd]))).toEqual({
        'ann@example.com': 0.0223,
        'bob@example.com': 0.0085,
        'cid@example.com': 0,
      });
    });

    it('is the last column of the export, with six decimals, suffixed when the file had a column of that name', async () => {
      const res = await apiGet(server.baseUrl, `/api/campaigns/export/${run.campaignId}`, alice);
      const rows: string[][] = parse(await res.text());
      expect(rows[0]).toEqual([
        'Email',
        'Company',
        'cost_usd',
        'personalized_message',
        'enrichment_status',
        'error',
        'unsupported_specifics',
        'research_summary',
        'sources',
        'message_basis',
        'model',
        'research_model',
        'cost_usd (aga)',
      ]);
      expect(rows.slice(1).map((row) => [row[0], row[2], row.at(-1)])).toEqual([
        ['ann@example.com', '12', '0.022300'],
        ['bob@example.com', '', '0.008500'],
        ['cid@example.com', '', '0.000000'],
      ]);
    });
  });
});
