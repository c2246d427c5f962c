/**
 * Decodes the payload into the event its subject carries. A message that cannot be decoded is a
 * poison message: retrying cannot help, so it is dead-lettered (its bytes kept with the reason, for
 * an operator) and terminated, never handed to the handler. The log names the subject and the
 * stream sequence, never the payload. If dead-lettering fails, the message is retried until its
 * last delivery, then dropped (and said so).
 */
import type { DomainEvent } from '../../../../domain/campaigns/events.ts';
import { backoffDelay, type Middleware } from './types.ts';

/** The event, or why the payload is not one (the reason names keys and expectations, never values). */
export type Decoder = (subject: string, data: Uint8Array) => DomainEvent | { readonly reason: string };

export function decoding(decode: Decoder): Middleware {
  return async (ctx, next) => {
    const { message, consumer, settle } = ctx;
    const decoded = decode(message.subject, message.data);
    if ('reason' in decoded) {
      ctx.failure = new Error(`undecodable event: ${decoded.reason}`);
      const where = { subject: message.subject, stream_seq: message.streamSequence };
      ctx.log.error({ ...where, reason: decoded.reason }, 'undecodable message: dead-lettered and terminated');
      if (await settle.deadLetter(decoded.reason)) {
        settle.term();
      } else if (message.deliveryCount >= consumer.settings.maxDeliver) {
        ctx.log.error(where, 'dead-lettering failed on the last delivery: message dropped');
        settle.term();
      } else {
        ctx.log.warn(where, 'dead-lettering failed: will retry');
        settle.nak(backoffDelay(consumer.settings.backoffMs, message.deliveryCount));
      }
      return;
    }
    ctx.event = decoded;
    ctx.log = ctx.log.child({ run_id: decoded.run_id, ...('lead_id' in decoded ? { lead_id: decoded.lead_id } : {}) });
    await next();
  };
}
