import type { Logger } from '../logging/logger.ts';

/** What the middleware puts on every request's context (`c.get(...)`). */
export type AppEnv = {
  Variables: {
    /** The request id: the caller's `X-Request-Id` when it is a safe short token, else a fresh UUID. */
    requestId: string;
    /** The request's logger: the root logger with `request_id` (and `user_id` once authenticated). */
    logger: Logger;
    /** The verified caller's Supabase user id. Set on `/api/*` routes only, by the auth middleware. */
    userId: string;
  };
};
