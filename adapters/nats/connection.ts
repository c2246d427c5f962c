/**
 * The NATS connection and its readiness probe. JetStream streams, consumers and the object
 * store are built on this connection by the pipeline adapters.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import type { Logger } from '../logging/logger.ts';

export interface NatsOptions {
  readonly url: string;
  readonly name: string;
  readonly logger: Logger;
}

/** Connects with unlimited reconnects: a broker restart must not take the service down. */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: options.url,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    // No stack trace captured per request: a JetStream publish is a request, and capturing one
    // for each of 100,000 lead events was a large share of an import's CPU.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const status of nc.status()) {
      // Status events carry server addresses, never credentials.
      options.logger.info({ nats_status: status.type }, 'nats connection status changed');
    }
  })();
  return nc;
}

/** Ready when the server answers and JetStream is enabled for this account. */
export class NatsReadinessProbe implements ReadinessProbe {
  readonly name = 'nats';
  readonly #nc: NatsConnection;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  async check(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#nc.isClosed()) throw new Error('connection closed');
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true });
    });
    await Promise.race([
      (async () => {
        const jsm = await jetstreamManager(this.#nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
      })(),
      aborted,
    ]);
  }
}
