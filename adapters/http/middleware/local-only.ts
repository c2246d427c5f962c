/**
 * The edge of `npm run dev` (LOCAL_SIGN_IN=true): a server for the browser of the machine it runs
 * on. Its JWT secret is the public one of `.env.development`, so whoever reaches it can mint any
 * user's token: it listens on 127.0.0.1 only (src/compose.ts), and this middleware answers only
 * requests that name a loopback host, so that a web page whose DNS name an attacker rebinds to
 * 127.0.0.1 (DNS rebinding: the browser then calls this server as that page's own origin) gets
 * nothing from any route, the API's included.
 */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A loopback host name: `localhost`, `127.0.0.1` or `[::1]` (as URL.hostname writes it). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

/** The request named a loopback host, in its Host header and in the URL it is served as. */
export function namesLoopbackHost(c: Context<AppEnv>): boolean {
  const host = c.req.header('host');
  if (host === undefined) return false;
  let named: string;
  try {
    named = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  return isLoopbackHost(named) && isLoopbackHost(new URL(c.req.url).hostname);
}

/** The socket's peer is this machine (127.0.0.0/8 or ::1); false when there is no socket to ask. */
export function fromLoopbackPeer(c: Context<AppEnv>): boolean {
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    return false;
  }
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

/** Every route: 403 unless the request named a loopback host (see the module's comment). */
export function loopbackHostOnly() {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!namesLoopbackHost(c)) {
      throw new ProblemError(
        403,
        'This server runs for local development (LOCAL_SIGN_IN=true) and answers only http://localhost, http://127.0.0.1 or http://[::1] on its own machine.',
      );
    }
    await next();
  });
}
