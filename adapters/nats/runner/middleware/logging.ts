/**
 * The delivery's logger: the process logger with the trace id and the consumer (the decode
 * middleware adds the run and lead ids). A failure that escapes the chain is a bug of the runner
 * itself: it is logged, and the broker redelivers the message after its ack wait.
 */
import type { Log } from '../../../../ports/logger.port.ts';
import { errorMessage, type Middleware } from './types.ts';

export function logging(logger: Log): Middleware {
  return async (ctx, next) => {
    ctx.log = logger.child({ ...(ctx.traceId === undefined ? {} : { trace_id: ctx.traceId }), consumer: ctx.durableName });
    try {
      await next();
    } catch (error) {
      ctx.failure = error;
      ctx.log.error({ error: errorMessage(error), subject: ctx.message.subject }, 'consumer runner failed on a message');
    }
  };
}
