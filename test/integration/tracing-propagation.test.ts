// One trace across processes: the span context travels from the committing code through the outbox
// row and the relay's publish into NATS headers, and from there to the consumer.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LeadExtracted } from '../../domain/campaigns/events.ts';
import { defaultVerdict, type ConsumerSettings, type RunnableConsumer } from '../../ports/event-consumer.port.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { startConsumers, type RunningConsumers } from '../../adapters/nats/runner/index.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import { createPostgresStores, type PostgresStores } from '../../adapters/postgres/stores/index.ts';
import { OtelTracing, withSpan } from '../../adapters/telemetry/tracing.ts';
import { OutboxRelay } from '../../src/app/kernel/outbox-relay.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames } from '../support/nats.ts';
import { startTestTelemetry, type TestTelemetry } from '../support/tracing.ts';

const names = testNames();
const settings: ConsumerSettings = { ackWaitMs: 5_000, maxDeliver: 2, backoffMs: [50], maxAckPending: 10, maxHandlerMs: 10_000, concurrency: 4 };
const extracted = `${names.prefix}lead.v1.extracted`;
const researched = `${names.prefix}lead.v1.researched`;

let telemetry: TestTelemetry;
let db: TestDatabase;
let stores: PostgresStores;
let nc: NatsConnection;
let runner: RunningConsumers;
let relay: OutboxRelay;
const log = new RecordingLog();
const personalized = new Set<string>();
const failing = new Set<string>();

beforeAll(async () => {
  telemetry = startTestTelemetry();
  db = await createTestDatabase({ migrate: true });
  stores = createPostgresStores(db.sql);
  nc = await connectTestNats();
  const research: RunnableConsumer = {
    name: 'research',
    events: ['lead.extracted'],
    settings,
    classify: defaultVerdict,
    async handle(event) {
      if (failing.has(event.run_id)) throw new Error('provider unavailable');
      // Committed in the consumer's span, as a handler's decision is.
      if (event.type === 'lead.extracted') await stores.uow.enqueue([{ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id }]);
    },
    async giveUp() {},
  };
  const personalize: RunnableConsumer = {
    name: 'personalize',
    events: ['lead.researched'],
    settings,
    classify: defaultVerdict,
    handle(event, context) {
      context.log.info({}, 'personalized');
      if ('lead_id' in event) personalized.add(event.lead_id);
      return Promise.resolve();
    },
    async giveUp() {},
  };
  const consumers = [research, personalize];
  await provisionTopology(nc, { streamName: names.streamName, prefix: names.prefix, consumers });
  runner = await startConsumers(nc, { streamName: names.streamName, prefix: names.prefix, consumers, logger: log });
  relay = new OutboxRelay({
    outbox: stores.outbox,
    publisher: new JetStreamEventPublisher(nc, { prefix: names.prefix }),
    subscriptions: { hasConsumer: () => Promise.resolve(true), backlog: () => Promise.resolve(null) },
    consumed: new Map(),
    log,
  });
  await relay.start();
});

beforeEach(() => {
  telemetry.exporter.reset();
});

afterAll(async () => {
  await relay.stop();
  await runner.stop();
  await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName));
  await nc.close();
  await db.drop();
  await telemetry.shutdown();
});

function lead(): LeadExtracted {
  return { type: 'lead.extracted', run_id: randomUUID(), lead_id: randomUUID() };
}

/** The one finished span called `name` that concerns the lead. */
function spanOf(name: string, leadId: string): ReadableSpan {
  const found = telemetry
    .spans(name)
    .filter((span) => {
      const { attributes } = span;
      return attributes['aga.lead_id'] === leadId || String(attributes['messaging.message.id']).endsWith(leadId);
    });
  expect(found, `${name} for lead ${leadId}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

function ids(span: ReadableSpan) {
  return { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
}

describe('trace context through the outbox and NATS', () => {
  it('makes each consumer span a child of the publish span it consumed, in the trace that committed the event', async () => {
    const event = lead();
    await withSpan('submit request', {}, () => stores.uow.enqueue([event]));
    await eventually('the lead to be personalized', () => personalized.has(event.lead_id));
    await eventually('the last consumer span', () => telemetry.spans(`personalize process ${researched}`).length > 0);

    const request = telemetry.spans('submit request')[0] as ReadableSpan;
    const publishExtracted = spanOf(`publish ${extracted}`, event.lead_id);
    const research = spanOf(`research process ${extracted}`, event.lead_id);
    const publishResearched = spanOf(`publish ${researched}`, event.lead_id);
    const personalize = spanOf(`personalize process ${researched}`, event.lead_id);

    const chain = [request, publishExtracted, research, publishResearched, personalize];
    for (const span of chain) expect(span.spanContext().traceId).toBe(ids(request).traceId);
    for (let index = 1; index < chain.length; index += 1) {
      expect(chain[index]?.parentSpanContext?.spanId).toBe(chain[index - 1]?.spanContext().spanId);
    }
    expect(publishExtracted.kind).toBe(SpanKind.PRODUCER);
    expect(research.kind).toBe(SpanKind.CONSUMER);
    expect(research.attributes).toMatchObject({ 'aga.run_id': event.run_id, 'messaging.consumer.group.name': 'research' });

    const logged = log.entries.find((entry) => entry.message === 'personalized' && entry.fields.lead_id === event.lead_id);
    expect(logged?.fields.trace_id).toBe(ids(request).traceId);
  });

  it('marks the consumer span of a failed delivery as an error', async () => {
    const event = lead();
    failing.add(event.run_id);
    await stores.uow.enqueue([event]);
    await eventually('two failed deliveries', () => telemetry.spans(`research process ${extracted}`).length === 2);
    for (const span of telemetry.spans(`research process ${extracted}`)) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'provider unavailable' });
    }
  });
});

describe('OtelTracing.startTrace', () => {
  it('starts a new trace linked to the active span, and an event committed with it follows it', async () => {
    const tracing = new OtelTracing();
    const event = lead();
    await withSpan('extract', {}, () => stores.uow.enqueue([{ event, trace: tracing.startTrace('lead', { lead_id: event.lead_id }) }]));
    await eventually('the lead to be personalized', () => personalized.has(event.lead_id));
    await eventually('the last consumer span', () => telemetry.spans(`personalize process ${researched}`).length > 0);

    const extract = telemetry.spans('extract')[0] as ReadableSpan;
    const leadSpan = telemetry.spans('lead')[0] as ReadableSpan;
    expect(ids(leadSpan).traceId).not.toBe(ids(extract).traceId);
    expect(leadSpan.parentSpanContext).toBeUndefined();
    expect(leadSpan.links.map((link) => link.context.spanId)).toEqual([ids(extract).spanId]);
    expect(leadSpan.attributes).toEqual({ lead_id: event.lead_id });
    expect(ids(spanOf(`personalize process ${researched}`, event.lead_id)).traceId).toBe(ids(leadSpan).traceId);
  });

  it('has no link when no span is active, and returns the new span as the carrier', () => {
    expect(trace.getActiveSpan()).toBeUndefined();
    const carrier = new OtelTracing().startTrace('alone', {});
    const alone = telemetry.spans('alone')[0] as ReadableSpan;
    expect(alone.links).toEqual([]);
    expect(carrier.traceparent).toContain(`${ids(alone).traceId}-${ids(alone).spanId}`);
  });
});
