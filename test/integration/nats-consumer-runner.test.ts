import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LeadExtracted } from '../../domain/campaigns/events.ts';
import {
  PermanentFailure,
  RetryLater,
  type ConsumerSettings,
  type EventHandler,
  type HandlerContext,
} from '../../ports/event-consumer.port.ts';
import { OutsideApiError } from '../../ports/outside-api.port.ts';
import { startConsumers, type RunningConsumers } from '../../adapters/nats/consumer-runner.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames, type TestNames } from '../support/nats.ts';
import { declareConsumer } from '../../ports/event-consumer.port.ts';

const CONSUMER = 'research';
const fast: ConsumerSettings = { ackWaitMs: 5_000, maxDeliver: 3, backoffMs: [100, 300], maxAckPending: 20 };

interface Delivery {
  readonly leadId: string;
  readonly deliveryCount: number;
  readonly at: number;
}

/** A handler that records its deliveries and does what `behave` says. */
function recordingHandler(behave: (event: LeadExtracted, context: HandlerContext) => Promise<void> | void) {
  const deliveries: Delivery[] = [];
  const givenUp: { leadId: string; reason: string; deliveryCount: number }[] = [];
  const handler: EventHandler<'lead.extracted'> = {
    async handle(event, context) {
      deliveries.push({ leadId: event.lead_id, deliveryCount: context.deliveryCount, at: Date.now() });
      await behave(event, context);
    },
    giveUp(event, reason, context) {
      givenUp.push({ leadId: event.lead_id, reason, deliveryCount: context.deliveryCount });
      return Promise.resolve();
    },
  };
  return { handler, deliveries, givenUp };
}

let nc: NatsConnection;
let jsm: JetStreamManager;
let names: TestNames;
let runners: RunningConsumers[] = [];
let log: RecordingLog;

beforeAll(async () => {
  nc = await connectTestNats();
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  await Promise.all(runners.map((runner) => runner.stop()));
  runners = [];
  await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName));
});

afterAll(async () => {
  await nc.close();
});

async function run(
  handler: EventHandler<'lead.extracted'>,
  settings: ConsumerSettings = fast,
  options: { concurrency?: number; stopGraceMs?: number; declared?: { concurrency: number } } = {},
) {
  names = testNames();
  log = new RecordingLog();
  const { declared, ...runnerOptions } = options;
  const declaration = declareConsumer<'lead.extracted'>({ name: CONSUMER, events: ['lead.extracted'], settings, handler, ...declared });
  const topology = { streamName: names.streamName, prefix: names.prefix };
  await provisionTopology(nc, { ...topology, consumers: [declaration] });
  const start = () => startConsumers(nc, { ...topology, declarations: [declaration], logger: log, ...runnerOptions }).then((runner) => {
    runners.push(runner);
    return runner;
  });
  const runner = await start();
  const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
  const publishLead = async (): Promise<LeadExtracted> => {
    const event: LeadExtracted = { type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() };
    await publisher.publish(event);
    return event;
  };
  return { runner, start, publishLead };
}

async function consumerInfo() {
  return jsm.consumers.info(names.streamName, CONSUMER);
}

async function settledConsumer(): Promise<void> {
  await eventually('the consumer to have nothing pending', async () => {
    const info = await consumerInfo();
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}

describe('startConsumers', () => {
  it('acks what the handler handled, with a logger that carries the trace, consumer, run and lead ids', async () => {
    const { handler, deliveries } = recordingHandler((_event, context) => {
      context.log.info({}, 'handled');
    });
    const { publishLead } = await run(handler);
    const events = [await publishLead(), await publishLead(), await publishLead()];

    await eventually('three deliveries', () => deliveries.length === 3);
    await settledConsumer();
    expect(deliveries.map((delivery) => delivery.leadId).sort()).toEqual(events.map((event) => event.lead_id).sort());
    expect(deliveries.every((delivery) => delivery.deliveryCount === 1)).toBe(true);

    const handled = log.entries.filter((entry) => entry.message === 'handled');
    expect(handled).toHaveLength(3);
    for (const entry of handled) {
      expect(entry.fields.consumer).toBe(CONSUMER);
      expect(String(entry.fields.trace_id)).toMatch(/^[0-9a-f]{32}$/);
      const event = events.find((candidate) => candidate.lead_id === entry.fields.lead_id);
      expect(entry.fields.run_id).toBe(event?.run_id);
    }
  });

  it('redelivers a failing message with the backoff, then gives up exactly once on the last delivery', async () => {
    const { handler, deliveries, givenUp } = recordingHandler(() => {
      throw new Error('provider unavailable (HTTP 503)');
    });
    const { publishLead } = await run(handler);
    const event = await publishLead();

    await eventually('giveUp', () => givenUp.length === 1);
    expect(deliveries.map((delivery) => delivery.deliveryCount)).toEqual([1, 2, 3]);
    const [first, second, third] = deliveries.map((delivery) => delivery.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(90);
    expect(third - second).toBeGreaterThanOrEqual(290);
    expect(givenUp).toEqual([{ leadId: event.lead_id, reason: 'provider unavailable (HTTP 503)', deliveryCount: 3 }]);

    await settledConsumer();
    await sleep(400);
    expect(deliveries).toHaveLength(3);
    expect(givenUp).toHaveLength(1);
    const retries = log.entries.filter((entry) => entry.message === 'handler failed: will retry');
    expect(retries.map((entry) => entry.fields.retry_in_ms)).toEqual([100, 300]);
  });

  it('gives up at once on a PermanentFailure or a rejected provider call, without redelivery', async () => {
    let calls = 0;
    const { handler, deliveries, givenUp } = recordingHandler(() => {
      calls += 1;
      throw calls === 1 ? new PermanentFailure('lead has no company') : new OutsideApiError('research', 'rejected', 'HTTP 400');
    });
    const { publishLead } = await run(handler);
    await publishLead();
    await publishLead();

    await eventually('two giveUps', () => givenUp.length === 2);
    await settledConsumer();
    await sleep(300);
    expect(deliveries).toHaveLength(2);
    expect(givenUp.map((entry) => entry.reason).sort()).toEqual(['HTTP 400', 'lead has no company']);
    expect(givenUp.every((entry) => entry.deliveryCount === 1)).toBe(true);
  });

  it("redelivers after a RetryLater's or a rate-limited provider's own delay", async () => {
    let calls = 0;
    const { handler, deliveries, givenUp } = recordingHandler(() => {
      calls += 1;
      if (calls === 1) throw new RetryLater('slow down', 150);
      if (calls === 2) throw new OutsideApiError('personalization', 'rate_limited', 'HTTP 429', { retryAfterMs: 250 });
    });
    // The backoff alone would wait 10 s: the errors' delays win.
    const { publishLead } = await run(handler, { ...fast, backoffMs: [10_000] });
    await publishLead();

    await eventually('three deliveries', () => deliveries.length === 3);
    await settledConsumer();
    const [first, second, third] = deliveries.map((delivery) => delivery.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(140);
    expect(third - second).toBeGreaterThanOrEqual(240);
    expect(third - first).toBeLessThan(3_000);
    expect(givenUp).toHaveLength(0);
  });

  it('retries a giveUp that failed', async () => {
    let giveUps = 0;
    const deliveries: number[] = [];
    const handler: EventHandler<'lead.extracted'> = {
      handle(_event, context) {
        deliveries.push(context.deliveryCount);
        return Promise.reject(new PermanentFailure('invalid lead'));
      },
      giveUp() {
        giveUps += 1;
        return giveUps === 1 ? Promise.reject(new Error('database unavailable')) : Promise.resolve();
      },
    };
    const { publishLead } = await run(handler);
    await publishLead();

    await eventually('a second giveUp', () => giveUps === 2);
    await settledConsumer();
    expect(deliveries).toEqual([1, 2]);
  });

  it('terminates and dead-letters an undecodable message, never handing it to the handler', async () => {
    const { handler, deliveries } = recordingHandler(() => {});
    await run(handler, { ...fast, ackWaitMs: 1_000 });
    const subject = `${names.prefix}lead.v1.extracted`;
    const js = jetstream(nc);
    const garbage = new TextEncoder().encode('{"type":"lead.extracted","email":"jane@example.test"');
    const wrongShape = new TextEncoder().encode(JSON.stringify({ type: 'lead.extracted', run_id: 'x', lead_id: randomUUID() }));
    const first = await js.publish(subject, garbage);
    await js.publish(subject, wrongShape);

    const deadLetterStream = deadLetterStreamName(names.streamName);
    await eventually('two dead letters', async () => (await jsm.streams.info(deadLetterStream)).state.messages === 2);
    await settledConsumer();
    // Past ack_wait: a message that was not terminated would be back by now.
    await sleep(1_300);
    expect(deliveries).toHaveLength(0);
    const info = await consumerInfo();
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);

    const deadLetter = await jsm.streams.getMessage(deadLetterStream, { seq: 1 });
    expect(deadLetter?.subject).toBe(`${names.prefix}deadletter.v1.${CONSUMER}`);
    expect(deadLetter?.data).toEqual(garbage);
    expect(deadLetter?.header.get('Aga-Subject')).toBe(subject);
    expect(deadLetter?.header.get('Aga-Stream-Sequence')).toBe(String(first.seq));
    expect(deadLetter?.header.get('Aga-Reason')).toBe('payload is not UTF-8 JSON');

    const errors = log.entries.filter((entry) => entry.level === 'error');
    expect(errors).toHaveLength(2);
    expect(errors[0]?.fields).toMatchObject({ consumer: CONSUMER, subject, stream_seq: first.seq });
    expect(JSON.stringify(log.entries)).not.toContain('jane@example.test');
  });

  it('keeps a message while a handler runs longer than ack_wait (working heartbeats)', async () => {
    const { handler, deliveries } = recordingHandler(() => sleep(2_500));
    const { publishLead } = await run(handler, { ...fast, ackWaitMs: 1_000 });
    await publishLead();

    await eventually('the delivery', () => deliveries.length === 1);
    await eventually('the ack', async () => (await consumerInfo()).num_ack_pending === 0, 5_000);
    expect(deliveries).toHaveLength(1);
    expect((await consumerInfo()).num_redelivered).toBe(0);
  });

  /** A handler that takes `ms` per message and remembers the most it ran at once. */
  function slowHandler(ms: number) {
    let running = 0;
    let most = 0;
    const recorded = recordingHandler(async () => {
      running += 1;
      most = Math.max(most, running);
      await sleep(ms);
      running -= 1;
    });
    return { ...recorded, most: () => most };
  }

  it('runs handlers concurrently, never more than the per-process limit', async () => {
    const { handler, deliveries, most } = slowHandler(100);
    const { publishLead } = await run(handler, fast, { concurrency: 3 });
    for (let index = 0; index < 9; index += 1) await publishLead();

    await eventually('nine deliveries', () => deliveries.length === 9);
    await settledConsumer();
    expect(most()).toBe(3);
  });

  it("takes a declaration's own concurrency over the runner's, still capped by maxAckPending", async () => {
    const { handler, deliveries, most } = slowHandler(150);
    // A provider consumer: more handlers than the runner's default for the other consumers.
    const { publishLead } = await run(handler, { ...fast, maxAckPending: 7 }, { concurrency: 2, declared: { concurrency: 50 } });
    for (let index = 0; index < 14; index += 1) await publishLead();

    await eventually('fourteen deliveries', () => deliveries.length === 14);
    await settledConsumer();
    expect(most()).toBe(7);
  });

  it('refuses to start a consumer that was not provisioned', async () => {
    names = testNames();
    const { handler } = recordingHandler(() => {});
    const declaration = declareConsumer<'lead.extracted'>({ name: CONSUMER, events: ['lead.extracted'], settings: fast, handler });
    await expect(
      startConsumers(nc, { ...names, declarations: [declaration], logger: new RecordingLog() }),
    ).rejects.toThrow(`consumer ${CONSUMER} on stream ${names.streamName} is missing: provision the topology first`);
  });

  it('stop() waits for the handlers in flight and acks them', async () => {
    let finished = false;
    const { handler, deliveries } = recordingHandler(async () => {
      await sleep(400);
      finished = true;
    });
    const { runner, publishLead } = await run(handler);
    await publishLead();
    await eventually('the delivery', () => deliveries.length === 1);

    await runner.stop();
    expect(finished).toBe(true);
    await settledConsumer();
  });

  it('stop() aborts a handler past the grace period and releases its message for immediate redelivery', async () => {
    const signals: AbortSignal[] = [];
    const { handler, deliveries } = recordingHandler(
      (_event, context) =>
        new Promise<void>((resolve, reject) => {
          signals.push(context.signal);
          // The first delivery hangs until aborted; the redelivery completes.
          if (signals.length > 1) resolve();
          context.signal.addEventListener('abort', () => reject(context.signal.reason as Error));
        }),
    );
    const { runner, start, publishLead } = await run(handler, { ...fast, ackWaitMs: 30_000 }, { stopGraceMs: 200 });
    const event = await publishLead();
    await eventually('the delivery', () => deliveries.length === 1);

    const stopping = Date.now();
    await runner.stop();
    expect(Date.now() - stopping).toBeLessThan(1_500);
    expect(signals[0]?.aborted).toBe(true);

    // Redelivered at once, long before the 30 s ack_wait.
    await start();
    await eventually('the redelivery', () => deliveries.length === 2, 3_000);
    expect(deliveries[1]?.leadId).toBe(event.lead_id);
    await settledConsumer();
  });
});
