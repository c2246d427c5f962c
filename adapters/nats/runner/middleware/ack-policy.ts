/**
 * Settles the message by the handler's outcome: ack on success; on failure, what the consumer's
 * classification says (FailureVerdict):
 * - `give_up`: the handler's `giveUp` settles the event for good, then ack;
 * - `retry`: nak with the error's delay or the consumer's backoff, until the last delivery, which
 *   gives up with the error's message;
 * - `wait`: the event is not at fault (an outside API pushed back): nak with the delay asked; on
 *   the last delivery JetStream would not deliver it again, so a fresh copy is published and this
 *   one acked (the copy counts its deliveries from one). The copy reaches every consumer of that
 *   subject, as any redelivery may: handlers are idempotent. Should the copy fail, the message is
 *   terminated and the reconciler re-drives its work from the database.
 * A `giveUp` that fails is retried (nak with backoff). A message released by a stopping process is
 * already settled: its handler's abort is not a failure.
 */
import { backoffDelay, errorMessage, handlerContext, type MessageContext, type Middleware } from './types.ts';

export const ackPolicy: Middleware = async (ctx, next) => {
  try {
    await next();
    ctx.settle.ack();
    return;
  } catch (error) {
    if (ctx.settle.settled) return;
    ctx.failure = error;
    await settleFailure(ctx, error);
  }
};

async function settleFailure(ctx: MessageContext, error: unknown): Promise<void> {
  const { consumer, message, settle, log } = ctx;
  const { maxDeliver, backoffMs } = consumer.settings;
  const delivery = message.deliveryCount;
  const reason = errorMessage(error);
  const fields = { error: reason, error_name: error instanceof Error ? error.name : typeof error, delivery };
  const verdict = consumer.classify(error);
  if (verdict.action === 'give_up') {
    log.warn(fields, 'handler failed permanently: giving up');
    await giveUp(ctx, reason);
  } else if (verdict.action === 'wait') {
    if (delivery < maxDeliver) {
      log.info({ ...fields, retry_in_ms: verdict.afterMs }, 'outside API pushed back: will retry, never giving up for it');
      settle.nak(verdict.afterMs);
    } else if (await settle.requeue()) {
      log.warn(fields, 'outside API pushed back on the last delivery: message requeued, not given up');
    } else {
      log.error(fields, 'requeue failed: message terminated, the reconciler re-drives its work');
    }
  } else if (delivery >= maxDeliver) {
    log.error(fields, 'handler failed on its last delivery: giving up');
    await giveUp(ctx, reason);
  } else {
    const delayMs = verdict.afterMs ?? backoffDelay(backoffMs, delivery);
    log.warn({ ...fields, retry_in_ms: delayMs }, 'handler failed: will retry');
    settle.nak(delayMs);
  }
}

async function giveUp(ctx: MessageContext, reason: string): Promise<void> {
  const { consumer, settle, message, log } = ctx;
  try {
    await consumer.giveUp(ctx.event!, reason, handlerContext(ctx));
    settle.ack();
  } catch (error) {
    // On the last delivery the broker will not redeliver it: the reconciler re-drives its work.
    log.error({ error: errorMessage(error), delivery: message.deliveryCount }, 'giveUp failed: will retry');
    settle.nak(backoffDelay(consumer.settings.backoffMs, message.deliveryCount));
  }
}
