/**
 * A SERVER span at the root of every request, continuing the caller's W3C trace context
 * (`traceparent`), and active while the request is handled: the use case's database spans and the
 * events it commits (through the outbox) are its children. Attributes follow OpenTelemetry's HTTP
 * server conventions; `http.route` is the route's pattern (`/api/campaigns/runs/:runId`), never
 * the path with its ids. The query string (the event stream's `?access_token=`), the body, the
 * client's address and any other header are never recorded. A 5xx answer marks the span an error.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/** The pattern of the route that answers: the first matched handler (middleware are registered as `ALL`). */
function routeOf(c: Context): string | undefined {
  return matchedRoutes(c).find((route) => route.method !== 'ALL')?.path;
}

export function requestTracing(tracer: () => Tracer): MiddlewareHandler {
  return async (c, next) => {
    const url = new URL(c.req.url);
    const method = c.req.method;
    const route = routeOf(c);
    const userAgent = c.req.header('user-agent');
    const parent = propagation.extract(ROOT_CONTEXT, c.req.raw.headers, headerGetter);
    const span = tracer().startSpan(
      route === undefined ? method : `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.scheme': url.protocol.replace(/:$/, ''),
          'url.path': url.pathname,
          'server.address': url.hostname,
          ...(url.port === '' ? {} : { 'server.port': Number(url.port) }),
          ...(route === undefined ? {} : { 'http.route': route }),
          ...(userAgent === undefined ? {} : { 'user_agent.original': userAgent }),
        },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const status = c.res.status;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) {
        span.setAttribute('error.type', String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
  };
}
