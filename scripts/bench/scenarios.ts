/**
 * The three benchmark scenarios. Each starts its own environment (environment.ts), uploads a
 * generated file over the real HTTP edge, follows the run through the status route, reads
 * timestamps and counts from the database, and returns figures against their targets.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import type postgres from 'postgres';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import { roleNames, topologyOf } from '../../src/app/kernel/assemble.ts';
import { provisionTopology } from '../../adapters/nats/topology.ts';
import { eventSubject } from '../../adapters/nats/subjects.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import { startEnvironment, type BenchEnvironment, type EnvironmentOptions, type RunStatusBody, type SandboxSummary, type Versions } from './environment.ts';
import { writeLeadFile, type LeadFile, type LeadFileSpec } from './leads-csv.ts';
import { cpuSince, cpuSnapshot, RssSampler, StageWatcher, type CpuSpent } from './probes.ts';

export const SCENARIOS = ['provider', 'overhead', 'import'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Figure {
  readonly name: string;
  readonly value: string;
  /** e.g. "≥ 0.90"; absent for a figure shown for information. */
  readonly target?: string;
  readonly met?: boolean;
}

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  /** The scenario and its parameters, e.g. "provider-bound (300 leads; 600 rpm; median latency 1500 ms)". */
  readonly label: string;
  readonly figures: readonly Figure[];
  /** Where the time went, and anything odd seen on the way. */
  readonly details: readonly string[];
  readonly versions: Versions;
}

export interface ScenarioOptions {
  readonly signal: AbortSignal;
  /** Leads (rows, for the import) in the file. */
  readonly leads: number;
}

export interface ProviderOptions extends ScenarioOptions {
  readonly researchRpm: number;
  readonly writerRpm: number;
  readonly latencyMs: number;
}

const WORK_DIR = fileURLToPath(new URL('../../.bench/', import.meta.url));
const ALL_ROLES = roleNames(CONSUMERS);
/** The services beside the system whose CPU time is worth showing. */
const SERVICE_GROUPS = { byName: { postgres: 'PostgreSQL', 'nats-server': 'NATS' }, byPid: {} };
const TERMINAL = (status: RunStatusBody) => status.status === 'completed' || status.status === 'failed';

/**
 * Provider-bound: the sandbox limits each endpoint to its rpm (spread over the seconds, as a
 * provider meters it) and answers after a log-normal latency. No schedule can beat
 *   bound = N / min(research rpm, writer rpm) + one research call + one writer call
 * (each call at the median latency): the limit admits the N-th request no sooner than N / rate,
 * and that lead still needs its research and then its line. The first second's allowance is
 * admitted at once, so the true bound is up to a second lower; the ratio bound / makespan says
 * how close the system gets to what the account allows.
 *
 * That bound counts one call a lead to each provider. A draft that fails a quality gate is
 * written again, so the writer makes more calls than there are leads; the second bound counts
 * the calls each provider really answered, max(calls / rpm) over the two, and says how close the
 * system gets when the writer, not research, is the tighter limit.
 */
export async function providerScenario(options: ProviderOptions): Promise<ScenarioResult> {
  const { leads, researchRpm, writerRpm, latencyMs } = options;
  const sandboxFlags = ['--research-rpm', String(researchRpm), '--writer-rpm', String(writerRpm), '--latency-ms', String(latencyMs), '--seed', '1'];
  // The system is told the account's limits, as a deployment would be (RESEARCH_RPM, PERSONALIZATION_RPM).
  const settings = { RESEARCH_RPM: String(researchRpm), PERSONALIZATION_RPM: String(writerRpm) };
  const run = await inEnvironment('provider', { rows: leads }, { roles: ALL_ROLES, sandboxFlags, env: settings, signal: options.signal }, async (env, file) => {
    const boundMs = (file.expected.valid / (Math.min(researchRpm, writerRpm) / 60)) * 1000 + 2 * latencyMs;
    const startedAt = Date.now();
    const runId = await env.submit(file.path, 'bench provider-bound');
    const stages = new StageWatcher(env.sql, runId, file.expected.valid, 100);
    const final = await env.waitFor(runId, TERMINAL, { intervalMs: 100, timeoutMs: boundMs * 4 + 120_000 });
    return {
      boundMs,
      final,
      researchDoneMs: stages.stop(startedAt).researchDoneMs,
      makespanMs: endOf(final) - startedAt,
      counts: await leadCounts(env.sql, runId),
      timings: await leadTimings(env.sql, runId, startedAt),
    };
  });
  const { boundMs, final, researchDoneMs, makespanMs, counts, timings } = run.measured;
  const ratio = boundMs / makespanMs;
  const failed = counts.failed ?? 0;
  const calls = answeredCalls(run.sandbox);
  const callsBoundMs =
    calls === undefined ? undefined : Math.max(calls.research / (researchRpm / 60), calls.writer / (writerRpm / 60)) * 1000 + 2 * latencyMs;
  return {
    scenario: 'provider',
    label: `provider-bound (${leads} leads; ${researchRpm === writerRpm ? `${researchRpm} rpm` : `research ${researchRpm} rpm, writer ${writerRpm} rpm`}; median latency ${latencyMs} ms)`,
    figures: [
      { name: 'makespan', value: seconds(makespanMs) },
      { name: 'lower bound', value: seconds(boundMs) },
      // A lead that fails ends early and shortens the makespan: the ratio counts only with none failed.
      { name: 'bound / makespan', value: ratio.toFixed(2), target: '≥ 0.90', met: ratio >= 0.9 && failed === 0 },
      ...(calls === undefined || callsBoundMs === undefined
        ? []
        : [
            { name: `lower bound counting every call (research ${calls.research}, writer ${calls.writer})`, value: seconds(callsBoundMs) },
            { name: 'that bound / makespan', value: (callsBoundMs / makespanMs).toFixed(2) },
          ]),
      { name: 'leads failed', value: String(failed), target: '0', met: failed === 0 },
      { name: 'leads needs_review', value: String(counts.needs_review ?? 0) },
      { name: 'requests answered 429', value: String(run.sandbox?.faults.rateLimited ?? 'n/a') },
    ],
    details: [
      `run ${final.status}${final.error_message === null ? '' : ` (${final.error_message})`}; leads by status: ${JSON.stringify(counts)}`,
      `sandbox: ${sandboxLine(run.sandbox)}`,
      ...timingLines(timings, researchDoneMs),
      run.log,
    ],
    versions: run.versions,
  };
}

/**
 * Overhead: the sandbox without latency or limits, in its own process so that its CPU is not the
 * system's; every role of the system in this one process. Leads per second is N over the time
 * from the upload to the run's completion; CPU per lead is this process's CPU time over that
 * span (the edge, the four consumers, the reconciler, and the bench's own polling, which is
 * small) divided by N. PostgreSQL, NATS and the sandbox are measured apart, from /proc.
 */
export async function overheadScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { leads } = options;
  // No cap on the system's side either (0: no limiter), or it would be what is measured.
  const settings = { RESEARCH_RPM: '0', PERSONALIZATION_RPM: '0' };
  const run = await inEnvironment('overhead', { rows: leads }, { roles: ALL_ROLES, sandboxFlags: [], env: settings, signal: options.signal }, async (env, file) => {
    const groups = { ...SERVICE_GROUPS, byPid: env.sandboxPid === undefined ? {} : { [env.sandboxPid]: 'sandbox' } };
    const cpuBefore = await cpuSnapshot(groups);
    const startedAt = Date.now();
    const runId = await env.submit(file.path, 'bench overhead');
    const stages = new StageWatcher(env.sql, runId, file.expected.valid, 100);
    const final = await env.waitFor(runId, TERMINAL, { intervalMs: 50, timeoutMs: 600_000 });
    const cpu = cpuSince(cpuBefore, await cpuSnapshot(groups));
    return {
      leads: file.expected.valid,
      final,
      cpu,
      researchDoneMs: stages.stop(startedAt).researchDoneMs,
      elapsedMs: endOf(final) - startedAt,
      counts: await leadCounts(env.sql, runId),
      timings: await leadTimings(env.sql, runId, startedAt),
    };
  });
  const { final, cpu, researchDoneMs, elapsedMs, counts, timings } = run.measured;
  const rate = (run.measured.leads / elapsedMs) * 1000;
  return {
    scenario: 'overhead',
    label: `overhead (${leads} leads; no provider latency or limit; all roles in one process)`,
    figures: [
      { name: 'leads per second, end to end', value: rate.toFixed(0), target: '≥ 1000', met: rate >= 1000 },
      { name: 'CPU ms per lead (system process)', value: (cpu.processMs / run.measured.leads).toFixed(2) },
      { name: 'elapsed', value: seconds(elapsedMs) },
    ],
    details: [`run ${final.status}; leads by status: ${JSON.stringify(counts)}`, ...timingLines(timings, researchDoneMs), cpuLine(cpu, elapsedMs), run.log],
    versions: run.versions,
  };
}

/**
 * Import: a file of about 10 MB (100,000 rows with some duplicates and rejected rows) from the
 * start of the upload until every lead is in the database with its `lead.extracted` event
 * committed: the run has left `extracting` (extraction commits each batch with its events, in the
 * outbox, and the run's totals last). The relay meters events into the broker at the consumers'
 * pace (src/app/kernel/outbox-relay.ts), so with nothing consuming only the first hundred or so
 * reach the stream; the rest wait in the outbox, which is where a backlog is meant to wait (issue
 * 9: fair across users). Only the edge, extraction and the relay run; the research consumer is
 * provisioned but not run. Peak memory is this process's resident set size.
 */
export async function importScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const spec: LeadFileSpec = { rows: options.leads, maxBytes: DEFAULT_IMPORT_LIMITS.maxBytes, duplicateEvery: 100, rejectEvery: 150 };
  const run = await inEnvironment('import', spec, { roles: ['edge', 'extraction', 'relay'], signal: options.signal }, async (env, file) => {
    await provisionTopology(env.nc, { streamName: env.streamName, prefix: env.subjectPrefix, consumers: topologyOf(CONSUMERS.filter((consumer) => consumer.name === 'research')) });
    const cpuBefore = await cpuSnapshot(SERVICE_GROUPS);
    const rssBefore = process.memoryUsage.rss();
    const rss = new RssSampler(50);
    const startedAt = Date.now();
    const runId = await env.submit(file.path, 'bench import');
    const acceptedMs = Date.now() - startedAt;
    const peakAtAccepted = rss.peak().rss;
    const final = await env.waitFor(runId, (status) => status.status !== 'queued' && status.status !== 'extracting', { intervalMs: 50, timeoutMs: 300_000 });
    const observedMs = Date.now() - startedAt;
    const peak = rss.stop();
    const cpu = cpuSince(cpuBefore, await cpuSnapshot(SERVICE_GROUPS));
    const [stored] = await env.sql<{ n: number }[]>`select count(*)::int as n from leads where run_id = ${runId}`;
    const [waiting] = await env.sql<{ n: number }[]>`select count(*)::int as n from outbox where event_type = 'lead.extracted' and run_id = ${runId}`;
    return {
      file,
      final,
      cpu,
      rssBefore,
      peakAtAccepted,
      peak,
      acceptedMs,
      observedMs,
      // The poll that saw the run leave `extracting`: every lead stored with its event (at most 50 ms early).
      elapsedMs: observedMs,
      stored: stored?.n ?? 0,
      published: await extractedEvents(env),
      waiting: waiting?.n ?? 0,
      timings: await leadTimings(env.sql, runId, startedAt),
    };
  });
  const { file, final, cpu, rssBefore, peakAtAccepted, peak, acceptedMs, observedMs, elapsedMs, stored, published, waiting, timings } = run.measured;
  const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
  const expected = file.expected;
  const complete = stored === expected.valid && published + waiting === expected.valid && final.valid === expected.valid;
  return {
    scenario: 'import',
    label: `import (${(file.bytes / 1e6).toFixed(1)} MB CSV, ${file.rows} rows; edge, extraction, relay)`,
    figures: [
      { name: 'upload to leads stored, their events committed', value: seconds(elapsedMs), target: '< 3 s', met: elapsedMs < 3000 && complete },
      { name: 'peak RSS', value: mb(peak.rss), target: '< 200 MB', met: peak.rss < 200 * 1024 ** 2 },
    ],
    details: [
      `run ${final.status}: valid ${final.valid}, duplicates ${final.duplicates}, rejected ${final.rejected_rows} (expected ${expected.valid} / ${expected.duplicates} / ${expected.rejected})`,
      `leads stored ${stored}; lead.extracted events in the stream ${published}, waiting in the outbox for the consumers ${waiting}${complete ? '' : ' — INCOMPLETE'}`,
      `upload accepted (202) after ${seconds(acceptedMs)}; leads inserted from ${seconds(timings.firstCreatedMs)} to ${seconds(timings.lastCreatedMs)}`,
      `RSS before the upload ${mb(rssBefore)}, peak until the 202 ${mb(peakAtAccepted)}, peak ${mb(peak.rss)} (sampled every 50 ms; then JS heap ${mb(peak.heapUsed)} used of ${mb(peak.heapTotal)}, external ${mb(peak.external)}, of which array buffers ${mb(peak.arrayBuffers)}); the process's high-water mark since it started ${mb(process.resourceUsage().maxRSS * 1024)}`,
      cpuLine(cpu, observedMs),
      run.log,
    ],
    versions: run.versions,
  };
}

interface EnvironmentRun<T> {
  readonly measured: T;
  readonly sandbox: SandboxSummary | undefined;
  readonly versions: Versions;
  /** Where the system's log went, and how many warnings and errors it holds. */
  readonly log: string;
}

/** Writes the scenario's lead file, starts an environment, measures, and removes both whatever happens. */
async function inEnvironment<T>(
  scenario: ScenarioName,
  spec: LeadFileSpec,
  options: Omit<EnvironmentOptions, 'logFile'>,
  measure: (env: BenchEnvironment, file: LeadFile) => Promise<T>,
): Promise<EnvironmentRun<T>> {
  const logFile = `${WORK_DIR}${scenario}.log`;
  return withLeadFile(spec, async (file) => {
    const env = await startEnvironment({ ...options, logFile });
    let measured: T;
    try {
      measured = await measure(env, file);
    } catch (error) {
      await env.close();
      throw error;
    }
    const { sandbox } = await env.close();
    return { measured, sandbox, versions: env.versions, log: await logSummary(logFile) };
  });
}

async function logSummary(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  const count = (level: string) => text.split(`"level":"${level}"`).length - 1;
  return `system log (${path.slice(path.lastIndexOf('/.bench/') + 1)}): ${count('warn')} warnings, ${count('error') + count('fatal')} errors`;
}

async function withLeadFile<T>(spec: LeadFileSpec, run: (file: LeadFile) => Promise<T>): Promise<T> {
  await mkdir(WORK_DIR, { recursive: true });
  const path = `${WORK_DIR}leads-${randomBytes(4).toString('hex')}.csv`;
  try {
    return await run(await writeLeadFile(path, spec));
  } finally {
    await rm(path, { force: true });
  }
}

/** When the run ended, by the database's clock (the same machine's as the bench's, by default). */
function endOf(status: RunStatusBody): number {
  return Date.parse(status.completed_at ?? status.updated_at);
}

async function leadCounts(sql: postgres.Sql, runId: string): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: number }[]>`select status, count(*)::int as n from leads where run_id = ${runId} group by status order by status`;
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

interface LeadTimings {
  readonly firstCreatedMs: number;
  readonly lastCreatedMs: number;
  readonly firstSettledMs: number | null;
  readonly lastSettledMs: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

/** Milliseconds from `startedAt` of each stage's first and last lead, and each lead's time from stored to settled. */
async function leadTimings(sql: postgres.Sql, runId: string, startedAt: number): Promise<LeadTimings> {
  const [row] = await sql<Record<keyof LeadTimings, number | null>[]>`
    select
      extract(epoch from min(created_at))::float8 * 1000 - ${startedAt}::float8 as "firstCreatedMs",
      extract(epoch from max(created_at))::float8 * 1000 - ${startedAt}::float8 as "lastCreatedMs",
      extract(epoch from min(settled_at))::float8 * 1000 - ${startedAt}::float8 as "firstSettledMs",
      extract(epoch from max(settled_at))::float8 * 1000 - ${startedAt}::float8 as "lastSettledMs",
      percentile_cont(0.5) within group (order by extract(epoch from settled_at - created_at)::float8) * 1000 as "p50Ms",
      percentile_cont(0.95) within group (order by extract(epoch from settled_at - created_at)::float8) * 1000 as "p95Ms"
    from leads where run_id = ${runId}`;
  return {
    firstCreatedMs: row?.firstCreatedMs ?? 0,
    lastCreatedMs: row?.lastCreatedMs ?? 0,
    firstSettledMs: row?.firstSettledMs ?? null,
    lastSettledMs: row?.lastSettledMs ?? null,
    p50Ms: row?.p50Ms ?? null,
    p95Ms: row?.p95Ms ?? null,
  };
}

/** How many `lead.extracted` events the namespace's stream holds. */
async function extractedEvents(env: BenchEnvironment): Promise<number> {
  const subject = eventSubject('lead.extracted', env.subjectPrefix);
  const jsm = await jetstreamManager(env.nc);
  const info = await jsm.streams.info(env.streamName, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

function timingLines(timings: LeadTimings, researchDoneMs?: number): string[] {
  return [
    `leads stored (extraction) from ${seconds(timings.firstCreatedMs)} to ${seconds(timings.lastCreatedMs)} after the upload began`,
    ...(researchDoneMs === undefined ? [] : [`research done for every lead by ${seconds(researchDoneMs)} (polled every 100 ms)`]),
    timings.firstSettledMs === null || timings.lastSettledMs === null
      ? 'no lead settled'
      : `leads settled (personalized, needs_review or failed) from ${seconds(timings.firstSettledMs)} to ${seconds(timings.lastSettledMs)}`,
    ...(timings.p50Ms === null || timings.p95Ms === null ? [] : [`per lead, stored to settled: p50 ${seconds(timings.p50Ms)}, p95 ${seconds(timings.p95Ms)}`]),
  ];
}

function cpuLine(cpu: CpuSpent, elapsedMs: number): string {
  const others = Object.entries(cpu.othersMs).map(([group, ms]) => `${group} ${seconds(ms)}`);
  return (
    `CPU over ${seconds(elapsedMs)} of wall time: system process ${seconds(cpu.processMs)} (event loop busy ${(cpu.eventLoopUtilization * 100).toFixed(0)}%)` +
    (others.length === 0 ? '' : `, ${others.join(', ')}`)
  );
}

/**
 * Calls each provider answered. The sandbox counts requests per endpoint, 429s included, and 429s
 * only in all: with any 429 the answered calls per provider are unknown (undefined).
 */
function answeredCalls(summary: SandboxSummary | undefined): { research: number; writer: number } | undefined {
  if (summary === undefined || summary.faults.rateLimited !== 0) return undefined;
  return { research: summary.requests.responses ?? 0, writer: summary.requests.chatCompletions ?? 0 };
}

function sandboxLine(summary: SandboxSummary | undefined): string {
  if (summary === undefined) return 'no summary';
  return `requests ${JSON.stringify(summary.requests)}, faults ${JSON.stringify(summary.faults)}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
