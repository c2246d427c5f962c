/**
 * Why a run in progress waits, and when it should end, on its status: the real edge over HTTP,
 * the real PostgreSQL, and the providers' shared state in the real NATS KV bucket, written by the
 * real rate budget as the workers write it (no consumer runs: the test takes their turns).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRateBudget } from '../../adapters/nats/api-budget.ts';
import { NatsApiStatusReader } from '../../adapters/nats/api-status.ts';
import { RATE_HEADROOM } from '../../adapters/outside-api/limiter.ts';
import { PROVIDER_APIS } from '../../adapters/providers/apis.ts';
import { RecordingLog, connectTestNats, deleteStreams } from '../support/nats.ts';
import { apiGet, seedRun, settleLead, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { readJson } from './helpers.ts';

const RESEARCH_RPM = 50;
/** The spacing of research calls at that cap, as the limiter spreads them. */
const INTERVAL_MS = 60_000 / (RESEARCH_RPM * RATE_HEADROOM);

const CSV = ['email,company', 'ann@example.com,Acme', 'bob@example.com,Beta', 'cid@example.com,Gamma'].join('\n');

interface Status {
  status: string;
  eta: { seconds: number; at: string } | null;
  notices: { code: string; api: string; message: string }[];
}

describe('a run\'s ETA and notices', () => {
  let server: TestServer;
  let budget: NatsRateBudget;
  let alice: TestUser;
  const closing: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    const nc = await connectTestNats();
    closing.push(() => nc.close());
    const bucket = `aga-${randomUUID().slice(0, 8)}-providers`;
    const providerStatus = await NatsApiStatusReader.open(nc, { bucket, apis: PROVIDER_APIS, rpm: { research: RESEARCH_RPM } });
    server = await startTestServer({ providerStatus });
    budget = await NatsRateBudget.open(nc, { bucket, log: new RecordingLog() });
    closing.push(async () => {
      budget.close();
      await deleteStreams(nc, `KV_${bucket}`);
    });
    alice = await testUser();
  });
  afterAll(async () => {
    for (const close of closing.reverse()) await close().catch(() => undefined);
    await server?.close();
  });

  async function status(runId: string): Promise<Status> {
    const res = await apiGet(server.baseUrl, `/api/campaigns/status/${runId}`, alice);
    expect(res.status).toBe(200);
    return readJson<Status>(res);
  }

  it('estimates a run from the research cap before any lead settled, and has neither ETA nor notices once it ends', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    // Three research calls at 47.5 a minute (50, less the limiter's headroom): 3.8 s. No call waits for its turn yet.
    expect(await status(run.runId)).toMatchObject({ status: 'personalizing', eta: { seconds: 4 }, notices: [] });
    for (const leadId of run.leadIds.values()) await settleLead(server, run.runId, leadId, { message: 'Hi' });
    expect(await status(run.runId)).toMatchObject({ status: 'completed', eta: null, notices: [] });
  });

  it('estimates from the settle rate once leads settle', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });
    const body = await status(run.runId);
    expect(body.eta).not.toBeNull();
    expect(body.eta!.seconds).toBeGreaterThanOrEqual(0);
    expect(Math.abs(Date.parse(body.eta!.at) - (Date.now() + body.eta!.seconds * 1_000))).toBeLessThan(3_000);
  });

  it('says research is paced while calls wait for their turn under RESEARCH_RPM, with the time left', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    // Twenty turns taken (this run's three calls and other runs' calls): about 25 s of research queued.
    for (let turn = 0; turn < 20; turn += 1) await budget.reserve('research', INTERVAL_MS);
    const body = await status(run.runId);
    const paced = body.notices.find((notice) => notice.code === 'paced');
    expect(paced).toMatchObject({ api: 'research' });
    expect(paced!.message).toMatch(/^Research is paced at 50 requests a minute \(RESEARCH_RPM\): about \d+ seconds left\.$/);
    // No sooner than the last turn taken.
    expect(body.eta!.seconds).toBeGreaterThanOrEqual(20);
    expect(body.eta!.seconds).toBeLessThanOrEqual(30);
    expect(paced!.message).toContain(`about ${Math.ceil(body.eta!.seconds / 5) * 5} seconds left`);
  });

  it('says research is rate limited while a 429 holds its calls, and adds the wait to the ETA', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    await budget.holdUntil('research', Date.now() + 90_000);
    const body = await status(run.runId);
    expect(body.notices).toContainEqual({
      code: 'rate_limited',
      api: 'research',
      message: expect.stringMatching(/^Research is rate limited by the provider \(HTTP 429\): its calls resume in about (1 minute|2 minutes|[5-9]\d seconds)\.$/) as unknown,
    });
    expect(body.notices.some((notice) => notice.code === 'paced')).toBe(false);
    expect(body.eta!.seconds).toBeGreaterThanOrEqual(85);
  });

  it('counts the leads waiting for a retry after a failed call, until their stage succeeds or they fail', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    const [ann, bob] = [run.leadIds.get('ann@example.com')!, run.leadIds.get('bob@example.com')!];
    for (const leadId of [ann, bob]) {
      const claim = { leadId, runId: run.runId, stage: 'research' as const, owner: randomUUID(), leaseMs: 60_000 };
      expect((await server.store.claimCall(claim)).kind).toBe('claimed');
      await server.store.releaseClaim(claim, true);
    }
    // A call the provider pushed back on (429) is not a failed call: no retry is counted for it.
    const cid = run.leadIds.get('cid@example.com')!;
    const pushedBack = { leadId: cid, runId: run.runId, stage: 'research' as const, owner: randomUUID(), leaseMs: 60_000 };
    await server.store.claimCall(pushedBack);
    await server.store.releaseClaim(pushedBack, false);

    const retrying = (body: Status) => body.notices.filter((notice) => notice.code === 'retrying');
    expect(retrying(await status(run.runId))).toEqual([
      { code: 'retrying', api: 'research', message: '2 leads wait to retry research after a failed call (retried with backoff).' },
    ]);
    await server.store.saveResearch(ann, run.runId, { text: 'Research.', citations: [], model: 'test-model' });
    expect(retrying(await status(run.runId)).map((notice) => notice.message)).toEqual(['1 lead waits to retry research after a failed call (retried with backoff).']);
    await server.store.saveFailed(bob, run.runId, 'research failed after 6 attempts: provider unavailable (HTTP 503)');
    expect(retrying(await status(run.runId))).toEqual([]);
  });
});
