/**
 * Runs the consumer declarations: pulls each provisioned durable consumer and hands its messages
 * to the declaration's handler, several at a time, with the delivery semantics the port promises.
 *
 * Per message: the trace context is taken from the headers and a CONSUMER span is active while the
 * handler runs (so its publishes carry it on); the payload is decoded; the handler gets a logger
 * with the trace, run and lead ids; "working" heartbeats keep the message while the handler runs;
 * then ack, nak with a delay, or giveUp and ack (see #settleFailure).
 *
 * A message that cannot be decoded is terminated, never retried: it is logged (subject and stream
 * sequence, never the payload) and its raw bytes are published with JetStream to
 * `<prefix>deadletter.v1.<consumer>`, kept by the dead-letter stream (topology.ts) for an operator.
 * JetStream rather than core NATS because nobody subscribes to dead letters: a core message would
 * be gone before anyone looked.
 *
 * Messages are pulled with `fetch` for exactly the free handler slots, never more: no message
 * waits in a client buffer while its ack_wait runs, and the in-flight count is exact. A
 * declaration with a provider `gate` waits at it before each pull, and pulls no more than it
 * allows: nothing is taken (and no delivery spent) while the provider is paused or its circuit
 * is open, and only a probe message when one is due. A pull already under way when the gate
 * shuts can still take messages until it expires, so gated pulls expire after a second; a
 * message taken then is refused by the provider's breaker or pause and retried, never given up.
 *
 * An outside API's pushback (`isPushback`: paused, circuit open, rate limited) never
 * gives a message up: the event is not at fault. Before the last delivery it is nak'ed with the
 * provider's delay; on the last one JetStream would not deliver it again, so a fresh copy is
 * published to the same subject (with its trace context) and the original acked, and the copy
 * starts its deliveries from one. The copy reaches every consumer of that subject, as any
 * redelivery may: handlers are idempotent. Should that publish fail, the message is terminated
 * and the reconciler re-drives its lead from the database after the lease.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { DomainEvent } from '../../domain/campaigns/events.ts';
import {
  PermanentFailure,
  RetryLater,
  type ConsumerDeclaration,
  type HandlerContext,
} from '../../ports/event-consumer.port.ts';
import type { Log } from '../../ports/logger.port.ts';
import { isPushback, OutsideApiError } from '../../ports/outside-api.port.ts';
import { getTracer } from '../telemetry/tracing.ts';
import { decode, EventDecodeError } from './event-codec.ts';
import { assertSubjectPrefix, deadLetterSubject } from './subjects.ts';
import { DEFAULT_STREAM_NAME, planConsumers, type PlannedConsumer } from './topology.ts';
import { natsHeaderGetter, natsHeaderSetter } from './trace-headers.ts';

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_STOP_GRACE_MS = 10_000;
/** How long a pull waits for messages on an idle consumer before it is renewed. */
const FETCH_EXPIRES_MS = 10_000;
/**
 * The same for a consumer behind a provider gate: a pull under way still takes messages after the
 * gate shuts, so it is renewed (and the gate asked again) every second.
 */
const GATED_FETCH_EXPIRES_MS = 1_000;
/** Pause after a failed pull (broker restarting, consumer missing) before the next one. */
const PULL_RETRY_MS = 1_000;
/** After the grace period, how long aborted handlers get to notice before stop() returns. */
const ABORT_SETTLE_MS = 1_000;

export interface ConsumerRunnerOptions {
  readonly declarations: readonly ConsumerDeclaration[];
  /** Default `AGA`. */
  readonly streamName?: string;
  /** The subject prefix the topology was provisioned with. */
  readonly prefix?: string;
  readonly logger: Log;
  /** Default: the service tracer (adapters/telemetry/tracing.ts). */
  readonly tracer?: Tracer;
  /**
   * Handlers running at once per consumer in this process, capped by the consumer's
   * maxAckPending (the ceiling across processes), unless its declaration says otherwise
   * (`concurrency`). Default 16.
   */
  readonly concurrency?: number;
  /** How long stop() lets in-flight handlers finish before aborting and releasing them. Default 10 s. */
  readonly stopGraceMs?: number;
}

export interface RunningConsumers {
  /**
   * Stops pulling, waits for in-flight handlers (up to the grace period), then aborts the rest and
   * naks them for immediate redelivery elsewhere. Acks are sent before it returns; drain the
   * connection afterwards to flush them.
   */
  stop(): Promise<void>;
}

/** Starts pulling every consumer of the declarations; they must have been provisioned. */
export async function startConsumers(nc: NatsConnection, options: ConsumerRunnerOptions): Promise<RunningConsumers> {
  const prefix = options.prefix ?? '';
  assertSubjectPrefix(prefix);
  const streamName = options.streamName ?? DEFAULT_STREAM_NAME;
  const js = jetstream(nc);
  const tracer = options.tracer ?? getTracer();
  const workers = await Promise.all(
    planConsumers(options.declarations, prefix).map(async (plan) => {
      const consumer = await js.consumers.get(streamName, plan.name).catch((error: unknown) => {
        const message = `consumer ${plan.name} on stream ${streamName} is missing: provision the topology first`;
        throw new Error(message, { cause: error });
      });
      return new ConsumerWorker(consumer, plan, {
        js,
        streamName,
        prefix,
        logger: options.logger,
        tracer,
        limit: Math.min(plan.declaration.concurrency ?? options.concurrency ?? DEFAULT_CONCURRENCY, plan.declaration.settings.maxAckPending),
        stopGraceMs: options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
      });
    }),
  );
  for (const worker of workers) worker.start();
  return {
    async stop() {
      await Promise.all(workers.map((worker) => worker.stop()));
    },
  };
}

interface WorkerDeps {
  readonly js: JetStreamClient;
  readonly streamName: string;
  readonly prefix: string;
  readonly logger: Log;
  readonly tracer: Tracer;
  readonly limit: number;
  readonly stopGraceMs: number;
}

/** One message being handled: settled once, by the handler's outcome or by stop(). */
class Delivery {
  readonly msg: JsMsg;
  readonly #abort = new AbortController();
  #settled = false;
  done: Promise<void> = Promise.resolve();

  constructor(msg: JsMsg) {
    this.msg = msg;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get settled(): boolean {
    return this.#settled;
  }

  ack(): void {
    if (this.#settle()) this.msg.ack();
  }

  nak(delayMs: number): void {
    if (this.#settle()) this.msg.nak(delayMs);
  }

  /** Without a reason: NATS 2.9 ignores term(reason) and redelivers the message. */
  term(): void {
    if (this.#settle()) this.msg.term();
  }

  /** Gives the message back for immediate redelivery and tells the handler to stop. */
  release(): void {
    this.nak(0);
    this.#abort.abort(new Error('consumer stopping'));
  }

  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}

class ConsumerWorker {
  readonly #consumer: Consumer;
  readonly #plan: PlannedConsumer<ConsumerDeclaration>;
  readonly #deps: WorkerDeps;
  readonly #inFlight = new Set<Delivery>();
  readonly #stopRequested = new AbortController();
  #batch: ConsumerMessages | undefined;
  #slotFreed: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();

  constructor(consumer: Consumer, plan: PlannedConsumer<ConsumerDeclaration>, deps: WorkerDeps) {
    this.#consumer = consumer;
    this.#plan = plan;
    this.#deps = deps;
  }

  start(): void {
    this.#loop = this.#pull();
  }

  async stop(): Promise<void> {
    this.#stopRequested.abort();
    this.#batch?.stop();
    this.#slotFreed?.();
    await this.#loop;
    if (await settledWithin(this.#allDone(), this.#deps.stopGraceMs)) return;
    this.#deps.logger.warn(
      { consumer: this.#plan.name, in_flight: this.#inFlight.size },
      'handlers still running after the stop grace period: releasing their messages',
    );
    for (const delivery of this.#inFlight) delivery.release();
    await settledWithin(this.#allDone(), ABORT_SETTLE_MS);
  }

  get #stopping(): boolean {
    return this.#stopRequested.signal.aborted;
  }

  #allDone(): Promise<unknown> {
    return Promise.all([...this.#inFlight].map((delivery) => delivery.done));
  }

  async #pull(): Promise<void> {
    const { gate } = this.#plan.declaration;
    const expires = gate === undefined ? FETCH_EXPIRES_MS : GATED_FETCH_EXPIRES_MS;
    while (!this.#stopping) {
      if (this.#deps.limit - this.#inFlight.size <= 0) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
        continue;
      }
      try {
        const allowed = gate === undefined ? Infinity : await gate.wait(this.#stopRequested.signal);
        // Handlers may have finished while the gate was shut.
        const free = this.#deps.limit - this.#inFlight.size;
        const batch = await this.#consumer.fetch({ max_messages: Math.min(free, allowed), expires });
        this.#batch = batch;
        if (this.#stopping) batch.stop();
        for await (const msg of batch) this.#dispatch(msg);
      } catch (error) {
        if (this.#stopping) break;
        this.#deps.logger.warn({ consumer: this.#plan.name, error: errorMessage(error) }, 'pulling messages failed; retrying');
        await sleep(PULL_RETRY_MS, undefined, { signal: this.#stopRequested.signal }).catch(() => {});
      } finally {
        this.#batch = undefined;
      }
    }
  }

  #dispatch(msg: JsMsg): void {
    // A message that arrives after stop() began goes straight back for another process.
    if (this.#stopping) {
      msg.nak();
      return;
    }
    const delivery = new Delivery(msg);
    this.#inFlight.add(delivery);
    delivery.done = this.#process(delivery).finally(() => {
      this.#inFlight.delete(delivery);
      const wake = this.#slotFreed;
      this.#slotFreed = undefined;
      wake?.();
    });
  }

  /** Never rejects: every outcome settles the message or leaves it to ack_wait. */
  async #process(delivery: Delivery): Promise<void> {
    const { msg } = delivery;
    const parent = propagation.extract(ROOT_CONTEXT, msg.headers, natsHeaderGetter);
    const span = this.#deps.tracer.startSpan(
      `${this.#plan.name} process ${msg.subject}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': msg.subject,
          'messaging.consumer.group.name': this.#plan.name,
          'messaging.message.delivery_count': msg.info.deliveryCount,
        },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), () => this.#handle(delivery, span));
    } catch (error) {
      // Only a bug in the runner gets here; the message is redelivered after ack_wait.
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
      this.#deps.logger.error({ consumer: this.#plan.name, error: errorMessage(error) }, 'consumer runner failed on a message');
    } finally {
      span.end();
    }
  }

  async #handle(delivery: Delivery, span: Span): Promise<void> {
    const { msg } = delivery;
    const decoded = decode(msg.subject, msg.data);
    if (decoded instanceof EventDecodeError) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: decoded.message });
      await this.#deadLetter(delivery, decoded);
      return;
    }
    const event = decoded;
    const ids: Record<string, string> = { run_id: event.run_id };
    if ('lead_id' in event) ids.lead_id = event.lead_id;
    for (const [key, value] of Object.entries(ids)) span.setAttribute(`aga.${key}`, value);
    const { settings, handler } = this.#plan.declaration;
    const handlerContext: HandlerContext = {
      deliveryCount: msg.info.deliveryCount,
      maxDeliver: settings.maxDeliver,
      log: this.#deps.logger.child({ trace_id: span.spanContext().traceId, consumer: this.#plan.name, ...ids }),
      signal: delivery.signal,
    };
    // Resets the server's ack_wait timer so a slow handler keeps its message.
    const heartbeat = setInterval(() => {
      if (!delivery.settled) msg.working();
    }, settings.ackWaitMs / 3);
    try {
      await handler.handle(event, handlerContext);
      delivery.ack();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
      await this.#settleFailure(delivery, event, error, handlerContext);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * A permanent failure gives up at once; any other is retried (after the error's own delay or
   * the consumer's backoff) until the last delivery, which gives up with the error's message.
   */
  async #settleFailure(delivery: Delivery, event: DomainEvent, error: unknown, handlerContext: HandlerContext): Promise<void> {
    if (delivery.settled) return; // released by stop(): the handler's abort is not a failure
    const { deliveryCount, maxDeliver, log } = handlerContext;
    const reason = errorMessage(error);
    const fields = { error: reason, error_name: error instanceof Error ? error.name : typeof error, delivery: deliveryCount };
    if (isPermanent(error)) {
      log.warn(fields, 'handler failed permanently: giving up');
      await this.#giveUp(delivery, event, reason, handlerContext);
    } else if (isPushback(error) && deliveryCount >= maxDeliver) {
      await this.#requeue(delivery, log, fields);
    } else if (deliveryCount >= maxDeliver) {
      log.error(fields, 'handler failed on its last delivery: giving up');
      await this.#giveUp(delivery, event, reason, handlerContext);
    } else {
      const delayMs = retryDelay(error, deliveryCount, this.#plan.declaration.settings.backoffMs);
      log.warn({ ...fields, retry_in_ms: delayMs }, 'handler failed: will retry');
      delivery.nak(delayMs);
    }
  }

  async #giveUp(delivery: Delivery, event: DomainEvent, reason: string, handlerContext: HandlerContext): Promise<void> {
    const { handler, settings } = this.#plan.declaration;
    if (handler.giveUp === undefined) {
      handlerContext.log.error({ delivery: handlerContext.deliveryCount }, 'no giveUp for this consumer: message dropped');
      delivery.term();
      return;
    }
    try {
      await handler.giveUp(event, reason, handlerContext);
      delivery.ack();
    } catch (error) {
      // Past maxDeliver the server will not redeliver: the reconciler picks the lead up.
      const fields = { error: errorMessage(error), delivery: handlerContext.deliveryCount };
      handlerContext.log.error(fields, 'giveUp failed: will retry');
      delivery.nak(backoffDelay(settings.backoffMs, handlerContext.deliveryCount));
    }
  }

  /** Publishes a fresh copy of a message the provider pushed back on its last delivery, then acks it. */
  async #requeue(delivery: Delivery, log: Log, fields: Record<string, unknown>): Promise<void> {
    const { msg } = delivery;
    const headers = natsHeaders();
    propagation.inject(context.active(), headers, natsHeaderSetter);
    headers.set('Aga-Requeued-From', String(msg.info.streamSequence));
    try {
      await this.#deps.js.publish(msg.subject, msg.data, {
        headers,
        // A second attempt at the same requeue is stored once.
        msgID: `${this.#deps.streamName}:${msg.info.streamSequence}:${this.#plan.name}:requeue`,
      });
      log.warn(fields, 'provider pushed back on the last delivery: message requeued, not given up');
      delivery.ack();
    } catch (error) {
      log.error({ ...fields, requeue_error: errorMessage(error) }, 'requeue failed: message terminated, the reconciler re-drives its work');
      delivery.term();
    }
  }

  async #deadLetter(delivery: Delivery, decodeError: EventDecodeError): Promise<void> {
    const { msg } = delivery;
    const { streamName, prefix, logger, js } = this.#deps;
    const { name, declaration } = this.#plan;
    const where = { consumer: name, subject: msg.subject, stream: streamName, stream_seq: msg.info.streamSequence };
    logger.error({ ...where, reason: decodeError.reason }, 'undecodable message: dead-lettered and terminated');
    const headers = natsHeaders();
    headers.set('Aga-Subject', msg.subject);
    headers.set('Aga-Stream', streamName);
    headers.set('Aga-Stream-Sequence', String(msg.info.streamSequence));
    headers.set('Aga-Consumer', name);
    headers.set('Aga-Reason', decodeError.reason.replace(/[\r\n]+/g, ' '));
    try {
      await js.publish(deadLetterSubject(name, prefix), msg.data, {
        headers,
        // A redelivered copy of the same message is stored once.
        msgID: `${streamName}:${msg.info.streamSequence}:${name}`,
      });
      delivery.term();
    } catch (error) {
      if (msg.info.deliveryCount >= declaration.settings.maxDeliver) {
        logger.error({ ...where, error: errorMessage(error) }, 'dead-lettering failed on the last delivery: message dropped');
        delivery.term();
      } else {
        logger.warn({ ...where, error: errorMessage(error) }, 'dead-lettering failed: will retry');
        delivery.nak(backoffDelay(declaration.settings.backoffMs, msg.info.deliveryCount));
      }
    }
  }
}

/** `rejected` is the provider refusing this input: retrying cannot help. */
function isPermanent(error: unknown): boolean {
  return error instanceof PermanentFailure || (error instanceof OutsideApiError && error.failure === 'rejected');
}

function retryDelay(error: unknown, deliveryCount: number, backoffMs: readonly number[]): number {
  if (error instanceof RetryLater) return error.retryAfterMs;
  if (error instanceof OutsideApiError && error.retryAfterMs !== undefined) return error.retryAfterMs;
  return backoffDelay(backoffMs, deliveryCount);
}

/** The delay before redelivery n+1 after delivery n failed; the last value repeats. */
function backoffDelay(backoffMs: readonly number[], deliveryCount: number): number {
  return backoffMs[deliveryCount - 1] ?? backoffMs.at(-1) ?? 0;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True when `promise` settled within `ms`; the timer never outlives the wait. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timedOut = sleep(ms, false, { signal: timer.signal }).catch(() => false);
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    timer.abort();
  }
}
