import { createMiddleware } from 'hono/factory';
import type { Logger } from '../../logging/logger.ts';
import type { AppEnv } from '../context.ts';

/**
 * Gives each request a child logger carrying its request id, and writes one access line when
 * the request ends. The line holds the method, the path without its query string, the status
 * and the duration: never headers, bodies or query values, which may carry tokens or emails.
 * Runs after the request-id middleware.
 */
export function requestLogging(root: Logger) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    c.set('logger', root.child({ request_id: c.get('requestId') }));
    await next();
    // Read back: the auth middleware may have replaced it with a child that names the user.
    c.get('logger').info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'request completed',
    );
  });
}
