/**
 * Runs consumers on JetStream: one pull loop per provisioned durable consumer (a consumer of
 * several event types has one durable consumer per type, see ../subjects.ts consumerName), every
 * delivery through the middleware chain (chain.ts).
 */
import type { Tracer } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import type { RunnableConsumer } from '../../../ports/event-consumer.port.ts';
import type { Log } from '../../../ports/logger.port.ts';
import { errorTypeOf } from '../../telemetry/error-type.ts';
import { instruments } from '../../telemetry/metrics.ts';
import { getTracer } from '../../telemetry/tracing.ts';
import { decode, EventDecodeError } from '../event-codec.ts';
import { assertSubjectPrefix } from '../subjects.ts';
import { DEFAULT_STREAM_NAME, planConsumers } from '../topology.ts';
import { deliveryChain } from './chain.ts';
import { PullLoop } from './pull-loop.ts';

const DEFAULT_STOP_GRACE_MS = 10_000;

export interface ConsumerRunnerOptions {
  readonly consumers: readonly RunnableConsumer[];
  /** Default `AGA`. */
  readonly streamName?: string;
  /** The subject prefix the topology was provisioned with. */
  readonly prefix?: string;
  readonly logger: Log;
  /** Default: the service tracer (adapters/telemetry/tracing.ts). */
  readonly tracer?: Tracer;
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

/** Starts pulling every consumer; they must have been provisioned (topology.ts). */
export async function startConsumers(nc: NatsConnection, options: ConsumerRunnerOptions): Promise<RunningConsumers> {
  const prefix = options.prefix ?? '';
  assertSubjectPrefix(prefix);
  const streamName = options.streamName ?? DEFAULT_STREAM_NAME;
  const js = jetstream(nc);
  const tracer = options.tracer;
  const chain = deliveryChain({
    tracer: () => tracer ?? getTracer(),
    logger: options.logger,
    meter: () => {
      const { consumedMessages, processDuration } = instruments();
      return {
        record: (attributes, seconds) => {
          consumedMessages.add(1, attributes);
          processDuration.record(seconds, attributes);
        },
      };
    },
    errorType: errorTypeOf,
    decode: (subject, data) => {
      const decoded = decode(subject, data);
      return decoded instanceof EventDecodeError ? { reason: decoded.reason } : decoded;
    },
  });
  const loops = await Promise.all(
    planConsumers(options.consumers, prefix).map(async (plan) => {
      const consumer = await js.consumers.get(streamName, plan.name).catch((error: unknown) => {
        throw new Error(`consumer ${plan.name} on stream ${streamName} is missing: provision the topology first`, { cause: error });
      });
      return new PullLoop(consumer, plan.declaration, {
        js,
        streamName,
        prefix,
        durableName: plan.name,
        logger: options.logger,
        chain,
        stopGraceMs: options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
      });
    }),
  );
  for (const loop of loops) loop.start();
  return {
    async stop() {
      await Promise.all(loops.map((loop) => loop.stop()));
    },
  };
}
