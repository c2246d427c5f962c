/**
 * `npm run chaos`: breaks the running system one way after another, each during a campaign run of
 * its own, and prints what each fault cost: leads lost, leads counted twice, KPI drift, paid calls
 * made twice, the time to recover, and whether /readyz told the truth. Exits 1 when any scenario
 * lost a lead, counted one twice, let the KPIs drift or left a half-made upload behind.
 *
 *   npm run chaos -- [--leads 2000] [--scenarios worker-kill,edge-kill,...|all] [--workers 2]
 *                    [--latency-ms 300] [--fault-s 20] [--down-s 10] [--lease-ms 150000]
 *                    [--interval-ms 10000] [--ack-wait-ms 15000] [--run-timeout-s <n>]
 *
 * Everything it breaks is its own (scripts/chaos/infra.ts): a private nats-server and PostgreSQL
 * cluster in a temp dir on free ports, the sandbox provider with its admin routes, and the service
 * as OS processes started like `npm start` (one edge, `--workers` workers). The temp dir is removed
 * at the end, also on Ctrl-C; the processes' logs stay under .chaos/<time>/.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { CONFIG_VARIABLES } from '../../adapters/config/env.ts';
import { natsNames } from '../../adapters/nats/namespace.ts';
import { freePort } from '../free-port.ts';
import { Cleanup, REPO_ROOT, serviceProcess, startPrivateNats, startPrivatePostgres, startSandboxProcess, stopSupervising, type ServiceProcess } from './infra.ts';
import { runScenario, SCENARIO_DEFS, SCENARIOS, type Harness, type ScenarioName, type ScenarioResult } from './scenarios.ts';
import { HOURS_PER_LEAD, MONEY_PER_LEAD } from './truth.ts';

const NAMESPACE = 'chaos';
const WORKER_ROLES = 'relay,reconciler,extraction,research,personalization,projection';

const { values } = parseArgs({
  options: {
    leads: { type: 'string', default: '2000' },
    scenarios: { type: 'string', default: 'all' },
    workers: { type: 'string', default: '2' },
    'latency-ms': { type: 'string', default: '300' },
    'fault-s': { type: 'string', default: '20' },
    'down-s': { type: 'string', default: '10' },
    'lease-ms': { type: 'string', default: '150000' },
    'interval-ms': { type: 'string', default: '10000' },
    'ack-wait-ms': { type: 'string', default: '15000' },
    'run-timeout-s': { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function wholeNumber(name: keyof typeof values, min: number): number {
  const raw = values[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(value) || value < min) fail(`--${name} must be a whole number of at least ${min} (got ${JSON.stringify(raw)})`);
  return value;
}

const leads = wholeNumber('leads', 10);
const workerCount = wholeNumber('workers', 1);
const latencyMs = wholeNumber('latency-ms', 0);
const faultMs = wholeNumber('fault-s', 1) * 1000;
const downMs = wholeNumber('down-s', 1) * 1000;
const leaseMs = wholeNumber('lease-ms', 1000);
const intervalMs = wholeNumber('interval-ms', 1000);
const ackWaitMs = wholeNumber('ack-wait-ms', 1000);
const runTimeoutMs = values['run-timeout-s'] === undefined ? Math.max(180_000, leads * 150) : wholeNumber('run-timeout-s', 10) * 1000;
const selected: readonly ScenarioName[] =
  values.scenarios === 'all'
    ? SCENARIOS
    : values.scenarios.split(',').map((name) =>
        (SCENARIOS as readonly string[]).includes(name.trim()) ? (name.trim() as ScenarioName) : fail(`unknown scenario ${JSON.stringify(name)}: one of ${SCENARIOS.join(', ')}, or all`),
      );
if (leaseMs <= 120_000) console.warn(`warning: --lease-ms ${leaseMs} is within JetStream's 2-minute de-duplication window: a re-drive may pay for calls twice`);

const cleanup = new Cleanup();
const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopSupervising();
    console.log(`\n${signal}: stopping every process the harness started and removing its data`);
    interrupted.abort(new Error(signal));
    void cleanup.run().finally(() => process.exit(130));
  });
}

const startedAt = new Date();
const logDir = join(REPO_ROOT, '.chaos', startedAt.toISOString().replace(/[:.]/g, '-'));
let exitCode = 0;
try {
  exitCode = await main();
} catch (error) {
  if (!interrupted.signal.aborted) {
    console.error('chaos harness failed:', error);
    exitCode = 2;
  }
} finally {
  if (!interrupted.signal.aborted) await cleanup.run();
}
if (!interrupted.signal.aborted) process.exit(exitCode);

async function main(): Promise<number> {
  await mkdir(logDir, { recursive: true });
  const workDir = await mkdtemp(join(tmpdir(), 'aga-chaos-'));
  cleanup.add('remove the temp dir', () => rm(workDir, { recursive: true, force: true }));
  const log = (line: string) => console.log(line);
  log(`chaos: ${leads} leads a scenario; scenarios: ${selected.join(', ')}`);
  log(`  data in ${workDir} (removed at the end); logs in ${logDir}`);

  const nats = await startPrivateNats(workDir, logDir, cleanup);
  const pg = await startPrivatePostgres(workDir, logDir, cleanup);
  const sandbox = await startSandboxProcess({ latencyMs, seed: 1 }, logDir, cleanup);
  log(`  private ${nats.version} on ${nats.url}; private PostgreSQL 15 on port ${pg.port}; sandbox on ${sandbox.url}`);

  const jwtSecret = randomBytes(32).toString('hex');
  const edgePort = await freePort();
  const env: Record<string, string> = {
    // Quotas at the edge would turn the harness's uploads away: off ("0") unless the caller sets them.
    ...Object.fromEntries(CONFIG_VARIABLES.filter((name) => name.startsWith('QUOTA_')).map((name) => [name, '0'])),
    // Settings the caller exported reach the service; the harness's own below win.
    ...Object.fromEntries(CONFIG_VARIABLES.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]]))),
    DATABASE_URL: pg.databaseUrl,
    NATS_URL: nats.url,
    // Several processes on one host: none serves metrics (they would all want 9464).
    METRICS_PORT: '0',
    NATS_NAMESPACE: NAMESPACE,
    SUPABASE_JWT_SECRET: jwtSecret,
    PERPLEXITY_API_KEY: 'chaos-key',
    OPENROUTER_API_KEY: 'chaos-key',
    PERPLEXITY_BASE_URL: sandbox.url,
    OPENROUTER_BASE_URL: sandbox.url,
    // The sandbox has no rate limit but in the storm: the service's own budget is uncapped.
    RESEARCH_RPM: '0',
    PERSONALIZATION_RPM: '0',
    RECONCILER_LEASE_MS: String(leaseMs),
    RECONCILER_INTERVAL_MS: String(intervalMs),
    // A killed worker's messages come back after this long (the consumers' own waits are 30-120 s).
    CONSUMER_ACK_WAIT_MS: String(ackWaitMs),
    PROVIDER_TIMEOUT_MS: '10000',
    PROVIDER_PROBE_INTERVAL_MS: '5000',
    HOURS_SAVED_PER_LEAD: String(HOURS_PER_LEAD),
    MONEY_SAVED_PER_LEAD: String(MONEY_PER_LEAD),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  const edge = serviceProcess('edge', 'edge', { ...env, PORT: String(edgePort) }, logDir, cleanup);
  const workers: ServiceProcess[] = [];
  for (let index = 1; index <= workerCount; index += 1) {
    workers.push(serviceProcess(`worker-${index}`, WORKER_ROLES, { ...env, PORT: String(await freePort()) }, logDir, cleanup));
  }
  const everyService = [edge, ...workers];
  const apiBase = `http://127.0.0.1:${edgePort}`;
  const ready = async (timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    while ((await fetch(`${apiBase}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((response) => response.status, () => 0)) !== 200) {
      if (Date.now() > deadline) throw new Error(`the service was not ready within ${timeoutMs / 1000} s (see ${logDir})`);
      await sleep(250, undefined, { signal: interrupted.signal });
    }
  };
  for (const service of everyService) service.start();
  await ready();
  log(`  the service is up: edge on ${apiBase}, ${workers.length} worker(s)`);

  const sql = postgres(pg.databaseUrl, { max: 2, onnotice: () => {} });
  cleanup.add('close the ground-truth pool', () => sql.end({ timeout: 5 }));

  const harness: Harness = {
    leads,
    apiBase,
    jwtSecret,
    edge,
    workers,
    nats,
    postgres: pg,
    sandbox,
    sql,
    streamName: natsNames(NAMESPACE).streamName,
    workDir,
    faultMs,
    downMs,
    runTimeoutMs,
    redriveMs: leaseMs + intervalMs,
    signal: interrupted.signal,
    log,
  };

  const results: ScenarioResult[] = [];
  for (const [index, name] of selected.entries()) {
    interrupted.signal.throwIfAborted();
    const def = SCENARIO_DEFS[name];
    log(`\n── ${index + 1}. ${def.title} (${name}) ${'─'.repeat(20)}`);
    const started = Date.now();
    const result = await runScenario(harness, def, SCENARIOS.indexOf(name));
    results.push(result);
    log(`  ${row(result)}`);
    log(`  (${((Date.now() - started) / 1000).toFixed(0)} s; readyz: ${result.readyz.detail}${result.notes.length > 0 ? `; ${result.notes.join('; ')}` : ''})`);

    // A scenario the service did not recover from must not spoil the next: start every process afresh.
    if (result.truth.runStatus !== 'completed' || everyService.some((service) => !service.running())) {
      log('  restarting every service process before the next scenario');
      for (const service of everyService) await service.stop();
      for (const service of everyService) service.start();
      await ready();
    }
  }

  printTable(results);
  return results.some((result) => result.failed) ? 1 : 0;
}

function seconds(value: number | undefined): string {
  return value === undefined ? 'never' : value.toFixed(1);
}

function row(result: ScenarioResult): string {
  const { truth } = result;
  const drift = truth.drift.leads === 0 && truth.drift.hoursCents === 0 && truth.drift.moneyCents === 0
    ? '0'
    : `${signed(truth.drift.leads)} leads, ${signed(truth.drift.moneyCents)}¢`;
  const lost = result.halfMade > 0 ? `${truth.lost} (+${result.halfMade} half-made)` : String(truth.lost);
  return `| ${result.name} | ${truth.runStatus} | ${lost} | ${truth.countedTwice} | ${drift} | ${truth.extraPaid.max} / ${truth.extraPaid.total} | ${truth.claimedExtra === undefined ? 'n/a' : `${truth.claimedExtra.max} / ${truth.claimedExtra.total}`} | ${seconds(result.recoverS)} | ${seconds(result.doneS)} | ${result.readyz.truthful ? 'yes' : 'no'} | ${result.failed ? 'FAIL' : 'ok'} |`;
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : String(value);
}

function printTable(results: readonly ScenarioResult[]): void {
  console.log(`\nChaos run of ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${leads} leads a scenario, ${workerCount} worker(s), sandbox latency ${latencyMs} ms`);
  console.log('extra paid = well-formed answers the sandbox billed beyond one per lead per stage (max for one lead / total);');
  console.log('claimed extra = the same from the service\'s paid_call_claims.calls_started (n/a before migration 0012)');
  console.log('recover = s from the fault\'s end to the run moving again; done = to its completion\n');
  console.log('| scenario | run | lost | counted twice | KPI drift | extra paid max / total | claimed extra | recover s | done s | /readyz truthful | verdict |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const result of results) console.log(row(result));
  for (const result of results) {
    if (result.notes.length > 0 || !result.readyz.truthful) console.log(`- ${result.name}: readyz ${result.readyz.detail}${result.notes.length > 0 ? `; ${result.notes.join('; ')}` : ''}`);
  }
}
