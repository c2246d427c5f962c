/**
 * Processes killed mid-campaign and started again. The processes are the real entry point
 * (src/main.ts) against the real NATS, PostgreSQL, the sandbox providers over HTTP and a webhook
 * receiver on 127.0.0.1; the edge runs in its own process so that a kill takes the workers only.
 *
 * - SIGTERM: a worker stops cleanly and another finishes the run.
 * - SIGKILL mid-run: the campaign completes, no lead is missing or duplicated, the KPIs are exact,
 *   and the completion webhook arrives with one webhook-id however often it was sent.
 * - SIGKILL between a completion's commit and its publish: the committed `run.completed` waits in
 *   the outbox (its consumer does not exist yet, so the relays hold it), the processes are
 *   killed, and the event still arrives once a webhook worker runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
import { startReceiver, STANDARD_WEBHOOKS_VECTOR, type Receiver } from '../support/webhooks.ts';
import { freePort, type RunStatus } from '../support/processes.ts';

const LEADS = 240;
/** Each provider call takes this long, so that the campaign is still running when the kill comes. */
const PROVIDER_LATENCY_MS = 150;
const WORKER = 'extraction,research,personalization,projection,webhook,relay';



/**
 * A deployment of its own (database, NATS namespace, sandbox, webhook receiver) with the edge
 * running; the tests start the workers.
 */
function deployment() {
  const env = {} as { database: TestDatabase; sandbox: Sandbox; receiver: Receiver; edge: ChildProcess; port: number; vars: NodeJS.ProcessEnv };
  const workers: ChildProcess[] = [];
  const namespace = `crash-${randomBytes(4).toString('hex')}`;

  function start(roles: string, extra: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn(process.execPath, ['src/main.ts'], {
      env: { ...env.vars, ROLES: roles, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${roles}] ${chunk.toString()}`));
    workers.push(child);
    return child;
  }

  beforeAll(async () => {
    env.database = await createTestDatabase({ migrate: true });
    env.sandbox = await startTestSandbox({
      interceptors: [
        async ({ signal }) => {
          await sleep(PROVIDER_LATENCY_MS, undefined, { signal }).catch(() => undefined);
          return undefined;
        },
      ],
    });
    env.receiver = await startReceiver();
    env.port = await freePort();
    env.vars = {
      PATH: process.env.PATH,
      DATABASE_URL: env.database.url,
      NATS_URL: natsUrl(),
      NATS_NAMESPACE: namespace,
      // Several processes on one host: none serves metrics (they would all want 9464).
      METRICS_PORT: '0',
      SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
      PERPLEXITY_API_KEY: TEST_PROVIDER_KEY,
      OPENROUTER_API_KEY: TEST_PROVIDER_KEY,
      PERPLEXITY_BASE_URL: env.sandbox.url,
      OPENROUTER_BASE_URL: env.sandbox.url,
      // The sandbox has no rate limit here: the limiter's shared budget is uncapped.
      RESEARCH_RPM: '0',
      PERSONALIZATION_RPM: '0',
      // A killed worker's unacknowledged messages come back after this long.
      CONSUMER_ACK_WAIT_MS: '3000',
      WEBHOOK_SECRET: STANDARD_WEBHOOKS_VECTOR.secret,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      PORT: String(env.port),
      LOG_LEVEL: 'warn',
    };
    env.edge = start('edge,relay');
    await eventually(
      'the edge to be ready',
      async () => (await fetch(`http://127.0.0.1:${env.port}/readyz`).catch(() => undefined))?.status === 200,
      20_000,
    );
  }, 60_000);

  afterAll(async () => {
    for (const child of workers) child.kill('SIGKILL');
    const nc = await connectTestNats();
    const names = natsNames(namespace);
    await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName), `OBJ_${names.bucket}`, `KV_${names.apiBucket}`);
    await nc.drain();
    await env.receiver?.close();
    await env.sandbox?.close();
    await env.database?.drop();
  }, 30_000);

  async function submit(user: TestUser, leads = LEADS) {
    const rows = Array.from({ length: leads }, (_, i) => `Lead${i},lead${i}@company${i % 40}.example,Company ${i % 40}`);
    const submitted = await postProcess(`http://127.0.0.1:${env.port}`, {
      token: user.token,
      content: ['First Name,Email,Company', ...rows].join('\n'),
      fields: { campaign_name: 'Crash test', webhook_url: `${env.receiver.origin}/hook` },
    });
    expect(submitted.status).toBe(202);
    const { run_id: runId, campaign_id: campaignId } = (await submitted.json()) as { run_id: string; campaign_id: string };
    const status = async () => (await (await apiGet(`http://127.0.0.1:${env.port}`, `/api/campaigns/status/${runId}`, user)).json()) as RunStatus;
    /** What the receiver got for this run. */
    const webhooks = () => env.receiver.received.filter((request) => request.headers['webhook-id'] === `run_completed_${runId}`);
    return { runId, campaignId, status, webhooks };
  }

  async function killed(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  return { env, start, submit, killed };
}

describe('a worker killed mid-campaign', () => {
  const { env, start, submit, killed } = deployment();

  it('stops cleanly on SIGTERM: exits 0, releases its messages, and a new worker finishes the run', async () => {
    const user = await testUser();
    const { status } = await submit(user);
    const worker = start(WORKER);
    await eventually('some leads to settle', async () => (await status()).processed >= LEADS / 10, 30_000);
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    const stoppedAt = Date.now();
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Well inside the ack wait: in-flight calls finished or were handed back, not abandoned.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect((await status()).status).not.toBe('completed');

    const released = Date.now();
    start(WORKER);
    await eventually('the run to complete', async () => (await status()).status === 'completed', 60_000);
    expect(await status()).toMatchObject({ processed: LEADS, personalized: LEADS });
    expect(Date.now() - released).toBeLessThan(30_000);
  }, 120_000);

  it('finishes the campaign with every lead exactly once, exact KPIs, and one webhook-id', async () => {
    const user = await testUser();
    const { campaignId, status, webhooks } = await submit(user);

    const first = start(WORKER);
    await eventually('a fifth of the leads to settle', async () => (await status()).processed >= LEADS / 5, 30_000);
    await killed(first);
    const atKill = await status();
    expect(atKill.status).toBe('personalizing');
    expect(atKill.processed).toBeLessThan(LEADS);

    start(WORKER);
    await eventually('the run to complete', async () => (await status()).status === 'completed', 60_000);

    const final = await status();
    expect(final).toMatchObject({ valid: LEADS, processed: LEADS, personalized: LEADS, failed: 0, skipped: 0 });

    const [leads] = await env.database.sql<{ total: string; distinct_emails: string; personalized: string; counted: string }[]>`
      select count(*) as total, count(distinct email) as distinct_emails,
             count(*) filter (where status = 'personalized') as personalized,
             count(*) filter (where counted_run_id = run_id) as counted
      from leads where campaign_id = ${campaignId}`;
    expect(leads).toEqual({ total: String(LEADS), distinct_emails: String(LEADS), personalized: String(LEADS), counted: String(LEADS) });

    const metrics = (await (await apiGet(`http://127.0.0.1:${env.port}`, '/api/metrics', user)).json()) as Record<string, unknown>;
    expect(metrics).toMatchObject({ leads_personalized: LEADS, hours_saved: LEADS * 0.02, money_saved: LEADS * 0.04 });
    const [campaign] = await env.database.sql<{ completed_count: number }[]>`select completed_count from campaigns where id = ${campaignId}`;
    expect(campaign?.completed_count).toBe(LEADS);

    // The completion webhook: delivered, and every copy the receiver got carries the run's one webhook-id.
    await eventually('the webhook delivered', async () => (await status()).webhook?.delivered_at != null, 20_000);
    const copies = webhooks();
    expect(copies.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(copies[0]!.body)).toMatchObject({ type: 'run.completed', status: 'completed', counts: { valid: LEADS, personalized: LEADS } });
  }, 120_000);
});

describe("a process killed between a completion's commit and its publish", () => {
  const { env, start, submit, killed } = deployment();

  it('leaves the committed run.completed in the outbox, and the event still arrives after a restart', async () => {
    const user = await testUser();
    const { runId, status, webhooks } = await submit(user, 12);
    // WEBHOOK_SECRET enables the webhook consumer, but no process runs it yet: the relays hold its
    // events in the outbox rather than publish them to nobody.
    const worker = start('extraction,research,personalization,projection,relay');
    await eventually('the run to complete', async () => (await status()).status === 'completed', 60_000);
    const outbox = () => env.database.sql<{ event_type: string }[]>`select event_type from outbox where run_id = ${runId}`;
    await eventually('only the completion left in the outbox', async () => {
      const rows = await outbox();
      return rows.length === 1 && rows[0]?.event_type === 'run.completed';
    });
    // Every process that could publish it dies: the one that committed it, and the edge's relay.
    await killed(worker);
    await killed(env.edge);
    expect(await outbox()).toEqual([{ event_type: 'run.completed' }]);
    expect(webhooks()).toEqual([]);

    start('webhook,relay');
    await eventually('the webhook', () => webhooks().length >= 1, 20_000);
    await eventually('the outbox emptied', async () => (await outbox()).length === 0);
    expect(new Set(webhooks().map((request) => request.headers['webhook-id']))).toEqual(new Set([`run_completed_${runId}`]));
    expect(JSON.parse(webhooks()[0]!.body)).toMatchObject({ type: 'run.completed', run_id: runId, status: 'completed', counts: { valid: 12, personalized: 12 } });
  }, 120_000);
});
