/**
 * An outside API's pushback end to end: the real consumer runner on a real JetStream stream, a
 * handler that calls the resilient research provider, the sandbox failing over real HTTP, the
 * shared state on real NATS KV.
 *
 * Out of credit (402): the first 402 pauses the provider; the gate then lets through one message
 * per probe interval (no stampede of redeliveries); a message whose last delivery meets the pause
 * is requeued, never given up; the edge's status reader says "paused: provider out of credit";
 * the first successful probe ends the pause and the rest of the work flows.
 *
 * An outage (5xx): the breaker opens, the gate shuts until each trial, the failures that opened
 * the circuit or failed a trial spend no lead's last delivery, and the edge shows circuit_open.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { LeadExtracted } from '../../domain/campaigns/events.ts';
import { startConsumers, type RunningConsumers } from '../../adapters/nats/runner/index.ts';
import { NatsRateBudget } from '../../adapters/nats/api-budget.ts';
import { NatsApiStatusReader, NatsPauseBoard } from '../../adapters/nats/api-status.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import type { BreakerSettings } from '../../adapters/outside-api/breaker.ts';
import { ResilientApi } from '../../adapters/outside-api/resilient-api.ts';
import { PROVIDER_APIS } from '../../adapters/providers/apis.ts';
import { PerplexityResearchProvider } from '../../adapters/providers/perplexity-research.ts';
import { ResilientResearchProvider } from '../../adapters/providers/resilient.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import type { RunnableConsumer } from '../../ports/event-consumer.port.ts';
import { apiFailureVerdict, type ApiStatus } from '../../ports/outside-api.port.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames, type TestNames } from '../support/nats.ts';
import { startTestSandbox, testLead } from '../support/sandbox.ts';

const PROBE_MS = 400;
const REQUEUED = 'outside API pushed back on the last delivery: message requeued, not given up';
const PAUSED = 'API paused until a probe call succeeds';
const RESUMED = 'API answers again: pause ended';
const RETRIED = 'outside API pushed back: will retry, never giving up for it';

let sandbox: Sandbox;
let nc: NatsConnection;
let edge: NatsConnection;
let names: TestNames;
let stops: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  sandbox = await startTestSandbox();
  nc = await connectTestNats();
  edge = await connectTestNats();
});

afterAll(async () => {
  await edge.close();
  await nc.close();
  await sandbox.close();
});

beforeEach(() => {
  names = testNames();
  sandbox.reset();
});

afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
  await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName), `KV_${names.bucket}`);
});

/**
 * A research worker: the resilient provider over the sandbox, a handler that calls it, and the
 * real runner pulling a real stream through the provider's gate. Two deliveries only, so that
 * without the pushback rule a lead would be failed by its second refusal.
 */
async function startWorker(breakerSettings: Partial<BreakerSettings> = {}) {
  const log = new RecordingLog();
  const board = await NatsPauseBoard.open(nc, { bucket: names.bucket, apis: PROVIDER_APIS, log });
  const budget = await NatsRateBudget.open(nc, { bucket: names.bucket, apis: PROVIDER_APIS, log });
  const resilience = new ResilientApi({ spec: { name: 'research', timeoutMs: 5_000, breaker: breakerSettings, probeIntervalMs: PROBE_MS }, board, budget, log });
  const provider = new ResilientResearchProvider(new PerplexityResearchProvider({ apiKey: 'sk-test', baseURL: sandbox.url, timeoutMs: 5_000 }), resilience);
  stops.push(() => {
    resilience.close();
    board.close();
    budget.close();
  });

  const researched: string[] = [];
  const givenUp: string[] = [];
  // As the kernel builds a consumer that calls the research API: its gate, its classification.
  const consumer: RunnableConsumer = {
    name: 'research',
    events: ['lead.extracted'],
    settings: { ackWaitMs: 5_000, maxDeliver: 2, backoffMs: [100], maxAckPending: 20, maxHandlerMs: 30_000, concurrency: 4 },
    async handle(event, context) {
      await provider.research({ lead: testLead() }, context.signal);
      if ('lead_id' in event) researched.push(event.lead_id);
    },
    giveUp(event) {
      if ('lead_id' in event) givenUp.push(event.lead_id);
      return Promise.resolve();
    },
    classify: apiFailureVerdict,
    gate: resilience.gate,
  };
  const topology = { streamName: names.streamName, prefix: names.prefix };
  await provisionTopology(nc, { ...topology, consumers: [consumer] });
  const runner: RunningConsumers = await startConsumers(nc, { ...topology, consumers: [consumer], logger: log });
  stops.push(() => runner.stop());

  const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
  const publishLeads = async (count: number): Promise<LeadExtracted[]> => {
    const events: LeadExtracted[] = Array.from({ length: count }, () => ({ type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() }));
    for (const event of events) expect(await publisher.publishAll([{ event, trace: null }])).toEqual([{ ok: true }]);
    return events;
  };
  const messages = () => log.entries.map((entry) => entry.message);
  return { researched, givenUp, publishLeads, messages };
}

/** The edge's view, polled until the research provider shows `state`. */
async function statusWhen(state: ApiStatus['state']): Promise<ApiStatus[]> {
  const reader = await NatsApiStatusReader.open(edge, { bucket: names.bucket, apis: PROVIDER_APIS });
  let shown: ApiStatus[] = [];
  await eventually(`the edge to show research ${state}`, async () => {
    shown = await reader.current();
    return shown[0]?.state === state;
  });
  return shown;
}

async function drained(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await eventually('nothing left to deliver', async () => {
    const info = await jsm.consumers.info(names.streamName, 'research');
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}

describe('a provider out of credit (402)', () => {
  it('pauses every consumer of it, probes one message at a time, fails no lead, and resumes', async () => {
    // The account runs dry for the four first calls and the next two probes.
    sandbox.failNext(402, 6, { endpoint: 'responses' });
    const worker = await startWorker();
    const events = await worker.publishLeads(4);

    const shown = await statusWhen('paused');
    expect(shown[0]).toMatchObject({ api: 'research', state: 'paused', reason: 'provider out of credit' });
    expect(Date.parse(shown[0]?.since ?? '')).toBeLessThanOrEqual(Date.now());
    expect(shown[1]).toEqual({ api: 'personalization', state: 'ok', reason: null, since: null, rpm: null, pacedUntil: null, heldUntil: null });

    // Four calls at once, then one probe per interval: two more 402s, then the success that resumes.
    await expectEveryLeadResearchedWithSpacedProbes(worker, events);

    const messages = worker.messages();
    const requeued = messages.filter((message) => message === REQUEUED).length;
    expect(requeued).toBeGreaterThanOrEqual(1);
    // Each of the six 402s pushed its message back (the calls themselves are counted above: ten in
    // all). A delivery that meets the pause without a call is pushed back too, and how many do
    // depends on timing, so the count is at least six.
    expect(messages.filter((message) => message === RETRIED).length + requeued).toBeGreaterThanOrEqual(6);
    expect(messages).toContain(PAUSED);
    expect(messages).toContain(RESUMED);

    await statusWhen('ok');
    await drained();
  });
});

/**
 * Every lead ends researched, none given up; of the ten calls the sandbox saw, the first four came
 * at once and the next three (the probes or trials) at least one probe interval apart.
 */
async function expectEveryLeadResearchedWithSpacedProbes(
  worker: Awaited<ReturnType<typeof startWorker>>,
  events: readonly { readonly lead_id: string }[],
): Promise<void> {
  await eventually('every lead settled', () => worker.researched.length + worker.givenUp.length === 4, 10_000);
  expect(worker.givenUp).toEqual([]);
  expect(new Set(worker.researched)).toEqual(new Set(events.map((event) => event.lead_id)));

  const arrivals = sandbox.stats.lastRequests.map((request) => request.receivedAt.getTime());
  expect(arrivals).toHaveLength(10);
  const [, , , fourth, fifth, sixth, seventh] = arrivals;
  for (const [before, after] of [
    [fourth, fifth],
    [fifth, sixth],
    [sixth, seventh],
  ]) {
    expect(after! - before!).toBeGreaterThanOrEqual(PROBE_MS - 100);
  }
}

describe('a provider outage (5xx)', () => {
  it('stops pulling while the circuit is open, spends no last delivery on it, and resumes after a good trial', async () => {
    // Four failures open the circuit; two trials fail; the third succeeds.
    sandbox.failNext(500, 6, { endpoint: 'responses' });
    const worker = await startWorker({ volumeThreshold: 4, resetTimeoutMs: PROBE_MS });
    const events = await worker.publishLeads(4);

    const shown = await statusWhen('circuit_open');
    expect(shown[0]).toMatchObject({ api: 'research', state: 'circuit_open', reason: 'provider unavailable' });

    // The trials come one reset timeout apart, one message each, not the redeliveries all at once.
    await expectEveryLeadResearchedWithSpacedProbes(worker, events);
    expect(worker.messages()).toContain('circuit closed: API answers again');

    await statusWhen('ok');
    await drained();
  });
});

describe('the shared pause record', () => {
  it('lets exactly one of several processes take each probe, and ends only the pause it saw', async () => {
    const processes = await Promise.all([connectTestNats(), connectTestNats(), connectTestNats()]);
    const boards = await Promise.all(processes.map((connection) => NatsPauseBoard.open(connection, { bucket: names.bucket, apis: PROVIDER_APIS, log: new RecordingLog() })));
    stops.push(async () => {
      for (const board of boards) board.close();
      await Promise.all(processes.map((connection) => connection.close()));
    });
    const [first, second, third] = boards as [NatsPauseBoard, NatsPauseBoard, NatsPauseBoard];

    await Promise.all(boards.map((board) => board.pause('personalization', { failure: 'out_of_credit', reason: 'provider out of credit' }, 0)));
    await eventually('every process to see the pause', () => boards.every((board) => board.pauseOf('personalization') !== undefined));
    const pauses = boards.map((board) => board.pauseOf('personalization'));
    // One record, whoever wrote first.
    expect(new Set(pauses.map((pause) => pause?.revision)).size).toBe(1);
    expect(first.pauseOf('research')).toBeUndefined();

    const claims = await Promise.all(boards.map((board, index) => board.claimProbe('personalization', pauses[index]!, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    await eventually('every process to see the next probe time', () =>
      boards.every((board) => (board.pauseOf('personalization')?.probeAt ?? 0) > Date.now() + 50_000),
    );

    // A stale copy of the record cannot end the pause; the current one can, for everyone.
    await second.resume('personalization', pauses[1]!);
    expect(second.pauseOf('personalization')).toBeDefined();
    await third.resume('personalization', third.pauseOf('personalization')!);
    await eventually('every process to see the pause end', () => boards.every((board) => board.pauseOf('personalization') === undefined));
  });
});
