/** Tells the broker the handler is still at work every third of the ack wait, so a slow handler keeps its message. */
import type { Middleware } from './types.ts';

export const heartbeat: Middleware = async (ctx, next) => {
  const timer = setInterval(() => {
    if (!ctx.settle.settled) ctx.settle.working();
  }, ctx.consumer.settings.ackWaitMs / 3);
  try {
    await next();
  } finally {
    clearInterval(timer);
  }
};
