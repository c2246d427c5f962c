/**
 * A CONSUMER span per delivery, child of the trace context the message carries (W3C headers), and
 * active while the rest of the chain runs: the handler's database writes, outside calls and the
 * events it commits all continue the message's trace. Attributes follow OpenTelemetry's messaging
 * conventions; run and lead ids are added once decoded (never lead data).
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { errorMessage, type InboundMessage, type Middleware } from './types.ts';

const headerGetter: TextMapGetter<InboundMessage> = {
  get: (message, key) => message.header(key),
  keys: (message) => message.headerNames(),
};

export function tracing(tracer: () => Tracer): Middleware {
  return async (ctx, next) => {
    const { message, durableName } = ctx;
    const parent = propagation.extract(ROOT_CONTEXT, message, headerGetter);
    const span = tracer().startSpan(
      `${durableName} process ${message.subject}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': message.subject,
          'messaging.consumer.group.name': durableName,
          'messaging.message.delivery_count': message.deliveryCount,
        },
      },
      parent,
    );
    ctx.traceId = span.spanContext().traceId;
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      if (ctx.event !== undefined) {
        span.setAttribute('aga.run_id', ctx.event.run_id);
        if ('lead_id' in ctx.event) span.setAttribute('aga.lead_id', ctx.event.lead_id);
      }
      if (ctx.failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(ctx.failure) });
      span.end();
    }
  };
}
