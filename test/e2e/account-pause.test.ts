/**
 * An account-level failure end to end: research's key is rejected (401) while two users' campaigns
 * run. Research is paused for every run, each run's status says why, no lead is failed or charged
 * an attempt for it, only one probe call per interval reaches the provider, and once the key works
 * again a probe succeeds and both runs finish with every lead personalized.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxFaults } from '../../adapters/sandbox/faults.ts';
import { eventually } from '../support/nats.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

const PROBE_MS = 500;
const NOTICE = 'research paused: provider rejected the API key (HTTP 401)';

interface Status {
  status: string;
  valid: number;
  processed: number;
  personalized: number;
  failed: number;
  notices: { code: string; api: string; message: string }[];
}

describe('a research key rejected mid-campaign (401)', () => {
  const faults = sandboxFaults({ unauthorized: { responses: true } });
  let system: E2ESystem;

  beforeAll(async () => {
    system = await startE2ESystem({ interceptors: faults.interceptors, probeIntervalMs: PROBE_MS });
  });
  afterAll(() => system?.close());

  async function submit(user: TestUser, domain: string, count: number): Promise<string> {
    const rows = Array.from({ length: count }, (_, index) => `lead${index}@${domain},Company ${index} of ${domain}`);
    const res = await postProcess(system.baseUrl, { token: user.token, content: ['Email,Company', ...rows].join('\n'), fields: { campaign_name: domain } });
    expect(res.status).toBe(202);
    return ((await res.json()) as { run_id: string }).run_id;
  }

  async function status(user: TestUser, runId: string): Promise<Status> {
    return (await (await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user)).json()) as Status;
  }

  it('pauses research for every run with a notice, fails no lead, and both runs finish once the key works', async () => {
    const [ann, ben] = [await testUser(), await testUser()];
    const runs = [
      { user: ann, runId: await submit(ann, 'ann.example', 4) },
      { user: ben, runId: await submit(ben, 'ben.example', 3) },
    ];

    for (const { user, runId } of runs) {
      await eventually('the notice on the run', async () => (await status(user, runId)).notices.some((notice) => notice.code === 'provider_paused' && notice.message === NOTICE), 10_000);
    }
    // Paused for several probe intervals: one probe at a time reaches the provider, nothing fails.
    const refusedAtPause = faults.counts.unauthorized;
    await new Promise((resolve) => setTimeout(resolve, PROBE_MS * 4));
    const refusedWhilePaused = faults.counts.unauthorized - refusedAtPause;
    expect(refusedWhilePaused).toBeLessThanOrEqual(5);
    for (const { user, runId } of runs) {
      expect(await status(user, runId)).toMatchObject({ status: 'personalizing', processed: 0, failed: 0 });
    }
    const [attempts] = await system.sql<{ attempts: number; failed: number }[]>`
      select coalesce(sum(attempts), 0)::int as attempts, count(*) filter (where status = 'failed')::int as failed from leads`;
    expect(attempts).toEqual({ attempts: 0, failed: 0 });
    expect(system.sandbox.stats.requests.chatCompletions).toBe(0);

    faults.restoreKey();
    for (const { user, runId } of runs) {
      await eventually('the run to complete', async () => (await status(user, runId)).status === 'completed', 20_000);
    }
    expect(await status(ann, runs[0]!.runId)).toMatchObject({ valid: 4, personalized: 4, failed: 0, notices: [] });
    expect(await status(ben, runs[1]!.runId)).toMatchObject({ valid: 3, personalized: 3, failed: 0, notices: [] });
    expect(system.log.entries.some((entry) => entry.message === 'API answers again: pause ended')).toBe(true);
  }, 60_000);
});
