/**
 * What the chaos harness breaks, all private to it: a nats-server and a PostgreSQL cluster of its
 * own (temp dirs, free ports: the machine's shared servers are never touched, since the harness
 * kills, wipes and restarts them), the sandbox provider as a child process with its admin routes,
 * and the service as separate OS processes started as `npm start` starts them.
 *
 * Every start registers its undo in `Cleanup`; the harness runs it at the end, on an error and on
 * Ctrl-C, and a last synchronous pass on exit kills whatever is still running.
 */
import { freePort } from '../free-port.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { FaultSettings } from '../../adapters/sandbox/faults.ts';
import type { BillingEntry } from '../../adapters/sandbox/admin.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NATS_SERVER = '/usr/sbin/nats-server';
const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Undo steps, run last-registered first; `killOnExit` pids are SIGKILLed by a synchronous exit hook. */
export class Cleanup {
  readonly #steps: { name: string; run: () => Promise<unknown> }[] = [];
  readonly #pids = new Set<number>();
  readonly #sync: (() => void)[] = [];
  #ran = false;

  constructor() {
    process.on('exit', () => {
      for (const pid of this.#pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      for (const step of this.#sync) step();
    });
  }

  add(name: string, run: () => Promise<unknown>): void {
    this.#steps.push({ name, run });
  }

  /** A last resort for an exit without `run()` (an uncaught error): must be synchronous. */
  onExit(step: () => void): void {
    this.#sync.push(step);
  }

  track(child: ChildProcess): void {
    if (child.pid === undefined) return;
    const pid = child.pid;
    this.#pids.add(pid);
    child.once('exit', () => this.#pids.delete(pid));
  }

  async run(): Promise<void> {
    if (this.#ran) return;
    this.#ran = true;
    for (const step of this.#steps.reverse()) {
      await step.run().catch((error: unknown) => console.error(`chaos cleanup: ${step.name} failed:`, error instanceof Error ? error.message : error));
    }
  }
}


function exited(child: ChildProcess): Promise<unknown> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** A TCP connect to 127.0.0.1:port succeeds. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

// ── NATS ───────────────────────────────────────────────────────────────────────────────────

export interface PrivateNats {
  readonly url: string;
  readonly version: string;
  /** SIGKILL, as a crash: what the store holds is what the OS had been given. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store dir. */
  start(): Promise<void>;
  /** Removes the store dir (call while it is down): the broker comes back empty. */
  wipeStore(): Promise<void>;
}

/**
 * nats-server 2.9.10 with JetStream on `-sd <dir>`. It does not know `jetstream { sync_interval:
 * always }` (added in 2.10: "unknown field"), so the store is fsynced on the server's default
 * schedule; a SIGKILL loses nothing the OS already holds, so "restart with its store" keeps
 * every acknowledged message here, and the empty-store scenario stands in for the power cut.
 */
export async function startPrivateNats(dir: string, logDir: string, cleanup: Cleanup): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = join(dir, 'nats-store');
  await mkdir(storeDir, { recursive: true });
  const version = spawnSync(NATS_SERVER, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const log = createWriteStream(join(logDir, 'nats-server.log'), { flags: 'a' });
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    cleanup.track(child);
    await waitUntil('nats-server to listen', () => listening(port), 15_000);
  };
  const kill = async () => {
    if (child === undefined) return;
    const running = child;
    child = undefined;
    running.kill('SIGKILL');
    await exited(running);
  };
  await start();
  cleanup.add('stop nats-server', async () => {
    await kill();
    log.end();
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    version,
    kill,
    start,
    async wipeStore() {
      await rm(storeDir, { recursive: true, force: true });
      await mkdir(storeDir, { recursive: true });
    },
  };
}

// ── PostgreSQL ─────────────────────────────────────────────────────────────────────────────

export interface PrivatePostgres {
  readonly port: number;
  /** The harness's database (created here). */
  readonly databaseUrl: string;
  /** `pg_ctl stop -m immediate`: every backend killed at once, recovery from WAL on the next start. */
  crash(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A cluster of its own: initdb into a temp dir (trust auth, local only), started with pg_ctl on
 * a free port with its socket in that dir. PostgreSQL refuses to run as root, so as root every
 * PostgreSQL binary runs as the `postgres` OS user (runuser) and the dir is handed to it.
 */
export async function startPrivatePostgres(dir: string, logDir: string, cleanup: Cleanup): Promise<PrivatePostgres> {
  const port = await freePort();
  const dataDir = join(dir, 'pgdata');
  const socketDir = join(dir, 'pgsocket');
  const logFile = join(logDir, 'postgres.log');
  await mkdir(socketDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const chown = spawnSync('chown', ['-R', 'postgres:postgres', dir], { encoding: 'utf8' });
    if (chown.status !== 0) throw new Error(`chown of ${dir} to postgres failed: ${chown.stderr}`);
    await chmod(dir, 0o755);
    await writeFile(logFile, '');
    spawnSync('chown', ['postgres:postgres', logFile]);
  }
  const run = (binary: string, args: readonly string[]) => {
    const command = asRoot ? ['runuser', '-u', 'postgres', '--', join(PG_BIN, binary), ...args] : [join(PG_BIN, binary), ...args];
    const result = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', cwd: dir, timeout: 120_000 });
    if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
    return result.stdout;
  };

  run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  const options = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const start = (): Promise<void> => {
    run('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
    return Promise.resolve();
  };
  const stop = (mode: 'fast' | 'immediate') => {
    try {
      run('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']);
    } catch (error) {
      // Not running is fine.
      if (!/Is server running\?|no server running/i.test(String(error))) throw error;
    }
  };
  await start();
  cleanup.add('stop PostgreSQL', () => Promise.resolve(stop('fast')));
  cleanup.onExit(() => {
    try {
      stop('immediate');
    } catch {
      // Nothing more can be done on the way out.
    }
  });
  run('psql', ['-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-qc', 'create database aga_chaos']);
  return {
    port,
    databaseUrl: `postgres://postgres@127.0.0.1:${port}/aga_chaos`,
    crash() {
      stop('immediate');
      return Promise.resolve();
    },
    start,
  };
}

// ── the sandbox provider ───────────────────────────────────────────────────────────────────

export interface SandboxProcess {
  /** The providers' base URL (…/v1). */
  readonly url: string;
  setFaults(settings: FaultSettings): Promise<void>;
  billing(prefix: string): Promise<Record<string, BillingEntry>>;
  faultCounts(): Promise<Record<string, number>>;
}

/** `scripts/sandbox.ts --admin` on a free port, its faults replaced over /admin/faults. */
export async function startSandboxProcess(baseline: FaultSettings, logDir: string, cleanup: Cleanup): Promise<SandboxProcess> {
  const script = join(REPO_ROOT, 'scripts/sandbox.ts');
  const child = spawn(process.execPath, [script, '--port', '0', '--admin'], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.track(child);
  const log = createWriteStream(join(logDir, 'sandbox.log'));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    log.write(chunk);
  });
  child.stderr.pipe(log, { end: false });
  cleanup.add('stop the sandbox', async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited(child);
    log.end();
  });
  await waitUntil('the sandbox to print its URL', () => Promise.resolve(/listening: (http:\/\/\S+\/v1)/.test(output)), 15_000);
  const url = /listening: (http:\/\/\S+\/v1)/.exec(output)![1]!;
  const origin = url.replace(/\/v1$/, '');
  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${origin}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`sandbox ${method} ${path} answered ${response.status}: ${await response.text()}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  const sandbox: SandboxProcess = {
    url,
    async setFaults(settings) {
      await admin('PUT', '/admin/faults', { ...baseline, ...settings });
    },
    async billing(prefix) {
      return (await admin('GET', `/admin/billing?prefix=${encodeURIComponent(prefix)}`)).leads as Record<string, BillingEntry>;
    },
    async faultCounts() {
      return (await admin('GET', '/admin/faults')).counts as Record<string, number>;
    },
  };
  await sandbox.setFaults({});
  return sandbox;
}

// ── the service ────────────────────────────────────────────────────────────────────────────

/** A service process that exited on its own (not killed or stopped by the harness). */
export interface Crash {
  readonly at: number;
  readonly description: string;
}

export interface ServiceProcess {
  readonly name: string;
  readonly roles: string;
  /** Whether it is running (started and not yet exited). */
  running(): boolean;
  /** Exits the harness did not ask for, each followed by a restart (as `restart: unless-stopped`). */
  readonly crashes: readonly Crash[];
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  start(): void;
  /** SIGTERM (a clean stop), SIGKILL after 20 s. */
  stop(): Promise<void>;
}

let supervising = true;
/** From now on a process that exits stays down: the harness is shutting down. */
export function stopSupervising(): void {
  supervising = false;
}

const RESTART_DELAY_MS = 1_000;

/**
 * One service process as `npm start` runs it: `node --env-file-if-exists=.env src/main.ts` with
 * `env` (which wins over a .env: Node does not override variables already set). Its JSON log
 * lines go to `<logDir>/<name>.log`. Like docker-compose.yml's `restart: unless-stopped`, a
 * process that exits without the harness asking (a crash) is started again after a second, and
 * the crash is recorded: a deployment's supervisor would hide it, the harness reports it.
 */
export function serviceProcess(name: string, roles: string, env: Readonly<Record<string, string>>, logDir: string, cleanup: Cleanup): ServiceProcess {
  const log: WriteStream = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  let child: ChildProcess | undefined;
  const crashes: Crash[] = [];
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const service: ServiceProcess = {
    name,
    roles,
    running,
    crashes,
    start() {
      log.write(`{"chaos":"start ${name} at ${new Date().toISOString()}"}\n`);
      const started = spawn(process.execPath, ['--env-file-if-exists=.env', 'src/main.ts'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', ...env, ROLES: roles },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = started;
      started.stdout?.pipe(log, { end: false });
      started.stderr?.pipe(log, { end: false });
      cleanup.track(started);
      started.once('exit', (code, signal) => {
        if (expected.has(started) || !supervising) return;
        const description = signal === null ? `exited with code ${code}` : `killed by ${signal}`;
        crashes.push({ at: Date.now(), description });
        log.write(`{"chaos":"${name} ${description} at ${new Date().toISOString()}: restarting it"}\n`);
        setTimeout(() => {
          if (supervising && child === started) service.start();
        }, RESTART_DELAY_MS);
      });
    },
    async kill() {
      if (child === undefined || !running()) return;
      const target = child;
      expected.add(target);
      target.kill('SIGKILL');
      await exited(target);
      log.write(`{"chaos":"SIGKILL ${name} at ${new Date().toISOString()}"}\n`);
    },
    async stop() {
      if (child === undefined || !running()) return;
      const target = child;
      expected.add(target);
      target.kill('SIGTERM');
      const timer = setTimeout(() => target.kill('SIGKILL'), 20_000);
      await exited(target);
      clearTimeout(timer);
    },
  };
  const expected = new WeakSet<ChildProcess>();
  cleanup.add(`stop ${name}`, async () => {
    stopSupervising();
    await service.stop();
    log.end();
  });
  return service;
}
