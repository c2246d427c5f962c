/**
 * What the broker knows of the consumers of each event type, from JetStream's consumer info:
 * whether one exists (the outbox relay holds events back until it does), how many messages of
 * that type wait and are in flight (the relay meters events by it; the reconciler re-drives a
 * stage's work only when none are: work that is queued or being handled is not lost), and the
 * event stream's identity (the reconciler notices a stream created anew after the broker lost it).
 *
 * One listing of the stream's consumers answers every question; it is reused while it is young
 * (the relay asks several times a second under load) and never shared between an old and a new
 * stream: a consumer that existed before the broker lost its store is not taken to exist after.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventType } from '../../domain/campaigns/events.ts';
import type { ConsumerActivity } from '../../ports/event-consumer.port.ts';
import type { Backlog, EventSubscriptions } from '../../ports/event-publisher.port.ts';
import { eventSubject } from './subjects.ts';

/** Whether a consumer exists is taken from a listing at most this old. */
const PRESENCE_MAX_AGE_MS = 1_000;
/** A backlog is taken from a listing at most this old. */
const BACKLOG_MAX_AGE_MS = 200;

interface Listing {
  readonly at: number;
  readonly consumers: readonly ConsumerInfo[];
}

export class NatsConsumerDirectory implements EventSubscriptions, ConsumerActivity {
  readonly #nc: NatsConnection;
  readonly #streamName: string;
  readonly #prefix: string;
  #jsm: Promise<JetStreamManager> | undefined;
  #last: Listing | undefined;
  #listing: Promise<Listing> | undefined;

  constructor(nc: NatsConnection, options: { readonly streamName: string; readonly prefix: string }) {
    this.#nc = nc;
    this.#streamName = options.streamName;
    this.#prefix = options.prefix;
  }

  async hasConsumer(type: EventType, consumer: string): Promise<boolean> {
    const { consumers } = await this.#list(PRESENCE_MAX_AGE_MS);
    // A declaration's durable for a type is named after it, with the type when it subscribes to several (subjects.ts).
    const names = new Set([consumer, `${consumer}-${type.replaceAll('.', '-')}`]);
    return consumers.some((info) => names.has(info.name) && this.#receives(info, type));
  }

  async backlog(type: EventType): Promise<Backlog | null> {
    const receivers = (await this.#list(BACKLOG_MAX_AGE_MS)).consumers.filter((info) => this.#receives(info, type));
    if (receivers.length === 0) return null;
    return {
      waiting: Math.max(...receivers.map((info) => info.num_pending)),
      inFlight: Math.max(...receivers.map((info) => info.num_ack_pending)),
    };
  }

  async idle(type: EventType): Promise<boolean> {
    const receivers = (await this.#list(0)).consumers.filter((info) => this.#receives(info, type));
    return receivers.length > 0 && receivers.every((info) => info.num_pending === 0 && info.num_ack_pending === 0);
  }

  /**
   * Each consumer's lag (messages not yet delivered) and messages delivered but not acked, for the
   * gauges: from a listing at most `maxAgeMs` old (the one the relay and reconciler share).
   */
  async consumerLag(maxAgeMs: number): Promise<{ readonly consumer: string; readonly pending: number; readonly ackPending: number }[]> {
    const { consumers } = await this.#list(maxAgeMs);
    return consumers.map((info) => ({ consumer: info.name, pending: info.num_pending, ackPending: info.num_ack_pending }));
  }

  /** Messages the stream `name` holds; null while it does not exist (the dead-letter stream's count, for its gauge). */
  async streamMessages(name: string): Promise<number | null> {
    try {
      return (await (await this.#manager()).streams.info(name)).state.messages;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return null;
      throw error;
    }
  }

  async streamEpoch(): Promise<string | null> {
    try {
      const info = await (await this.#manager()).streams.info(this.#streamName);
      return info.created;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return null;
      throw error;
    }
  }

  #receives(info: ConsumerInfo, type: EventType): boolean {
    const subject = eventSubject(type, this.#prefix);
    return info.config.filter_subject === subject || (info.config.filter_subjects ?? []).includes(subject);
  }

  async #manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.#nc);
    return this.#jsm.catch((error: unknown) => {
      this.#jsm = undefined;
      throw error;
    });
  }

  /** Every consumer of the stream (none while the stream is missing), from a listing at most `maxAgeMs` old; one listing at a time. */
  async #list(maxAgeMs: number): Promise<Listing> {
    const last = this.#last;
    if (last !== undefined && Date.now() - last.at <= maxAgeMs) return last;
    this.#listing ??= (async () => {
      try {
        const jsm = await this.#manager();
        const consumers: ConsumerInfo[] = [];
        try {
          for await (const info of jsm.consumers.list(this.#streamName)) consumers.push(info);
        } catch (error) {
          if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
        }
        this.#last = { at: Date.now(), consumers };
        return this.#last;
      } finally {
        this.#listing = undefined;
      }
    })();
    return this.#listing;
  }
}
