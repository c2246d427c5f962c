/**
 * One JetStream message being handled, as the middleware see it (middleware/types.ts): its data
 * and headers, and its settlement, once, by the handler's outcome or by a stopping process.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { context, propagation } from '@opentelemetry/api';
import { deadLetterSubject } from '../subjects.ts';
import { natsHeaderSetter } from '../trace-headers.ts';
import type { InboundMessage, Settlement } from './middleware/types.ts';

export interface DeliveryOptions {
  readonly js: JetStreamClient;
  readonly streamName: string;
  readonly prefix: string;
  /** The durable consumer's name. */
  readonly consumer: string;
}

export class Delivery implements InboundMessage, Settlement {
  readonly #msg: JsMsg;
  readonly #options: DeliveryOptions;
  readonly #abort = new AbortController();
  #settled = false;
  done: Promise<void> = Promise.resolve();

  constructor(msg: JsMsg, options: DeliveryOptions) {
    this.#msg = msg;
    this.#options = options;
  }

  get subject(): string {
    return this.#msg.subject;
  }

  get data(): Uint8Array {
    return this.#msg.data;
  }

  get deliveryCount(): number {
    return this.#msg.info.deliveryCount;
  }

  get streamSequence(): number {
    return this.#msg.info.streamSequence;
  }

  header(name: string): string | undefined {
    const value = this.#msg.headers?.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  headerNames(): string[] {
    return this.#msg.headers?.keys() ?? [];
  }

  /** Aborted by `release`. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get settled(): boolean {
    return this.#settled;
  }

  ack(): void {
    if (this.#settle()) this.#msg.ack();
  }

  nak(delayMs: number): void {
    if (this.#settle()) this.#msg.nak(delayMs);
  }

  /** Without a reason: NATS 2.9 ignores term(reason) and redelivers the message. */
  term(): void {
    if (this.#settle()) this.#msg.term();
  }

  working(): void {
    if (!this.#settled) this.#msg.working();
  }

  /** Gives the message back for immediate redelivery and tells the handler to stop. */
  release(): void {
    this.nak(0);
    this.#abort.abort(new Error('consumer stopping'));
  }

  async requeue(): Promise<boolean> {
    const { js, streamName, consumer } = this.#options;
    const headers = natsHeaders();
    propagation.inject(context.active(), headers, natsHeaderSetter);
    headers.set('Aga-Requeued-From', String(this.streamSequence));
    try {
      await js.publish(this.subject, this.data, {
        headers,
        // A second attempt at the same requeue is stored once.
        msgID: `${streamName}:${this.streamSequence}:${consumer}:requeue`,
      });
      this.ack();
      return true;
    } catch {
      this.term();
      return false;
    }
  }

  /**
   * Published with JetStream to `<prefix>deadletter.v1.<consumer>`, kept by the dead-letter stream
   * (topology.ts), rather than core NATS: nobody subscribes to dead letters, and a core message
   * would be gone before anyone looked.
   */
  async deadLetter(reason: string): Promise<boolean> {
    const { js, streamName, prefix, consumer } = this.#options;
    const headers = natsHeaders();
    headers.set('Aga-Subject', this.subject);
    headers.set('Aga-Stream', streamName);
    headers.set('Aga-Stream-Sequence', String(this.streamSequence));
    headers.set('Aga-Consumer', consumer);
    headers.set('Aga-Reason', reason.replace(/[\r\n]+/g, ' '));
    try {
      // A redelivered copy of the same message is stored once.
      await js.publish(deadLetterSubject(consumer, prefix), this.data, { headers, msgID: `${streamName}:${this.streamSequence}:${consumer}` });
      return true;
    } catch {
      return false;
    }
  }

  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}
