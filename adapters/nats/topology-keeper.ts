/**
 * Keeps a process's JetStream topology in place while it runs. The stream, the dead-letter
 * stream, the durable consumers this process runs and the buckets (the outside APIs' KV, the
 * uploaded files' object store) are provisioned at start-up; a broker that loses its store (a
 * power cut with a lax fsync, a server restarted on an empty disk) loses them all, and every
 * publish, pull and bucket read fails from then on. The keeper looks every `intervalMs` and, when
 * anything is missing, provisions it all again (every step is idempotent), so the process heals
 * without a restart.
 *
 * It is also a readiness probe: `/readyz` says not ready while something is missing (and starts
 * the repair at once), instead of 200 over a process that cannot do its work.
 *
 * What the lost streams held is gone: the reconciler notices the stream's new identity and
 * re-drives the unfinished work from PostgreSQL (src/app/reconciler.ts).
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../../ports/logger.port.ts';
import { RecoveringError, type ReadinessProbe } from '../../ports/readiness.port.ts';

export interface KeptTopology {
  /** Streams that must exist (buckets are streams too: `KV_<bucket>`, `OBJ_<bucket>`). */
  readonly streams: readonly string[];
  /** Durable consumers that must exist, by stream. */
  readonly consumers: ReadonlyMap<string, readonly string[]>;
  /** Creates whatever is missing, leaving what exists as it is. */
  readonly provision: () => Promise<void>;
}

export interface TopologyKeeperOptions {
  readonly log: Log;
  /** How often it looks (default 2 s). */
  readonly intervalMs?: number;
}

const DEFAULT_INTERVAL_MS = 2_000;

/** The stream behind a KV bucket. */
export function kvStreamName(bucket: string): string {
  return `KV_${bucket}`;
}

/** The stream behind an object store bucket. */
export function objectStreamName(bucket: string): string {
  return `OBJ_${bucket}`;
}

export class TopologyKeeper implements ReadinessProbe {
  readonly name = 'nats-topology';
  readonly #nc: NatsConnection;
  readonly #kept: KeptTopology;
  readonly #log: Log;
  readonly #intervalMs: number;
  #jsm: Promise<JetStreamManager> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #repairing: Promise<void> | undefined;
  #looking: Promise<unknown> | undefined;

  constructor(nc: NatsConnection, kept: KeptTopology, options: TopologyKeeperOptions) {
    this.#nc = nc;
    this.#kept = kept;
    this.#log = options.log;
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** Looks every `intervalMs` (never twice at once) until `stop`; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#looking !== undefined || this.#nc.isClosed()) return;
      this.#looking = this.keep()
        .catch(() => {}) // the broker unreachable: the connection logs it, and the next look tries again
        .finally(() => {
          this.#looking = undefined;
        });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#looking;
    await this.#repairing?.catch(() => {});
  }

  /** One look: what is missing (empty: nothing), repaired before it resolves. */
  async keep(): Promise<readonly string[]> {
    const missing = await this.missing();
    if (missing.length > 0) await this.#repair(missing);
    return missing;
  }

  /** Not ready while anything is missing; the repair starts at once. */
  async check(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const missing = await this.missing();
    if (missing.length === 0) return;
    this.#repair(missing).catch(() => {});
    throw new RecoveringError(`the broker lost ${missing.join(', ')}: provisioning again`);
  }

  /** The streams and consumers that should exist and do not. */
  async missing(): Promise<readonly string[]> {
    const jsm = await this.#manager();
    const streams = new Set<string>();
    for await (const name of jsm.streams.names()) streams.add(name);
    const missing = this.#kept.streams.filter((name) => !streams.has(name)).map((name) => `stream ${name}`);
    for (const [stream, names] of this.#kept.consumers) {
      if (!streams.has(stream)) {
        missing.push(...names.map((name) => `consumer ${name}`));
        continue;
      }
      const present = new Set<string>();
      for await (const info of jsm.consumers.list(stream)) present.add(info.name);
      missing.push(...names.filter((name) => !present.has(name)).map((name) => `consumer ${name}`));
    }
    return missing;
  }

  /** One repair at a time, whoever asks. */
  #repair(missing: readonly string[]): Promise<void> {
    this.#repairing ??= (async () => {
      this.#log.error({ missing }, 'the broker lost part of the topology: provisioning it again');
      try {
        await this.#kept.provision();
        this.#log.info({ provisioned: missing }, 'topology provisioned again');
      } catch (error) {
        this.#log.error({ error: error instanceof Error ? error.message : String(error) }, 'provisioning the topology again failed; trying again');
        throw error;
      } finally {
        this.#repairing = undefined;
      }
    })();
    return this.#repairing;
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.#nc, { timeout: 2_000 }).catch((error: unknown) => {
      this.#jsm = undefined;
      throw error;
    });
    return this.#jsm;
  }
}
