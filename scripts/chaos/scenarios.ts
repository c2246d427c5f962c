/**
 * The chaos scenarios, one campaign run each (a fresh user and file, so its KPIs and billing are
 * its own): the run is submitted over HTTP, the fault is injected once the run is under way, and
 * the harness waits for the run to complete (or a deadline), watching three things all along:
 * the run's status over HTTP (`processed`, to see it move again), `/readyz` (to see whether it
 * told the truth), and, for the empty-store scenario, whether the service's stream exists again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type postgres from 'postgres';
import { SignJWT } from 'jose';
import type { FaultSettings } from '../../adapters/sandbox/faults.ts';
import type { PrivateNats, PrivatePostgres, SandboxProcess, ServiceProcess } from './infra.ts';
import { leadFile, type ChaosFile } from './leads.ts';
import { halfMade, readTruth, type Truth } from './truth.ts';

export const SCENARIOS = ['worker-kill', 'edge-kill', 'nats-restart', 'nats-empty', 'postgres-restart', 'provider-storm', 'credit-402', 'key-401'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Harness {
  readonly leads: number;
  readonly apiBase: string;
  readonly jwtSecret: string;
  readonly edge: ServiceProcess;
  readonly workers: readonly ServiceProcess[];
  readonly nats: PrivateNats;
  readonly postgres: PrivatePostgres;
  readonly sandbox: SandboxProcess;
  /** Ground truth: a pool on the private cluster's database. */
  readonly sql: postgres.Sql;
  /** The service's stream name (NATS_NAMESPACE's). */
  readonly streamName: string;
  readonly workDir: string;
  /** How long a provider fault lasts. */
  readonly faultMs: number;
  /** How long NATS or PostgreSQL stays down. */
  readonly downMs: number;
  /** A run's deadline, from its submission, before any scenario's own allowance. */
  readonly runTimeoutMs: number;
  /** The reconciler's lease plus interval: what the empty-store scenario may need on top. */
  readonly redriveMs: number;
  readonly signal: AbortSignal;
  log(line: string): void;
}

/** What `/readyz` should have said: always 200, or not 200 (503 for a dependency) inside windows. */
export type Readiness = 'always-up' | 'edge-down' | 'dependency-down' | 'stream-missing';

export interface Injected {
  /** When the fault began and ended (the dependency back, the provider answering again, the last kill's restart). */
  readonly faultStart: number;
  readonly faultEnd: number;
  readonly notes?: readonly string[];
}

interface ScenarioDef {
  readonly name: ScenarioName;
  readonly title: string;
  readonly readiness: Readiness;
  /** Extra time the run may take beyond runTimeoutMs. */
  extraTimeoutMs(h: Harness): number;
  /** Submits itself (the edge scenario) instead of the common submission. */
  readonly submitsItself?: boolean;
  inject(run: RunContext): Promise<Injected>;
}

export interface ScenarioResult {
  readonly name: ScenarioName;
  readonly title: string;
  readonly truth: Truth;
  readonly halfMade: number;
  /** Seconds from the fault's end to the run moving again, and to its completion (undefined: never). */
  readonly recoverS: number | undefined;
  readonly doneS: number | undefined;
  readonly readyz: { readonly truthful: boolean; readonly detail: string };
  readonly notes: readonly string[];
  /** Loss, double counting, drift or a half-made upload. */
  readonly failed: boolean;
}

export interface Sample {
  readonly at: number;
  readonly processed: number | undefined;
  readonly status: string | undefined;
}

export interface Probe {
  readonly at: number;
  /** 0: no answer (connection refused or timed out). */
  readonly code: number;
  readonly streamExists: boolean | undefined;
}

class RunContext {
  readonly h: Harness;
  readonly file: ChaosFile;
  readonly userId = randomUUID();
  runId: string | undefined;
  /** Rows a cut upload left behind (the edge scenario). */
  halfMadeRows = 0;
  readonly samples: Sample[] = [];
  readonly probes: Probe[] = [];
  #token: string | undefined;

  constructor(h: Harness, file: ChaosFile) {
    this.h = h;
    this.file = file;
  }

  async authorization(): Promise<string> {
    this.#token ??= await new SignJWT({ role: 'authenticated', session_id: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(this.userId)
      .setAudience('authenticated')
      .setIssuedAt()
      .setExpirationTime('6h')
      .sign(new TextEncoder().encode(this.h.jwtSecret));
    return `Bearer ${this.#token}`;
  }

  /** POST /api/campaigns/process with the whole file; the run id of the 202. */
  async submit(idempotencyKey?: string): Promise<string> {
    const response = await this.post(idempotencyKey);
    if (response.status !== 202) throw new Error(`POST /api/campaigns/process answered ${response.status}: ${await response.text()}`);
    this.runId = ((await response.json()) as { run_id: string }).run_id;
    return this.runId;
  }

  async post(idempotencyKey?: string): Promise<Response> {
    const form = new FormData();
    form.append('campaign_name', `chaos ${this.file.tag}`);
    form.append('csv_file', new Blob([this.file.csv], { type: 'text/csv' }), `${this.file.tag}.csv`);
    const headers: Record<string, string> = { authorization: await this.authorization() };
    if (idempotencyKey !== undefined) headers['idempotency-key'] = `"${idempotencyKey}"`;
    return fetch(`${this.h.apiBase}/api/campaigns/process`, { method: 'POST', headers, body: form });
  }

  latest(): Sample | undefined {
    for (let index = this.samples.length - 1; index >= 0; index -= 1) if (this.samples[index]!.processed !== undefined) return this.samples[index];
    return undefined;
  }

  /** Waits until `fraction` of the file's leads were processed (or the run ended); false if it never got there. */
  async progressed(fraction: number, timeoutMs = 180_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.h.signal.throwIfAborted();
      const latest = this.latest();
      if (latest !== undefined && (latest.status === 'completed' || latest.status === 'failed')) return false;
      if (latest?.processed !== undefined && latest.processed >= fraction * this.file.leads) return true;
      if (Date.now() > deadline) return false;
      await sleep(100);
    }
  }
}

const GRACE_MS = 3_000;
const SETTLE_MS = 20_000;

export async function runScenario(h: Harness, def: ScenarioDef, index: number): Promise<ScenarioResult> {
  const file = leadFile(`s${index + 1}-${def.name}`, h.leads);
  const run = new RunContext(h, file);
  const notes: string[] = [];
  await h.sandbox.setFaults({});

  const scenarioStart = Date.now();
  const watching = new AbortController();
  const watchers = [watchStatus(run, watching.signal), watchReadiness(run, def.readiness === 'stream-missing', watching.signal)];
  let injected: Injected | undefined;
  let completedAt: number | undefined;
  try {
    if (!def.submitsItself) await run.submit();
    h.log(`  submitted ${file.leads} leads${run.runId === undefined ? '' : ` as run ${run.runId}`}`);
    injected = await def.inject(run);
    notes.push(...(injected.notes ?? []));
    if (run.runId !== undefined) {
      const deadline = Date.now() + h.runTimeoutMs + def.extraTimeoutMs(h);
      h.log(`  fault over; waiting for the run to complete (up to ${Math.round((deadline - Date.now()) / 1000)} s)`);
      while (Date.now() < deadline) {
        h.signal.throwIfAborted();
        const latest = run.latest();
        if (latest?.status === 'completed' || latest?.status === 'failed') {
          completedAt = latest.at;
          break;
        }
        await sleep(250);
      }
      if (completedAt === undefined) notes.push(`run still ${run.latest()?.status ?? 'unknown'} at the deadline`);
      // Watch /readyz on past the settling time after the down window (the run may end first), then stop.
      const watchedUntil = Date.now() + SETTLE_MS + 15_000;
      await sleep(1_000, undefined, { signal: h.signal });
      const fault = injected;
      while (Date.now() < Math.min(watchedUntil, downWindowEnd(run.probes, def.readiness, fault) + SETTLE_MS + 2_000)) {
        await sleep(500, undefined, { signal: h.signal });
      }
    }
  } catch (error) {
    if (h.signal.aborted) throw error;
    notes.push(`scenario error: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const service of [h.edge, ...h.workers]) {
      const crashed = service.crashes.filter((crash) => crash.at >= scenarioStart);
      if (crashed.length === 0) continue;
      const kinds = new Map<string, number>();
      for (const crash of crashed) kinds.set(crash.description, (kinds.get(crash.description) ?? 0) + 1);
      notes.push(`CRASH: ${service.name} ${[...kinds].map(([description, count]) => (count === 1 ? description : `${description} ×${count}`)).join(', ')} (restarted each time; see its log)`);
    }
    watching.abort();
    await Promise.allSettled(watchers);
    await h.sandbox.setFaults({}).catch(() => undefined);
  }

  const billing = await h.sandbox.billing(`${file.companyPrefix}`);
  const truth = await readTruth(h.sql, { userId: run.userId, runId: run.runId, fileLeads: file.leads, billing });
  // After the retry, the user owns one campaign, one run and the file's leads: anything more was left by the cut upload.
  const afterRetry = def.name === 'edge-kill' && run.runId !== undefined ? (await halfMade(h.sql, run.userId)) - 2 - file.leads : 0;
  const leftovers = Math.max(run.halfMadeRows, afterRetry);
  const faultEnd = injected?.faultEnd;
  if (faultEnd !== undefined && completedAt !== undefined && completedAt < faultEnd) notes.push('the run completed before the fault ended: use more leads');
  const recoverS = faultEnd === undefined ? undefined : movedAgain(run.samples, faultEnd);
  const doneS = faultEnd === undefined || completedAt === undefined ? undefined : Math.max(0, (completedAt - faultEnd) / 1000);
  const readyz = injected === undefined ? { truthful: false, detail: 'no fault injected' } : judgeReadiness(run.probes, def.readiness, injected);
  if (truth.failed > 0) notes.push(`${truth.failed} leads failed`);
  if (truth.needsReview > 0) notes.push(`${truth.needsReview} leads need review`);
  if (truth.extraPaid.malformed > 0) notes.push(`${truth.extraPaid.malformed} malformed answers billed`);
  const drift = truth.drift.leads !== 0 || truth.drift.hoursCents !== 0 || truth.drift.moneyCents !== 0;
  return {
    name: def.name,
    title: def.title,
    truth,
    halfMade: Math.max(0, leftovers),
    recoverS,
    doneS,
    readyz,
    notes,
    failed: truth.lost > 0 || truth.countedTwice > 0 || drift || leftovers > 0,
  };
}

/** Seconds from `faultEnd` to the first sample after it where `processed` grew (or the run ended). */
export function movedAgain(samples: readonly Sample[], faultEnd: number): number | undefined {
  const before = [...samples].reverse().find((sample) => sample.at <= faultEnd && sample.processed !== undefined);
  const baseline = before?.processed ?? 0;
  if (before?.status === 'completed') return 0;
  const moved = samples.find(
    (sample) => sample.at > faultEnd && sample.processed !== undefined && (sample.processed > baseline || sample.status === 'completed'),
  );
  return moved === undefined ? undefined : (moved.at - faultEnd) / 1000;
}

/**
 * Whether /readyz told the truth. Inside a down window (after a grace for the check to notice)
 * it must not answer 200, and for a dependency it must answer (503, not die); from SETTLE_MS
 * after the window to the run's end it must answer 200. For the empty store, the window runs on
 * until the stream exists again.
 */
/**
 * When the dependency /readyz speaks for was back, as far as the probes show: the fault's end for
 * NATS and PostgreSQL, the first 200 of a restarted edge (it is not ready while it starts), the
 * first probe that found the stream again after an empty store (infinity while it has not).
 */
export function downWindowEnd(probes: readonly Probe[], readiness: Readiness, injected: Injected): number {
  if (readiness === 'always-up') return injected.faultStart;
  if (readiness === 'edge-down') return probes.find((probe) => probe.at >= injected.faultEnd && probe.code === 200)?.at ?? Number.POSITIVE_INFINITY;
  if (readiness === 'stream-missing') return probes.find((probe) => probe.at > injected.faultEnd && probe.streamExists === true)?.at ?? Number.POSITIVE_INFINITY;
  return injected.faultEnd;
}

export function judgeReadiness(probes: readonly Probe[], readiness: Readiness, injected: Injected): { truthful: boolean; detail: string } {
  if (probes.length === 0) return { truthful: false, detail: 'no probes' };
  const downEnd = downWindowEnd(probes, readiness, injected);
  const streamNote =
    readiness !== 'stream-missing' ? '' : downEnd === Number.POSITIVE_INFINITY ? '; stream never re-created' : `; stream back after ${((downEnd - injected.faultEnd) / 1000).toFixed(0)} s`;
  // The edge's death shows at once (no answer; the grace covers a probe answered as it was killed),
  // and it is back when /readyz first answers 200.
  const grace = readiness === 'edge-down' ? 500 : GRACE_MS;
  const settle = readiness === 'edge-down' ? 0 : SETTLE_MS;
  let okWhileDown = 0;
  let deadWhileDown = 0;
  let downProbes = 0;
  let notOkAfter = 0;
  let afterProbes = 0;
  for (const probe of probes) {
    if (readiness !== 'always-up' && probe.at >= injected.faultStart + grace && probe.at < downEnd) {
      downProbes += 1;
      if (probe.code === 200) okWhileDown += 1;
      if (probe.code === 0 && readiness !== 'edge-down') deadWhileDown += 1;
    } else if (readiness === 'always-up' || probe.at >= downEnd + settle) {
      afterProbes += 1;
      if (probe.code !== 200) notOkAfter += 1;
    }
  }
  const truthful = okWhileDown === 0 && notOkAfter === 0 && deadWhileDown === 0 && (readiness === 'always-up' || afterProbes > 0 || downEnd === Number.POSITIVE_INFINITY);
  const parts = [];
  if (readiness !== 'always-up') parts.push(`${downProbes - okWhileDown}/${downProbes} not-ready while down`);
  if (deadWhileDown > 0) parts.push(`${deadWhileDown} no answer (edge died?)`);
  parts.push(`${afterProbes - notOkAfter}/${afterProbes} ready ${readiness === 'always-up' ? 'throughout' : 'after'}`);
  return { truthful, detail: parts.join(', ') + streamNote };
}

async function watchStatus(run: RunContext, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    if (run.runId !== undefined) {
      try {
        const response = await fetch(`${run.h.apiBase}/api/campaigns/status/${run.runId}`, {
          headers: { authorization: await run.authorization() },
          signal: AbortSignal.timeout(3_000),
        });
        const body = response.ok ? ((await response.json()) as { status: string; processed: number }) : undefined;
        run.samples.push({ at: Date.now(), processed: body?.processed, status: body?.status });
      } catch {
        run.samples.push({ at: Date.now(), processed: undefined, status: undefined });
      }
    }
    await sleep(500, undefined, { signal }).catch(() => undefined);
  }
}

async function watchReadiness(run: RunContext, checkStream: boolean, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    // A load balancer gives up on a probe after a few seconds: a slower answer counts as none.
    const code = await fetch(`${run.h.apiBase}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
      (response) => response.status,
      () => 0,
    );
    // When the answer came: a 200 that arrives after the fault began is a 200 while down.
    const at = Date.now();
    const streamExists = checkStream ? await streamPresent(run.h) : undefined;
    run.probes.push({ at, code, streamExists });
    await sleep(500, undefined, { signal }).catch(() => undefined);
  }
}

async function streamPresent(h: Harness): Promise<boolean | undefined> {
  try {
    const nc = await connect({ servers: h.nats.url, reconnect: false, timeout: 1_000, name: 'aga-chaos-probe' });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 1_000 });
      await jsm.streams.info(h.streamName);
      return true;
    } catch {
      return false;
    } finally {
      await nc.close();
    }
  } catch {
    return undefined;
  }
}

// ── the scenarios ──────────────────────────────────────────────────────────────────────────

const providerFault = (name: ScenarioName, title: string, settings: FaultSettings): ScenarioDef => ({
  name,
  title,
  readiness: 'always-up',
  extraTimeoutMs: (h) => h.faultMs,
  async inject(run) {
    const notes = (await run.progressed(0.2)) ? [] : ['the run was over before the fault'];
    const faultStart = Date.now();
    await run.h.sandbox.setFaults(settings);
    run.h.log(`  provider fault ${JSON.stringify(settings)} for ${run.h.faultMs / 1000} s`);
    await sleep(run.h.faultMs, undefined, { signal: run.h.signal });
    await run.h.sandbox.setFaults({});
    return { faultStart, faultEnd: Date.now(), notes };
  },
});

async function edgeReady(h: Harness, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const code = await fetch(`${h.apiBase}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((response) => response.status, () => 0);
    if (code === 200) return;
    if (Date.now() > deadline) throw new Error(`the edge was not ready within ${timeoutMs / 1000} s (last /readyz: ${code})`);
    await sleep(250, undefined, { signal: h.signal });
  }
}

/** A multipart upload of the file whose body stops after `fraction` of the CSV until `release` settles, then errors. */
async function stalledUpload(run: RunContext, fraction: number, release: Promise<void>, idempotencyKey: string): Promise<Response> {
  const boundary = `chaos${randomUUID().replaceAll('-', '')}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="campaign_name"\r\n\r\nchaos ${run.file.tag}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="csv_file"; filename="${run.file.tag}.csv"\r\nContent-Type: text/csv\r\n\r\n`;
  const cut = Math.floor(run.file.csv.length * fraction);
  const encoder = new TextEncoder();
  let step = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      step += 1;
      if (step === 1) controller.enqueue(encoder.encode(head + run.file.csv.slice(0, cut)));
      else {
        await release;
        controller.error(new Error('the upload was cut off'));
      }
    },
  });
  return fetch(`${run.h.apiBase}/api/campaigns/process`, {
    method: 'POST',
    headers: { authorization: await run.authorization(), 'content-type': `multipart/form-data; boundary=${boundary}`, 'idempotency-key': `"${idempotencyKey}"` },
    body,
    duplex: 'half',
  });
}

async function downAndBack(run: RunContext, what: string, down: () => Promise<void>, up: () => Promise<void>): Promise<Injected> {
  const notes = (await run.progressed(0.3)) ? [] : ['the run was over before the fault'];
  const faultStart = Date.now();
  await down();
  run.h.log(`  ${what} down for ${run.h.downMs / 1000} s`);
  await sleep(run.h.downMs, undefined, { signal: run.h.signal });
  await up();
  run.h.log(`  ${what} back`);
  return { faultStart, faultEnd: Date.now(), notes };
}

export const SCENARIO_DEFS: Readonly<Record<ScenarioName, ScenarioDef>> = {
  'worker-kill': {
    name: 'worker-kill',
    title: 'SIGKILL a worker, 3 times in one run',
    readiness: 'always-up',
    extraTimeoutMs: () => 0,
    async inject(run) {
      const notes: string[] = [];
      let faultStart: number | undefined;
      let faultEnd = Date.now();
      for (const [kill, fraction] of [0.15, 0.4, 0.65].entries()) {
        if (!(await run.progressed(fraction))) {
          notes.push(`the run was over before kill ${kill + 1}`);
          break;
        }
        const worker = run.h.workers[kill % run.h.workers.length]!;
        faultStart ??= Date.now();
        await worker.kill();
        run.h.log(`  SIGKILL ${worker.name} at ${run.latest()?.processed ?? '?'} processed; restarting it`);
        worker.start();
        faultEnd = Date.now();
      }
      return { faultStart: faultStart ?? faultEnd, faultEnd, notes };
    },
  },

  'edge-kill': {
    name: 'edge-kill',
    title: 'SIGKILL the edge mid-upload, client retries',
    readiness: 'edge-down',
    submitsItself: true,
    extraTimeoutMs: () => 0,
    async inject(run) {
      const h = run.h;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      // A careful client: one Idempotency-Key for the submission, sent again with the retry.
      const key = randomUUID();
      const upload = stalledUpload(run, 0.4, released, key).then(
        (response) => `answered ${response.status}`,
        (error: unknown) => `failed (${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)})`,
      );
      // The edge has the first 40% of the file and is waiting for the rest.
      await sleep(1_500, undefined, { signal: h.signal });
      await h.edge.kill();
      const faultStart = Date.now();
      release();
      const outcome = await upload;
      h.log(`  SIGKILL the edge mid-upload: the client's upload ${outcome}`);
      const notes = [`interrupted upload ${outcome}`];
      const leftBehind = await halfMade(h.sql, run.userId);
      run.halfMadeRows = leftBehind;
      if (leftBehind > 0) notes.push(`HALF-MADE: ${leftBehind} campaign/run/lead rows left by the cut upload`);
      // The fault ends with the restart: from then on a 200 from /readyz is the truth.
      h.edge.start();
      const faultEnd = Date.now();
      await edgeReady(h);
      // As the API asks of a careful client: a 409 for a key still held by the dead request says
      // when to try again (Retry-After), and the same key then goes through.
      let retry = await run.post(key);
      for (let waits = 0; retry.status === 409 && waits < 2; waits += 1) {
        const after = Number(retry.headers.get('retry-after') ?? '30');
        await retry.body?.cancel();
        notes.push(`the retry with the same Idempotency-Key answered 409: waited Retry-After (${after} s) as asked`);
        await sleep(after * 1_000, undefined, { signal: h.signal });
        retry = await run.post(key);
      }
      if (retry.status === 202) run.runId = ((await retry.json()) as { run_id: string }).run_id;
      else {
        // The key of the dead request still held: the client cannot retry as it should. Go on with a new key to measure the rest.
        notes.push(`RETRY REFUSED: the retry with the same Idempotency-Key answered ${retry.status} (${(await retry.text()).slice(0, 160)}); retried with a new key`);
        await run.submit(randomUUID());
      }
      h.log(`  the edge is ready ${((Date.now() - faultEnd) / 1000).toFixed(1)} s after its restart; the retry was accepted as run ${run.runId}`);
      return { faultStart, faultEnd, notes };
    },
  },

  'nats-restart': {
    name: 'nats-restart',
    title: 'NATS restarted with its store',
    readiness: 'dependency-down',
    extraTimeoutMs: (h) => h.downMs,
    inject: (run) => downAndBack(run, 'NATS (SIGKILL)', () => run.h.nats.kill(), () => run.h.nats.start()),
  },

  'nats-empty': {
    name: 'nats-empty',
    title: 'NATS restarted with an EMPTY store',
    readiness: 'stream-missing',
    extraTimeoutMs: (h) => h.downMs + h.redriveMs + 60_000,
    inject: (run) =>
      downAndBack(
        run,
        'NATS (SIGKILL, store wiped)',
        async () => {
          await run.h.nats.kill();
          await run.h.nats.wipeStore();
        },
        () => run.h.nats.start(),
      ),
  },

  'postgres-restart': {
    name: 'postgres-restart',
    title: 'PostgreSQL restarted (immediate stop)',
    readiness: 'dependency-down',
    extraTimeoutMs: (h) => h.downMs,
    inject: (run) => downAndBack(run, 'PostgreSQL (pg_ctl stop -m immediate)', () => run.h.postgres.crash(), () => run.h.postgres.start()),
  },

  'provider-storm': providerFault('provider-storm', 'provider storm: 5xx, 429, timeouts, malformed', {
    errorRate: 0.2,
    timeoutRate: 0.05,
    malformedRate: 0.1,
    rpm: 600,
  }),
  'credit-402': providerFault('credit-402', '402 out of credit, then credit restored', { credit: 0 }),
  'key-401': providerFault('key-401', '401 key rejected, then the key fixed', { unauthorized: true }),
};
