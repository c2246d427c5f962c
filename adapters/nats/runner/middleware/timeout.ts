/**
 * The longest a handler may run on one delivery (`maxHandlerMs`): past it the handler's signal is
 * aborted and the delivery fails with `HandlerTimeout` (classified like any failure: retried), even
 * if the handler ignores its signal. Heartbeats would otherwise keep a hung handler's message, and
 * its slot, for ever.
 */
import { HandlerTimeout } from '../../../../ports/event-consumer.port.ts';
import type { Middleware } from './types.ts';

export const timeout: Middleware = async (ctx, next) => {
  const ms = ctx.consumer.settings.maxHandlerMs;
  const expired = new AbortController();
  const timer = setTimeout(() => expired.abort(new HandlerTimeout(ms)), ms);
  const outer = ctx.signal;
  ctx.signal = AbortSignal.any([outer, expired.signal]);
  const timedOut = new Promise<never>((_, reject) => {
    expired.signal.addEventListener('abort', () => reject(expired.signal.reason as Error), { once: true });
  });
  timedOut.catch(() => {});
  try {
    await Promise.race([next(), timedOut]);
  } finally {
    clearTimeout(timer);
    ctx.signal = outer;
  }
};
