/**
 * Webhook test helpers: the Standard Webhooks reference test vector, and a real HTTP receiver on
 * 127.0.0.1 (port 0) that records every request and answers as each test tells it.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * From the Standard Webhooks reference implementation's test "sign function works":
 * github.com/standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts
 * (commit 10d3e46d720c4e5861a792bec25792a04ad4e2b3). Its secret decodes to 24 bytes, the
 * specification's minimum.
 */
export const STANDARD_WEBHOOKS_VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
} as const;

export interface ReceivedRequest {
  readonly method: string;
  /** Path and query string, as the receiver saw them. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** How the receiver answers: a status (with headers and a body), or never (`hang`). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string | Buffer } | 'hang';

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  readonly received: ReceivedRequest[];
  /** TCP connections accepted so far: a refused delivery must not even connect. */
  readonly connections: number;
  /** The answer to every following request (200 with an empty body until set). */
  answer(answer: Answer): void;
  /** Forgets what was received and answers 200 again. */
  reset(): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  let current: Answer = { status: 200 };
  const server: Server = createServer((request, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (current === 'hang') return;
      response.writeHead(current.status, current.headers ?? {});
      response.end(current.body ?? '');
    });
  });
  let connections = 0;
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    received,
    get connections() {
      return connections;
    },
    answer(answer) {
      current = answer;
    },
    reset() {
      received.length = 0;
      connections = 0;
      current = { status: 200 };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
