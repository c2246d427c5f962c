/**
 * Publishes events to JetStream for the outbox relay. Each publish is a PRODUCER span continuing
 * the trace the event was committed in (its carrier from the outbox), and carries that span's
 * context in its headers to the consumer; its de-duplication id is the event's deterministic id,
 * so a copy published twice (a relay that died after publishing, before deleting) is stored once
 * within the stream's duplicate window.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { eventId } from '../../domain/campaigns/events.ts';
import type { EventPublisher, EventToPublish, PublishResult } from '../../ports/event-publisher.port.ts';
import { getTracer } from '../telemetry/tracing.ts';
import { encode, EventDecodeError } from './event-codec.ts';
import { JetStreamPublishAcks } from './publish-acks.ts';
import { assertSubjectPrefix, eventSubject } from './subjects.ts';
import { natsHeaderSetter } from './trace-headers.ts';

/** Publishes in flight at once: enough to pipeline, few enough to bound memory. */
const PUBLISH_WINDOW = 1024;

export interface JetStreamEventPublisherOptions {
  /** Subject prefix, the one the topology was provisioned with. */
  readonly prefix?: string;
  /** Default: the service tracer (adapters/telemetry/tracing.ts). */
  readonly tracer?: Tracer;
}

export class JetStreamEventPublisher implements EventPublisher {
  readonly #acks: JetStreamPublishAcks;
  readonly #prefix: string;
  readonly #tracer: Tracer | undefined;

  constructor(nc: NatsConnection, options: JetStreamEventPublisherOptions = {}) {
    this.#prefix = options.prefix ?? '';
    assertSubjectPrefix(this.#prefix);
    this.#acks = new JetStreamPublishAcks(nc);
    this.#tracer = options.tracer;
  }

  async publishAll(events: readonly EventToPublish[]): Promise<readonly PublishResult[]> {
    const results: PublishResult[] = [];
    for (let start = 0; start < events.length; start += PUBLISH_WINDOW) {
      results.push(...(await Promise.all(events.slice(start, start + PUBLISH_WINDOW).map((item) => this.#send(item)))));
    }
    return results;
  }

  async #send({ event, trace: carrier, msgId }: EventToPublish): Promise<PublishResult> {
    let data: Uint8Array;
    try {
      data = encode(event);
    } catch (error) {
      if (error instanceof EventDecodeError) return { ok: false, permanent: true, reason: error.reason };
      throw error;
    }
    const subject = eventSubject(event.type, this.#prefix);
    const msgID = msgId ?? eventId(event);
    const parent = carrier === null ? context.active() : propagation.extract(ROOT_CONTEXT, carrier);
    // Started against the parent rather than made active: nothing runs inside it but the send, and
    // entering a context per event was a measurable share of an import.
    const span = (this.#tracer ?? getTracer()).startSpan(
      `publish ${subject}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'send',
          'messaging.destination.name': subject,
          'messaging.message.id': msgID,
        },
      },
      parent,
    );
    try {
      const headers = natsHeaders();
      // The de-duplication id JetStream keys on within the stream's duplicate window.
      headers.set('Nats-Msg-Id', msgID);
      propagation.inject(trace.setSpan(parent, span), headers, natsHeaderSetter);
      await this.#acks.send(subject, data, headers);
      return { ok: true };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      return { ok: false, permanent: false, reason };
    } finally {
      span.end();
    }
  }
}
