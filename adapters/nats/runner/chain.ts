/**
 * The middleware every delivery goes through, in one fixed order (outermost first):
 *
 *   metering → tracing → logging → heartbeat → decode (dead-letter) → ack policy → timeout → handler
 *
 * Tracing first, so that everything after runs in the message's trace and the logger gets its
 * trace id; the heartbeat around everything that may take time; decoding before the ack policy, so
 * a poison message is dead-lettered rather than retried; the timeout inside the ack policy, so a
 * handler that ran too long fails like any other and is retried.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Log } from '../../../ports/logger.port.ts';
import { ackPolicy } from './middleware/ack-policy.ts';
import { decoding, type Decoder } from './middleware/decode.ts';
import { heartbeat } from './middleware/heartbeat.ts';
import { logging } from './middleware/logging.ts';
import { metering, type DeliveryMeter } from './middleware/metering.ts';
import { timeout } from './middleware/timeout.ts';
import { tracing } from './middleware/tracing.ts';
import { handlerContext, type MessageContext, type Middleware } from './middleware/types.ts';

export interface ChainOptions {
  readonly tracer: () => Tracer;
  readonly logger: Log;
  readonly decode: Decoder;
  /** Where each delivery's count and duration go. */
  readonly meter: () => DeliveryMeter;
  /** A failure's `error.type` (low cardinality). */
  readonly errorType: (error: unknown) => string;
}

/** Runs a delivery through the middleware, ending in its consumer's handler. */
export function deliveryChain(options: ChainOptions): (context: MessageContext) => Promise<void> {
  const middleware: readonly Middleware[] = [
    metering(options.meter, options.errorType),
    tracing(options.tracer),
    logging(options.logger),
    heartbeat,
    decoding(options.decode),
    ackPolicy,
    timeout,
  ];
  const handle = (ctx: MessageContext) => ctx.consumer.handle(ctx.event!, handlerContext(ctx));
  return (ctx) => {
    const run = (index: number): Promise<void> => {
      const step = middleware[index];
      return step === undefined ? handle(ctx) : step(ctx, () => run(index + 1));
    };
    return run(0);
  };
}
