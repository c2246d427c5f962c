/**
 * Publishes domain events to JetStream. Each publish resolves once the stream stored the event
 * (or recognised it as a duplicate of its id within the duplicate window) and rejects otherwise,
 * so a handler that publishes fails and its own message is redelivered.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { eventId, type DomainEvent } from '../../domain/campaigns/events.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import { getTracer } from '../telemetry/tracing.ts';
import { encode } from './event-codec.ts';
import { JetStreamPublishAcks } from './publish-acks.ts';
import { assertSubjectPrefix, eventSubject } from './subjects.ts';
import { natsHeaderSetter } from './trace-headers.ts';

/** Publishes in flight at once in publishAll: enough to pipeline, few enough to bound memory. */
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

  async publish(event: DomainEvent): Promise<void> {
    await this.#send(event);
  }

  async publishAll(events: readonly DomainEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += PUBLISH_WINDOW) {
      await Promise.all(events.slice(start, start + PUBLISH_WINDOW).map((event) => this.#send(event)));
    }
  }

  /**
   * A producer span per event; its context travels in the message headers to the consumer. The
   * span is started against the active context rather than made active itself: nothing runs
   * inside it but the send, and entering a context per event was a measurable share of an import.
   */
  async #send(event: DomainEvent): Promise<void> {
    const subject = eventSubject(event.type, this.#prefix);
    const data = encode(event);
    const msgID = eventId(event);
    const tracer = this.#tracer ?? getTracer();
    const parent = context.active();
    const span = tracer.startSpan(
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
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  }
}
