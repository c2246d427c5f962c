import { createMiddleware } from 'hono/factory';
import type { TokenVerifier } from '../../../ports/token-verifier.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';

/** `Bearer <token>`; the token charset is RFC 6750's b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Requires a verified Supabase access token and puts the caller's user id on the context.
 * A missing or malformed header is answered here; a token the verifier rejects surfaces as
 * InvalidTokenError and is answered by `onError`. The token itself is never logged.
 */
export function requireUser(verifier: TokenVerifier) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = BEARER.exec(c.req.header('Authorization') ?? '')?.[1];
    if (token === undefined) {
      throw new ProblemError(401, 'Send the Supabase access token as "Authorization: Bearer <token>".', {
        'WWW-Authenticate': 'Bearer',
      });
    }
    const { userId } = await verifier.verify(token);
    c.set('userId', userId);
    c.set('logger', c.get('logger').child({ user_id: userId }));
    await next();
  });
}
