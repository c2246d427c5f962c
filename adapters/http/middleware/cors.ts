import { cors } from 'hono/cors';

/** Only the methods the API serves. */
const METHODS = ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * CORS for the browser app: exact origins only (no wildcard), no credentials (the API takes a
 * bearer token, not cookies). A disallowed origin gets no Access-Control-Allow-* answer at all.
 */
export function corsPolicy(origins: readonly string[]) {
  const allowed = new Set(origins);
  return cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: (origin) => (allowed.has(origin) ? METHODS : []),
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'Idempotency-Key'],
    // Retry-After: a browser app reads when to retry a submission refused by a quota.
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'Idempotent-Replayed'],
    maxAge: 600,
  });
}
