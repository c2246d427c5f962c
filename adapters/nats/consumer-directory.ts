/**
 * What the broker knows of the consumers of each event type, from JetStream's consumer info:
 * whether one exists yet (the outbox relay holds events back until it does) and whether any
 * message of that type is waiting or in flight (the reconciler re-drives a stage's work only when
 * none is: work that is queued or being handled is not lost).
 */
import { jetstreamManager, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { EVENT_TYPES, type EventType } from '../../domain/campaigns/events.ts';
import type { ConsumerActivity } from '../../ports/event-consumer.port.ts';
import type { EventSubscriptions } from '../../ports/event-publisher.port.ts';
import { eventSubject } from './subjects.ts';

/** A missing consumer is looked for again at most this often. */
const MISSING_RECHECK_MS = 1_000;

export class NatsConsumerDirectory implements EventSubscriptions, ConsumerActivity {
  readonly #nc: NatsConnection;
  readonly #streamName: string;
  readonly #prefix: string;
  #jsm: Promise<JetStreamManager> | undefined;
  /** Durable consumers known to exist, by `<type> <consumer>`: one that exists stays (consumers are durable). */
  readonly #present = new Set<string>();
  #listedAt = 0;
  #listing: Promise<ConsumerInfo[]> | undefined;

  constructor(nc: NatsConnection, options: { readonly streamName: string; readonly prefix: string }) {
    this.#nc = nc;
    this.#streamName = options.streamName;
    this.#prefix = options.prefix;
  }

  async hasConsumer(type: EventType, consumer: string): Promise<boolean> {
    const key = `${type} ${consumer}`;
    if (this.#present.has(key)) return true;
    if (Date.now() - this.#listedAt < MISSING_RECHECK_MS) return false;
    await this.#list();
    return this.#present.has(key);
  }

  async idle(type: EventType): Promise<boolean> {
    const receivers = (await this.#list()).filter((info) => this.#receives(info, type));
    return receivers.length > 0 && receivers.every((info) => info.num_pending === 0 && info.num_ack_pending === 0);
  }

  #receives(info: ConsumerInfo, type: EventType): boolean {
    const subject = eventSubject(type, this.#prefix);
    return info.config.filter_subject === subject || (info.config.filter_subjects ?? []).includes(subject);
  }

  /** Every consumer of the stream, one listing at a time. */
  #list(): Promise<ConsumerInfo[]> {
    this.#listing ??= (async () => {
      try {
        this.#jsm ??= jetstreamManager(this.#nc);
        const jsm = await this.#jsm.catch((error: unknown) => {
          this.#jsm = undefined;
          throw error;
        });
        const consumers: ConsumerInfo[] = [];
        for await (const info of jsm.consumers.list(this.#streamName)) consumers.push(info);
        this.#listedAt = Date.now();
        // Every durable the listing shows, not only the one asked about. A declaration's durable for
        // a type is named after it, with the type when it subscribes to several (subjects.ts).
        for (const info of consumers) {
          for (const type of EVENT_TYPES) {
            if (!this.#receives(info, type)) continue;
            const suffix = `-${type.replaceAll('.', '-')}`;
            this.#present.add(`${type} ${info.name.endsWith(suffix) ? info.name.slice(0, -suffix.length) : info.name}`);
          }
        }
        return consumers;
      } finally {
        this.#listing = undefined;
      }
    })();
    return this.#listing;
  }
}
