/**
 * What a benchmark scenario runs against: the real system, started in this process through
 * `startSystem` with a configuration built by `loadConfig`, on a fresh PostgreSQL database and
 * a NATS namespace of its own, with the sandbox provider (when the scenario calls providers) in
 * a child process so that its CPU is not counted as the system's. Everything is removed
 * afterwards: the database is dropped and every stream of the namespace deleted.
 */
import { freePort } from '../free-port.ts';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, openAsBlob } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SignJWT } from 'jose';
import postgres from 'postgres';
import { CONFIG_VARIABLES } from '../../adapters/config/env.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { natsNames } from '../../adapters/nats/namespace.ts';
import { DEFAULT_DATABASE_URL } from '../../adapters/postgres/client.ts';
import { loadSystemConfig, startSystem, type RunningSystem } from '../../src/compose.ts';

const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
const SANDBOX_SCRIPT = fileURLToPath(new URL('../sandbox.ts', import.meta.url));

export interface EnvironmentOptions {
  readonly roles: readonly string[];
  /** `npm run sandbox` flags; without them no sandbox is started (and no provider is configured). */
  readonly sandboxFlags?: readonly string[];
  /** More configuration variables for the system (they win over the bench's own). */
  readonly env?: Readonly<Record<string, string>>;
  /** Where the system's log lines go (JSON lines, as in production), to keep the bench's output readable. */
  readonly logFile: string;
  /** Stops waiting for a run when aborted (Ctrl-C). */
  readonly signal: AbortSignal;
}

/** The fields of the status route the bench reads. */
export interface RunStatusBody {
  readonly status: string;
  readonly valid: number;
  readonly duplicates: number;
  readonly rejected_rows: number;
  readonly updated_at: string;
  readonly completed_at: string | null;
  readonly error_message: string | null;
}

/** What the sandbox printed when it stopped: requests per endpoint and faults injected. */
export interface SandboxSummary {
  readonly requests: Readonly<Record<string, number>>;
  readonly faults: Readonly<Record<string, number>>;
}

export interface Versions {
  readonly postgres: string;
  readonly nats: string;
}

export interface BenchEnvironment {
  /** A pool on the benchmark's database, for counts and timestamps. */
  readonly sql: postgres.Sql;
  readonly nc: NatsConnection;
  /** The namespace's stream. */
  readonly streamName: string;
  readonly subjectPrefix: string;
  readonly sandboxPid: number | undefined;
  readonly versions: Versions;
  /** Uploads a CSV file to POST /api/campaigns/process (streamed from disk); resolves on the 202. */
  submit(csvPath: string, campaignName: string): Promise<string>;
  status(runId: string): Promise<RunStatusBody>;
  /** Polls the status route every `intervalMs` until `done` holds; fails after `timeoutMs`. */
  waitFor(runId: string, done: (status: RunStatusBody) => boolean, options: { intervalMs: number; timeoutMs: number }): Promise<RunStatusBody>;
  /** Stops the system and the sandbox, then removes the database and the streams. */
  close(): Promise<{ sandbox: SandboxSummary | undefined }>;
}

export async function startEnvironment(options: EnvironmentOptions): Promise<BenchEnvironment> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const runCleanup = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => console.error('bench cleanup step failed:', error));
  };
  try {
    const adminUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    const natsUrl = process.env.NATS_URL ?? DEFAULT_NATS_URL;
    const id = randomBytes(4).toString('hex');
    const namespace = `bench-${id}`;

    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    const databaseName = `aga_bench_${id}`;
    const [versionRow] = await admin<{ server_version: string }[]>`show server_version`;
    await admin`create database ${admin(databaseName)}`;
    cleanup.push(async () => {
      // WITH (FORCE) ends the connections a failed run left open (PostgreSQL 13+).
      await admin`drop database if exists ${admin(databaseName)} with (force)`;
      await admin.end({ timeout: 5 });
    });
    const databaseUrl = new URL(adminUrl);
    databaseUrl.pathname = `/${databaseName}`;

    const nc = await connect({ servers: natsUrl, name: 'aga-bench' });
    cleanup.push(async () => {
      await deleteNamespaceStreams(nc, namespace);
      await nc.close();
    });

    let sandbox: SandboxProcess | undefined;
    if (options.sandboxFlags !== undefined) {
      sandbox = await startSandboxProcess(options.sandboxFlags);
      const started = sandbox;
      cleanup.push(() => started.stop());
    }

    const jwtSecret = randomBytes(32).toString('hex');
    const port = await freePort();
    const config = loadSystemConfig({
      // Settings the caller exported (a rate limit, a model) reach the system; the bench's own win.
      ...Object.fromEntries(CONFIG_VARIABLES.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]]))),
      DATABASE_URL: databaseUrl.toString(),
      NATS_URL: natsUrl,
      NATS_NAMESPACE: namespace,
      PORT: String(port),
      // The bench's processes share a host: none serves metrics.
      METRICS_PORT: '0',
      SUPABASE_JWT_SECRET: jwtSecret,
      LOG_LEVEL: 'warn',
      ROLES: options.roles.join(','),
      // The bench measures throughput: its large files and repeated runs are not a tenant to limit.
      QUOTA_CONCURRENT_RUNS: '0',
      QUOTA_LEADS_PER_RUN: '0',
      QUOTA_LEADS_PER_DAY: '0',
      QUOTA_SPEND_PER_DAY_USD: '0',
      ...(sandbox === undefined
        ? { PROVIDERS: 'sandbox', PERPLEXITY_API_KEY: '', OPENROUTER_API_KEY: '', PERPLEXITY_BASE_URL: '', OPENROUTER_BASE_URL: '' }
        : { PERPLEXITY_API_KEY: 'bench', OPENROUTER_API_KEY: 'bench', PERPLEXITY_BASE_URL: sandbox.url, OPENROUTER_BASE_URL: sandbox.url }),
      ...options.env,
    });
    const log = createWriteStream(options.logFile);
    cleanup.push(async () => {
      log.end();
      await once(log, 'close');
    });
    const system: RunningSystem = await startSystem(config, createLogger({ level: config.config.logLevel, destination: log }));
    // Before the sandbox and the database go: the consumers stop first.
    cleanup.push(() => system.stop());

    const sql = postgres(databaseUrl.toString(), { max: 2, onnotice: () => {} });
    cleanup.push(() => sql.end({ timeout: 5 }));

    const baseUrl = `http://127.0.0.1:${port}/api/campaigns`;
    const token = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(randomUUID())
      .setAudience('authenticated')
      .setIssuedAt()
      .setExpirationTime('6h')
      .sign(new TextEncoder().encode(jwtSecret));
    const authorization = `Bearer ${token}`;

    const status = async (runId: string): Promise<RunStatusBody> => {
      const response = await fetch(`${baseUrl}/status/${runId}`, { headers: { authorization } });
      if (!response.ok) throw new Error(`GET status answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as RunStatusBody;
    };

    const names = natsNames(namespace);
    return {
      sql,
      nc,
      streamName: names.streamName,
      subjectPrefix: names.prefix,
      sandboxPid: sandbox?.pid,
      versions: { postgres: versionRow?.server_version ?? 'unknown', nats: nc.info?.version ?? 'unknown' },
      async submit(csvPath, campaignName) {
        const form = new FormData();
        form.append('campaign_name', campaignName);
        form.append('csv_file', await openAsBlob(csvPath, { type: 'text/csv' }), 'leads.csv');
        const response = await fetch(`${baseUrl}/process`, { method: 'POST', headers: { authorization }, body: form });
        if (response.status !== 202) throw new Error(`POST /process answered ${response.status}: ${await response.text()}`);
        return ((await response.json()) as { run_id: string }).run_id;
      },
      status,
      async waitFor(runId, done, { intervalMs, timeoutMs }) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          options.signal.throwIfAborted();
          const current = await status(runId);
          if (done(current)) return current;
          if (Date.now() > deadline) throw new Error(`run still ${current.status} after ${timeoutMs / 1000} s`);
          await sleep(intervalMs);
        }
      },
      async close() {
        await runCleanup();
        return { sandbox: sandbox?.summary() };
      },
    };
  } catch (error) {
    await runCleanup();
    throw error;
  }
}

interface SandboxProcess {
  readonly url: string;
  readonly pid: number | undefined;
  /** Set once the sandbox stopped and printed its summary. */
  summary(): SandboxSummary | undefined;
  stop(): Promise<void>;
}

/** `scripts/sandbox.ts` as a child process on a free port; resolves once it prints its URL. */
async function startSandboxProcess(flags: readonly string[]): Promise<SandboxProcess> {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [SANDBOX_SCRIPT, '--port', '0', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  const exited = once(child, 'exit');

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the sandbox did not start: ${errors || output}`)), 15_000);
    const check = () => {
      const match = /listening: (http:\/\/\S+\/v1)/.exec(output);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      resolve(match[1]);
    };
    child.stdout.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the sandbox exited: ${errors || output}`));
    });
  });

  let summary: SandboxSummary | undefined;
  return {
    url,
    pid: child.pid,
    summary: () => summary,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      const line = /sandbox summary: (\{.*\})/.exec(output)?.[1];
      if (line !== undefined) summary = JSON.parse(line) as SandboxSummary;
    },
  };
}

/** Deletes every stream the namespace created (the pipeline's, its dead letters, object and KV buckets). */
async function deleteNamespaceStreams(nc: NatsConnection, namespace: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const name of jsm.streams.names()) {
    if (name.toLowerCase().replaceAll('_', '-').includes(namespace)) names.push(name);
  }
  for (const name of names) await jsm.streams.delete(name);
}

