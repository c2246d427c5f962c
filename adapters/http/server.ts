import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv } from './context.ts';

export interface HttpServerOptions {
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly hostname?: string;
  /** How long `close()` waits for requests in flight before cutting their connections. */
  readonly shutdownGraceMs?: number;
}

export interface RunningHttpServer {
  /** The port actually bound. */
  readonly port: number;
  /** Stops accepting connections, lets requests in flight finish (up to the grace period), then resolves. */
  close(): Promise<void>;
}

/** Serves the app over HTTP/1.1 and resolves once the port is bound (rejects when it cannot be). */
export function startHttpServer(app: Hono<AppEnv>, options: HttpServerOptions): Promise<RunningHttpServer> {
  const graceMs = options.shutdownGraceMs ?? 10_000;
  return new Promise((resolve, reject) => {
    // Without a `createServer` option, serve() creates a node:http Server.
    const server = serve(
      { fetch: app.fetch, port: options.port, ...(options.hostname === undefined ? {} : { hostname: options.hostname }) },
      (address) => {
        server.off('error', reject);
        resolve({ port: address.port, close: () => closeGracefully(server, graceMs) });
      },
    ) as Server;
    server.once('error', reject);
  });
}

function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    deadline.unref();
    server.close((error) => {
      clearTimeout(deadline);
      if (error) reject(error);
      else resolve();
    });
    // Keep-alive connections with no request in flight would otherwise hold close() open.
    server.closeIdleConnections();
  });
}
