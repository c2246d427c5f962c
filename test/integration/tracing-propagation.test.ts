// One trace across processes: the span context travels in NATS headers from publisher to consumer.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LeadExtracted } from '../../domain/campaigns/events.ts';
import type { ConsumerDeclaration, ConsumerSettings } from '../../ports/event-consumer.port.ts';
import { startConsumers, type RunningConsumers } from '../../adapters/nats/consumer-runner.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import { OtelTracing, withSpan } from '../../adapters/telemetry/tracing.ts';
import { connectTestNats, deleteStreams, eventually, RecordingLog, testNames } from '../support/nats.ts';
import { declareConsumer } from '../../ports/event-consumer.port.ts';
import { startTestTelemetry, type TestTelemetry } from '../support/tracing.ts';

const names = testNames();
const settings: ConsumerSettings = { ackWaitMs: 5_000, maxDeliver: 2, backoffMs: [50], maxAckPending: 10 };
const extracted = `${names.prefix}lead.v1.extracted`;
const researched = `${names.prefix}lead.v1.researched`;

let telemetry: TestTelemetry;
let nc: NatsConnection;
let runner: RunningConsumers;
let publisher: JetStreamEventPublisher;
const log = new RecordingLog();
const personalized = new Set<string>();
const failing = new Set<string>();

beforeAll(async () => {
  telemetry = startTestTelemetry();
  nc = await connectTestNats();
  publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
  const research: ConsumerDeclaration<'lead.extracted'> = {
    name: 'research',
    events: ['lead.extracted'],
    settings,
    handler: {
      async handle(event) {
        if (failing.has(event.lead_id)) throw new Error('provider unavailable');
        await publisher.publish({ type: 'lead.researched', run_id: event.run_id, lead_id: event.lead_id });
      },
      async giveUp() {},
    },
  };
  const personalize: ConsumerDeclaration<'lead.researched'> = {
    name: 'personalize',
    events: ['lead.researched'],
    settings,
    handler: {
      handle(event, context) {
        context.log.info({}, 'personalized');
        personalized.add(event.lead_id);
        return Promise.resolve();
      },
    },
  };
  const declarations = [declareConsumer(research), declareConsumer(personalize)];
  await provisionTopology(nc, { streamName: names.streamName, prefix: names.prefix, consumers: declarations });
  runner = await startConsumers(nc, { streamName: names.streamName, prefix: names.prefix, declarations, logger: log });
});

beforeEach(() => {
  telemetry.exporter.reset();
});

afterAll(async () => {
  await runner.stop();
  await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName));
  await nc.close();
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

describe('trace context across NATS', () => {
  it('makes each consumer span a child of the publish span it consumed, in the publisher trace', async () => {
    const event = lead();
    await withSpan('submit request', {}, () => publisher.publish(event));
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
    failing.add(event.lead_id);
    await publisher.publish(event);
    await eventually('two failed deliveries', () => telemetry.spans(`research process ${extracted}`).length === 2);
    for (const span of telemetry.spans(`research process ${extracted}`)) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'provider unavailable' });
    }
  });
});

describe('OtelTracing.inNewTrace', () => {
  it('starts a new trace linked to the active span, and the lead events follow it', async () => {
    const tracing = new OtelTracing();
    const event = lead();
    await withSpan('extract', {}, () =>
      tracing.inNewTrace('lead', { lead_id: event.lead_id }, () => publisher.publish(event)),
    );
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

  it('has no link when no span is active', async () => {
    let active: string | undefined;
    await new OtelTracing().inNewTrace('alone', {}, () => {
      active = trace.getActiveSpan()?.spanContext().spanId;
      return Promise.resolve();
    });
    const alone = telemetry.spans('alone')[0] as ReadableSpan;
    expect(alone.links).toEqual([]);
    expect(active).toBe(ids(alone).spanId);
  });
});
