/**
 * A worker process is killed with SIGKILL in the middle of a campaign and started again: the
 * campaign completes, no lead is missing or duplicated, and the KPIs are exact. The processes are
 * the real entry point (src/main.ts) against the real NATS, PostgreSQL and the sandbox providers
 * over HTTP; the edge runs in its own process so that the kill takes the workers only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsNames } from '../../adapters/nats/namespace.ts';
import { deadLetterStreamName } from '../../adapters/nats/topology.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { connectTestNats, deleteStreams, eventually, natsUrl } from '../support/nats.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startTestSandbox, TEST_PROVIDER_KEY } from '../support/sandbox.ts';
import { TEST_JWT_SECRET } from '../support/tokens.ts';

const LEADS = 240;
/** Each provider call takes this long, so that the campaign is still running when the kill comes. */
const PROVIDER_LATENCY_MS = 150;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface RunStatus {
  status: string;
  valid: number;
  processed: number;
  personalized: number;
  failed: number;
  skipped: number;
}

describe('a worker killed mid-campaign', () => {
  let database: TestDatabase;
  let sandbox: Sandbox;
  let edge: ChildProcess;
  let port: number;
  let env: NodeJS.ProcessEnv;
  const workers: ChildProcess[] = [];
  const namespace = `crash-${randomBytes(4).toString('hex')}`;

  function start(roles: string, extra: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn(process.execPath, ['src/main.ts'], {
      env: { ...env, ROLES: roles, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${roles}] ${chunk.toString()}`));
    return child;
  }

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: true });
    sandbox = await startTestSandbox({
      interceptors: [
        async ({ signal }) => {
          await sleep(PROVIDER_LATENCY_MS, undefined, { signal }).catch(() => undefined);
          return undefined;
        },
      ],
    });
    port = await freePort();
    env = {
      PATH: process.env.PATH,
      DATABASE_URL: database.url,
      NATS_URL: natsUrl(),
      NATS_NAMESPACE: namespace,
      SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
      PERPLEXITY_API_KEY: TEST_PROVIDER_KEY,
      OPENROUTER_API_KEY: TEST_PROVIDER_KEY,
      PERPLEXITY_BASE_URL: sandbox.url,
      OPENROUTER_BASE_URL: sandbox.url,
      // The sandbox has no rate limit here: the limiter's shared budget is uncapped.
      RESEARCH_RPM: '0',
      PERSONALIZATION_RPM: '0',
      // A killed worker's unacknowledged messages come back after this long.
      CONSUMER_ACK_WAIT_MS: '3000',
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };
    edge = start('edge,relay');
    await eventually(
      'the edge to be ready',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      20_000,
    );
  }, 60_000);

  afterAll(async () => {
    for (const child of [edge, ...workers]) child?.kill('SIGKILL');
    const nc = await connectTestNats();
    const names = natsNames(namespace);
    await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName), `OBJ_${names.bucket}`, `KV_${names.apiBucket}`);
    await nc.drain();
    await sandbox?.close();
    await database?.drop();
  }, 30_000);

  async function submit(user: TestUser) {
    const rows = Array.from({ length: LEADS }, (_, i) => `Lead${i},lead${i}@company${i % 40}.example,Company ${i % 40}`);
    const submitted = await postProcess(`http://127.0.0.1:${port}`, {
      token: user.token,
      content: ['First Name,Email,Company', ...rows].join('\n'),
      fields: { campaign_name: 'Crash test' },
    });
    expect(submitted.status).toBe(202);
    const { run_id: runId, campaign_id: campaignId } = (await submitted.json()) as { run_id: string; campaign_id: string };
    const status = async () => (await (await apiGet(`http://127.0.0.1:${port}`, `/api/campaigns/status/${runId}`, user)).json()) as RunStatus;
    return { runId, campaignId, status };
  }

  it('stops cleanly on SIGTERM: exits 0, releases its messages, and a new worker finishes the run', async () => {
    const user = await testUser();
    const { status } = await submit(user);
    const worker = start('extraction,research,personalization,projection,relay');
    workers.push(worker);
    await eventually('some leads to settle', async () => (await status()).processed >= LEADS / 10, 30_000);
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    const stoppedAt = Date.now();
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Well inside the ack wait: in-flight calls finished or were handed back, not abandoned.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect((await status()).status).not.toBe('completed');

    const released = Date.now();
    workers.push(start('extraction,research,personalization,projection,relay'));
    await eventually('the run to complete', async () => (await status()).status === 'completed', 60_000);
    expect(await status()).toMatchObject({ processed: LEADS, personalized: LEADS });
    expect(Date.now() - released).toBeLessThan(30_000);
  }, 120_000);

  it('finishes the campaign with every lead exactly once and exact KPIs', async () => {
    const user = await testUser();
    const { campaignId, status } = await submit(user);

    const first = start('extraction,research,personalization,projection,relay');
    workers.push(first);
    await eventually('a fifth of the leads to settle', async () => (await status()).processed >= LEADS / 5, 30_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = await status();
    expect(atKill.status).toBe('personalizing');
    expect(atKill.processed).toBeLessThan(LEADS);

    workers.push(start('extraction,research,personalization,projection,relay'));
    await eventually('the run to complete', async () => (await status()).status === 'completed', 60_000);

    const final = await status();
    expect(final).toMatchObject({ valid: LEADS, processed: LEADS, personalized: LEADS, failed: 0, skipped: 0 });

    const [leads] = await database.sql<{ total: string; distinct_emails: string; personalized: string; counted: string }[]>`
      select count(*) as total, count(distinct email) as distinct_emails,
             count(*) filter (where status = 'personalized') as personalized,
             count(*) filter (where counted_run_id = run_id) as counted
      from leads where campaign_id = ${campaignId}`;
    expect(leads).toEqual({ total: String(LEADS), distinct_emails: String(LEADS), personalized: String(LEADS), counted: String(LEADS) });

    const metrics = (await (await apiGet(`http://127.0.0.1:${port}`, '/api/metrics', user)).json()) as Record<string, unknown>;
    expect(metrics).toMatchObject({ leads_personalized: LEADS, hours_saved: LEADS * 0.02, money_saved: LEADS * 0.04 });
    const [campaign] = await database.sql<{ completed_count: number }[]>`select completed_count from campaigns where id = ${campaignId}`;
    expect(campaign?.completed_count).toBe(LEADS);
  }, 120_000);
});
