/**
 * Records every delivery with OpenTelemetry's messaging conventions: the consumed-messages counter
 * and the processing duration, by consumer (`messaging.consumer.group.name`, the durable) and
 * subject (`messaging.destination.name`), with `error.type` when handling failed. Outermost, so
 * the duration is the whole delivery's. Subjects and consumer names only: never an id.
 */
import type { Middleware } from './types.ts';

/** Where a delivery is recorded (the runner gives the OpenTelemetry instruments). */
export interface DeliveryMeter {
  /** One message handled in `seconds`, with its attributes. */
  record(attributes: Readonly<Record<string, string>>, seconds: number): void;
}

export function metering(meter: () => DeliveryMeter, errorType: (error: unknown) => string): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    let thrown: unknown;
    try {
      await next();
    } catch (error) {
      thrown = error;
      throw error;
    } finally {
      const failure = ctx.failure ?? thrown;
      meter().record({
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.destination.name': ctx.message.subject,
        'messaging.consumer.group.name': ctx.durableName,
        ...(failure === undefined ? {} : { 'error.type': errorType(failure) }),
      }, (performance.now() - started) / 1_000);
    }
  };
}
