/**
 * The longest a handler may run on one delivery (`maxHandlerMs`): past it the handler's signal is
 * aborted and the delivery fails with `HandlerTimeout` (classified like any failure: retried), even
 * if the handler ignores its signal. Heartbeats would otherwise keep a hung handler's message, and
 * its slot, for ever.
 *
 * One controller per delivery, following the outer signal by a listener: `AbortSignal.any` costs a
 * measurable share of a busy consumer's CPU (weak references and a registry per call).
 */
import { HandlerTimeout } from '../../../../ports/event-consumer.port.ts';
import type { Middleware } from './types.ts';

export const timeout: Middleware = async (ctx, next) => {
  const ms = ctx.consumer.settings.maxHandlerMs;
  const outer = ctx.signal;
  const controller = new AbortController();
  const followOuter = () => controller.abort(outer.reason);
  if (outer.aborted) followOuter();
  else outer.addEventListener('abort', followOuter, { once: true });
  let expire: (error: HandlerTimeout) => void = () => {};
  const timedOut = new Promise<never>((_, reject) => (expire = reject));
  timedOut.catch(() => {});
  const timer = setTimeout(() => {
    const error = new HandlerTimeout(ms);
    controller.abort(error);
    expire(error);
  }, ms);
  ctx.signal = controller.signal;
  try {
    await Promise.race([next(), timedOut]);
  } finally {
    clearTimeout(timer);
    outer.removeEventListener('abort', followOuter);
    ctx.signal = outer;
  }
};
