/**
 * Account-level failures over real HTTP and real NATS KV: two "processes" (two NATS connections,
 * each with its own createOutsideApis on one bucket) call the research API on a sandbox whose
 * key is rejected (401) or whose model is unknown (404).
 *
 * The first failure pauses the API for both, the edge's status reader says why, and from then on
 * no call reaches the sandbox but one probe per interval, whichever process makes it; once the
 * key (or the model) is fixed, the next probe succeeds and the pause ends for both. A probe that
 * meets another account failure changes the reason shown; the gate lets one message through per
 * probe, and that message's call is the probe.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsApiStatusReader } from '../../adapters/nats/api-status.ts';
import { createOutsideApis, type OutsideApis } from '../../adapters/outside-api/index.ts';
import { PerplexityResearchProvider } from '../../adapters/providers/perplexity-research.ts';
import { ResilientResearchProvider } from '../../adapters/providers/resilient.ts';
import { sandboxFaults, type SandboxFaults } from '../../adapters/sandbox/faults.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { ApiPaused, type ApiStatus } from '../../ports/outside-api.port.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames } from '../support/nats.ts';
import { startTestSandbox, testLead } from '../support/sandbox.ts';

const PROBE_MS = 500;
const UNAUTHORIZED_REASON = 'provider rejected the API key (HTTP 401)';
const UNKNOWN_MODEL_REASON = 'provider does not know the configured model (HTTP 404)';

let faults: SandboxFaults;
let sandbox: Sandbox;
let edge: NatsConnection;
let reader: NatsApiStatusReader;
let bucket: string;
let processes: Process[] = [];

interface Process {
  readonly apis: OutsideApis;
  readonly log: RecordingLog;
  research(): Promise<unknown>;
  close(): Promise<void>;
}

beforeAll(async () => {
  faults = sandboxFaults({});
  sandbox = await startTestSandbox({ interceptors: faults.interceptors });
  edge = await connectTestNats();
});

afterAll(async () => {
  await edge.close();
  await sandbox.close();
});

beforeEach(async () => {
  bucket = testNames().bucket;
  reader = await NatsApiStatusReader.open(edge, { bucket, apis: ['research'] });
  sandbox.reset();
  faults.restoreKey();
  faults.restoreModel();
});

afterEach(async () => {
  await Promise.all(processes.map((process) => process.close()));
  processes = [];
  await deleteStreams(edge, `KV_${bucket}`);
});

/** A worker process of its own: its NATS connection and its outside APIs over the shared bucket. */
async function startProcess(): Promise<Process> {
  const nc = await connectTestNats();
  const log = new RecordingLog();
  const apis = await createOutsideApis(nc, [{ name: 'research', timeoutMs: 5_000, probeIntervalMs: PROBE_MS }], { bucket, log });
  const provider = new ResilientResearchProvider(new PerplexityResearchProvider({ apiKey: 'sk-test', baseURL: sandbox.url, timeoutMs: 5_000 }), apis.get('research'));
  const process: Process = {
    apis,
    log,
    research: () => provider.research({ lead: testLead() }, new AbortController().signal).then(
      () => 'ok',
      (error: unknown) => error,
    ),
    async close() {
      apis.close();
      await nc.close();
    },
  };
  processes.push(process);
  return process;
}

/** The research API's status as the edge reads it, once it is `state` (and, when given, for `reason`). */
async function statusWhen(state: ApiStatus['state'], reason?: string): Promise<ApiStatus> {
  let shown: ApiStatus | undefined;
  await eventually(`the edge to show research ${state}${reason === undefined ? '' : ` (${reason})`}`, async () => {
    [shown] = await reader.current();
    return shown?.state === state && (reason === undefined || shown.reason === reason);
  });
  return shown!;
}

/** Both processes call together, round after round, for `ms`: what each call ended with. */
async function callTogether(both: readonly Process[], ms: number): Promise<unknown[]> {
  const outcomes: unknown[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    outcomes.push(...(await Promise.all(both.map((process) => process.research()))));
    await sleep(25);
  }
  return outcomes;
}

/** True once the process's own copy of the pause (its board's watch) shuts its gate; asks no probe of it. */
async function seesPause(process: Process): Promise<boolean> {
  return process.apis
    .get('research')
    .gate.wait(AbortSignal.timeout(50))
    .then(
      () => false,
      () => true,
    );
}

/** When the sandbox received each request so far (the last 50), in order. */
const arrivals = () => sandbox.stats.lastRequests.map((request) => request.receivedAt.getTime());

describe('a rejected key (401)', () => {
  it('pauses the API for every process, lets one probe through per interval, and resumes once the key is restored', async () => {
    const [a, b] = [await startProcess(), await startProcess()];
    const rejectedBefore = faults.counts.unauthorized;
    faults.rejectKey('responses');

    const first = await a.research();
    expect(first).toBeInstanceOf(ApiPaused);
    expect(first).toMatchObject({ api: 'research', failure: 'unauthorized', status: 401, retryAfterMs: PROBE_MS });
    const shown = await statusWhen('paused');
    expect(shown).toMatchObject({ api: 'research', reason: UNAUTHORIZED_REASON });
    expect(Date.parse(shown.since ?? '')).toBeLessThanOrEqual(Date.now());
    await eventually('process b to see the pause', () => seesPause(b));
    // Refused by b without a request: it is not the probe's time yet.
    expect(await b.research()).toMatchObject({ name: 'ApiPaused', failure: 'unauthorized', message: `research: paused (${UNAUTHORIZED_REASON})` });
    expect(sandbox.stats.requests.responses).toBe(1);

    // Three probe intervals of both processes calling every few milliseconds: every call refused
    // (ApiPaused, the work waits), and only the probes reach the sandbox, one interval apart.
    const outcomes = await callTogether([a, b], 3 * PROBE_MS + 150);
    expect(outcomes.length).toBeGreaterThan(20);
    expect(outcomes.every((outcome) => outcome instanceof ApiPaused)).toBe(true);
    const times = arrivals();
    const probes = times.slice(1);
    expect(probes.length).toBeGreaterThanOrEqual(2);
    expect(probes.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(PROBE_MS - 100);
    expect(faults.counts.unauthorized - rejectedBefore).toBe(times.length);

    // The key is fixed: the next probe succeeds, the pause ends for both, and calls flow again.
    faults.restoreKey();
    await eventually('a probe to succeed', async () => (await Promise.all([a.research(), b.research()])).includes('ok'), 3 * PROBE_MS);
    await statusWhen('ok');
    await eventually('both processes to see the pause end', async () => (await Promise.all([a.research(), b.research()])).every((outcome) => outcome === 'ok'));
    const messages = [...a.log.entries, ...b.log.entries].map((entry) => entry.message);
    expect(messages).toContain('API paused until a probe call succeeds');
    expect(messages).toContain('API answers again: pause ended');
  });
});

describe('an unknown model (404)', () => {
  it('pauses the API with the reason, gives the gate one probe message per interval, and resumes once the model is fixed', async () => {
    const [a, b] = [await startProcess(), await startProcess()];
    faults.retireModel('responses');
    expect(await a.research()).toMatchObject({ name: 'ApiPaused', failure: 'unknown_model', status: 404 });
    const shown = await statusWhen('paused');
    expect(shown).toMatchObject({ reason: UNKNOWN_MODEL_REASON });
    await eventually('process b to see the pause', () => seesPause(b));

    // The gate stays shut until the probe is due, then lets one message through; that message's
    // call is the probe, though the shared probe time has moved on, and another process's is not.
    const gate = a.apis.get('research').gate;
    expect(await gate.wait(AbortSignal.timeout(5_000))).toBe(1);
    expect(Date.now() - Date.parse(shown.since ?? '')).toBeGreaterThanOrEqual(PROBE_MS - 20);
    const before = sandbox.stats.requests.responses;
    expect(await a.research()).toMatchObject({ failure: 'unknown_model' });
    expect(sandbox.stats.requests.responses).toBe(before + 1);
    expect(await b.research()).toBeInstanceOf(ApiPaused);
    expect(await a.research()).toBeInstanceOf(ApiPaused);
    expect(sandbox.stats.requests.responses).toBe(before + 1);
    await expect(gate.wait(AbortSignal.timeout(100))).rejects.toThrow();

    // The model is fixed but the key is now rejected: the next probe changes the reason shown.
    faults.restoreModel();
    const rejectedBefore = faults.counts.unauthorized;
    faults.rejectKey();
    await eventually('a probe to meet the rejected key', async () => {
      await Promise.all([a.research(), b.research()]);
      return faults.counts.unauthorized > rejectedBefore;
    }, 3 * PROBE_MS);
    expect(await statusWhen('paused', UNAUTHORIZED_REASON)).toMatchObject({ api: 'research' });

    faults.restoreKey();
    await eventually('a probe to succeed', async () => (await Promise.all([a.research(), b.research()])).includes('ok'), 3 * PROBE_MS);
    await statusWhen('ok');
    expect(await gate.wait(AbortSignal.timeout(5_000))).toBe(Infinity);
  });
});
