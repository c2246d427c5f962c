/**
 * The service as separate OS processes (the real entry point, src/main.ts) on a deployment of the
 * test's own: a throw-away database, a NATS namespace, and the sandbox providers over HTTP with
 * a latency, so that campaigns are still running when a test breaks something.
 */
import { freePort } from '../../scripts/free-port.ts';

export { freePort };
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';
import { natsNames } from '../../adapters/nats/namespace.ts';
import { deadLetterStreamName } from '../../adapters/nats/topology.ts';
import type { Sandbox, SandboxInterceptor } from '../../adapters/sandbox/server.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { postProcess, type TestUser } from './http.ts';
import { connectTestNats, deleteStreams, eventually, natsUrl } from './nats.ts';
import { startTestSandbox, TEST_PROVIDER_KEY } from './sandbox.ts';
import { TEST_JWT_SECRET } from './tokens.ts';


export interface ProcessDeployment {
  readonly database: TestDatabase;
  readonly sandbox: Sandbox;
  readonly namespace: string;
  readonly baseUrl: string;
  /** Every process's environment (without ROLES). */
  readonly vars: NodeJS.ProcessEnv;
  /** Starts a process running `roles`; its stderr is passed through, prefixed. */
  start(roles: string, extra?: NodeJS.ProcessEnv): ChildProcess;
  /** Resolves once the edge answers /readyz with 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** Submits a CSV of `leads` rows (unique emails and companies, prefixed by `tag`); resolves with the run's id. */
  submit(user: TestUser, leads: number, tag: string): Promise<string>;
  /** Kills every process, deletes the namespace's streams and buckets, the sandbox and the database. */
  close(): Promise<void>;
}

export interface ProcessDeploymentOptions {
  /** Median latency of each provider call (default 100 ms). */
  readonly providerLatencyMs?: number;
  /** Variables for every process, over the defaults. */
  readonly vars?: NodeJS.ProcessEnv;
  /** The sandbox's interceptors, after its latency (e.g. a provider that refuses some leads). */
  readonly interceptors?: readonly SandboxInterceptor[];
}

export async function processDeployment(options: ProcessDeploymentOptions = {}): Promise<ProcessDeployment> {
  const latency = options.providerLatencyMs ?? 100;
  const database = await createTestDatabase({ migrate: true });
  const sandbox = await startTestSandbox({
    interceptors: [
      async ({ signal }) => {
        await sleep(latency, undefined, { signal }).catch(() => undefined);
        return undefined;
      },
      ...(options.interceptors ?? []),
    ],
  });
  const port = await freePort();
  const namespace = `e2e-${randomBytes(4).toString('hex')}`;
  const children: ChildProcess[] = [];
  const vars: NodeJS.ProcessEnv = {
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
    PORT: String(port),
    // Off unless a test asks: several processes of one deployment would all want the default 9464.
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    ...options.vars,
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    database,
    sandbox,
    namespace,
    baseUrl,
    vars,
    start(roles, extra = {}) {
      // E2E_LOGS=1 shows the processes' logs (stdout) too, when a test needs looking into.
      const logs = process.env.E2E_LOGS === undefined ? 'ignore' : 'pipe';
      const child = spawn(process.execPath, ['src/main.ts'], { env: { ...vars, ROLES: roles, ...extra }, stdio: ['ignore', logs, 'pipe'] });
      for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => process.stderr.write(`[${roles || 'all'}] ${chunk.toString()}`));
      children.push(child);
      return child;
    },
    async ready(timeoutMs = 20_000) {
      await eventually('the edge to be ready', async () => (await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.status === 200, timeoutMs);
    },
    async submit(user, leads, tag) {
      const rows = Array.from({ length: leads }, (_, i) => `${tag}${i},${tag}${i}@${tag}${i}.example,${tag} Company ${i}`);
      const response = await postProcess(baseUrl, { token: user.token, content: ['First Name,Email,Company', ...rows].join('\n'), fields: { campaign_name: tag } });
      if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { run_id: string }).run_id;
    },
    async close() {
      const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
      await Promise.all(
        running.map(
          (child) =>
            new Promise((resolve) => {
              child.once('exit', resolve);
              child.kill('SIGKILL');
            }),
        ),
      );
      const nc = await connectTestNats();
      const names = natsNames(namespace);
      await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName), `OBJ_${names.bucket}`, `KV_${names.apiBucket}`);
      await nc.drain();
      await sandbox.close();
      await database.drop();
    },
  };
}

/** The run status as `GET /api/campaigns/status/:id` answers it (the fields the e2e tests read). */
export interface RunStatus {
  status: string;
  valid: number;
  processed: number;
  personalized: number;
  failed: number;
  skipped: number;
  webhook?: { delivered_at: string | null; attempts: number; last_error: string | null };
}

/**
 * Registers the file's (or describe block's) beforeAll/afterAll: a deployment with one process
 * running every role, ready before the tests, closed after them. Read `.current` inside tests.
 */
export function useProcessDeployment(options: ProcessDeploymentOptions = {}): { current: ProcessDeployment } {
  const handle = {} as { current: ProcessDeployment };
  beforeAll(async () => {
    handle.current = await processDeployment(options);
    handle.current.start('');
    await handle.current.ready();
  }, 60_000);
  afterAll(async () => {
    await handle.current?.close();
  }, 30_000);
  return handle;
}
