/**
 * A TCP port on 127.0.0.1 that was free a moment ago and has nothing listening on it now: bound by
 * the OS, then released. For private servers the scripts and tests start (and for "nobody listens
 * here" in tests). Another process could take it in between; the callers retry or fail loudly.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
