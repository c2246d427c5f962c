/**
 * Publishes domain events to JetStream. Each publish resolves once the stream stored the event
 * (or recognised it as a duplicate of its id within the duplicate window) and rejects otherwise,
 * so a handler that publishes fails and its own message is redelivered.
 */
import { context, propagation, SpanKind, type Tracer } from '@opentelemetry/api';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { eventId, type DomainEvent } from '../../domain/campaigns/events.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import { getTracer, runInSpan } from '../telemetry/tracing.ts';
import { encode } from './event-codec.ts';
import { assertSubjectPrefix, eventSubject } from './subjects.ts';
import { natsHeaderSetter } from './trace-headers.ts';

/** Publishes in flight at once in publishAll: enough to pipeline, few enough to bound memory. */
const PUBLISH_WINDOW = 256;

export interface JetStreamEventPublisherOptions {
  /** Subject prefix, the one the topology was provisioned with. */
  readonly prefix?: string;
  /** Default: the service tracer (adapters/telemetry/tracing.ts). */
  readonly tracer?: Tracer;
}

export class JetStreamEventPublisher implements EventPublisher {
  readonly #js: JetStreamClient;
  readonly #prefix: string;
  readonly #tracer: Tracer | undefined;

  constructor(nc: NatsConnection, options: JetStreamEventPublisherOptions = {}) {
    this.#prefix = options.prefix ?? '';
    assertSubjectPrefix(this.#prefix);
    this.#js = jetstream(nc);
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

  /** A producer span per event; its context travels in the message headers to the consumer. */
  async #send(event: DomainEvent): Promise<void> {
    const subject = eventSubject(event.type, this.#prefix);
    const data = encode(event);
    const msgID = eventId(event);
    const tracer = this.#tracer ?? getTracer();
    const attributes = {
      'messaging.system': 'nats',
      'messaging.operation.type': 'send',
      'messaging.destination.name': subject,
      'messaging.message.id': msgID,
    };
    await tracer.startActiveSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER, attributes }, (span) =>
      runInSpan(span, async () => {
        const headers = natsHeaders();
        propagation.inject(context.active(), headers, natsHeaderSetter);
        await this.#js.publish(subject, data, { msgID, headers });
      }),
    );
  }
}
