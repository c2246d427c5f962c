/**
 * JetStream publishes pipelined on one reply subscription. A JetStream publish is a core NATS
 * message whose reply subject receives the stream's acknowledgement (or a 503 status when no
 * stream stores the subject). The client's `js.publish` makes that a request: a fresh request
 * object, a mux entry, a timer and an error object for each message, which for the 100,000
 * `lead.extracted` events of an import cost several times the message itself. Here every publish
 * of a connection shares one wildcard subscription (`<inbox>.*`), each message gets the next
 * number as its reply token, and one sweep rejects what was not acknowledged in time.
 *
 * Ordering is the connection's: messages leave in the order of the `send` calls, so the stream
 * stores them in that order.
 */
import { createInbox, type MsgHdrs, type NatsConnection, type Msg, type Subscription } from '@nats-io/transport-node';

/** How long a publish waits for the stream's acknowledgement (the JetStream client's default). */
const DEFAULT_ACK_TIMEOUT_MS = 5_000;

interface PendingAck {
  readonly subject: string;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface PubAck {
  readonly stream?: string;
  readonly error?: { readonly code?: number; readonly err_code?: number; readonly description?: string };
}

/** A publish the broker refused, did not store, or did not acknowledge in time. */
export class PublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublishError';
  }
}

export class JetStreamPublishAcks {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #decoder = new TextDecoder();
  readonly #pending = new Map<number, PendingAck>();
  #inbox = '';
  #subscription: Subscription | undefined;
  #next = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(nc: NatsConnection, options: { readonly timeoutMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
  }

  /** Publishes the message; resolves once a stream stored it (or recognised its id as a duplicate). */
  send(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<void> {
    if (this.#subscription === undefined || this.#subscription.isClosed()) this.#subscribe();
    const token = this.#next;
    this.#next += 1;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(token, { subject, deadline: Date.now() + this.#timeoutMs, resolve, reject });
      this.#sweeper ??= setInterval(() => this.#sweep(), Math.min(1_000, this.#timeoutMs)).unref();
      try {
        this.#nc.publish(subject, data, { reply: `${this.#inbox}.${token}`, headers });
      } catch (error) {
        this.#pending.delete(token);
        reject(error instanceof Error ? error : new PublishError(String(error)));
      }
    });
  }

  #subscribe(): void {
    this.#inbox = createInbox();
    this.#subscription = this.#nc.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) this.#failAll(new PublishError(`publish acknowledgements failed: ${error.message}`));
        else this.#acknowledge(msg);
      },
    });
  }

  #acknowledge(msg: Msg): void {
    const token = Number(msg.subject.slice(this.#inbox.length + 1));
    const pending = this.#pending.get(token);
    if (pending === undefined) return; // timed out already
    this.#pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      pending.reject(new PublishError(`no JetStream stream stores ${pending.subject}`));
      return;
    }
    let ack: PubAck;
    try {
      ack = JSON.parse(this.#decoder.decode(msg.data)) as PubAck;
    } catch {
      pending.reject(new PublishError(`JetStream answered a publish to ${pending.subject} with something other than an acknowledgement`));
      return;
    }
    if (ack.error !== undefined) {
      pending.reject(new PublishError(`JetStream did not store a publish to ${pending.subject}: ${ack.error.description ?? 'no reason given'} (${ack.error.err_code ?? ack.error.code})`));
    } else if (typeof ack.stream !== 'string' || ack.stream === '') {
      pending.reject(new PublishError(`JetStream answered a publish to ${pending.subject} with an invalid acknowledgement`));
    } else {
      pending.resolve();
    }
  }

  /** Rejects the publishes past their deadline; the map is in publish order, so the oldest come first. */
  #sweep(): void {
    const now = Date.now();
    for (const [token, pending] of this.#pending) {
      if (pending.deadline > now) break;
      this.#pending.delete(token);
      pending.reject(new PublishError(`no acknowledgement of a publish to ${pending.subject} within ${this.#timeoutMs} ms`));
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#subscription = undefined;
  }
}
