import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGet, seedRun, settleLead, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

const CSV = ['email,company', ...Array.from({ length: 4 }, (_, i) => `lead${i}@example.com,Co ${i}`)].join('\n');

describe('GET /api/metrics', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  it('answers zeros for a user with no activity yet', async () => {
    const res = await apiGet(server.baseUrl, '/api/metrics', await testUser());
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual({ leads_personalized: 0, hours_saved: 0, money_saved: 0, updated_at: null });
  });

  it('counts personalized leads only, at 0.02 hours and 0.04 money each, and only for their owner', async () => {
    const first = await seedRun(server, { userId: alice.id, csv: CSV });
    const ids = [...first.leadIds.values()];
    for (const id of ids.slice(0, 3)) await settleLead(server, first.runId, id, { message: 'Hi' });
    await settleLead(server, first.runId, ids[3]!, { error: 'rejected' });
    // A second campaign adds to the same user's totals: 50 more, so that cents add up exactly.
    const big = await seedRun(server, {
      userId: alice.id,
      csv: ['email,company', ...Array.from({ length: 50 }, (_, i) => `big${i}@example.com,Big ${i}`)].join('\n'),
    });
    for (const id of big.leadIds.values()) await settleLead(server, big.runId, id, { message: 'Hi' });

    const body = await readJson<Record<string, unknown>>(await apiGet(server.baseUrl, '/api/metrics', alice));
    expect(body).toMatchObject({ leads_personalized: 53, hours_saved: 1.06, money_saved: 2.12 });
    expect(Object.keys(body).sort()).toEqual(['hours_saved', 'leads_personalized', 'money_saved', 'updated_at']);
    expect(body.updated_at).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);

    expect(await readJson(await apiGet(server.baseUrl, '/api/metrics', bob))).toEqual({
      leads_personalized: 0,
      hours_saved: 0,
      money_saved: 0,
      updated_at: null,
    });
  });

  it('answers 401 without a token', async () => {
    await expectProblem(await fetch(`${server.baseUrl}/api/metrics`), 401);
  });
});
