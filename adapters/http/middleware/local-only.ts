/**
 * Whether a request comes from this machine and names it: the local sign-in's checks
 * (LOCAL_SIGN_IN=true, `npm run dev`).
 */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { AppEnv } from '../context.ts';

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
