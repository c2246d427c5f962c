/**
 * The providers' status, shared by every process through one NATS KV bucket (default
 * `aga-providers`), so that a 402 seen by one worker pauses them all and the HTTP edge, which
 * calls no provider, can still say "research paused: provider out of credit".
 *
 * Keys, one per provider role:
 * - `pause.<role>`: `{ reason, since, probeAt }` while the account is out of credit. Written
 *   with create (the first process to see a 402 wins), moved on by compare-and-set when a process
 *   claims the next probe, deleted (compare-and-set) when a probe call succeeds. A watch keeps
 *   each process's copy current, so a consumer's gate reads it without a round trip.
 * - `circuit.<role>`: `{ since, until }` while a process's breaker is open (until it turns
 *   half-open), deleted when it closes. Only for display: each process's breaker decides for
 *   itself. The last process to write wins, which is sound because they all watch the same
 *   provider; a record left by a process that died is ignored a minute after its `until`.
 *
 * The bucket keeps one value per key and no age limit: a pause lasts until a probe succeeds,
 * however long that takes. provider-budget.ts keeps its keys in the same bucket.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import * as v from 'valibot';
import type { Log } from '../../ports/logger.port.ts';
import { PROVIDER_ROLES, type ProviderRole, type ProviderStatus, type ProviderStatusReader } from '../../ports/provider-gate.port.ts';
import type { ProviderBoard, ProviderPause } from '../providers/resilience/shared-state.ts';

export const DEFAULT_PROVIDER_BUCKET = 'aga-providers';

/** Shown while a breaker is open. */
export const CIRCUIT_OPEN_REASON = 'provider unavailable';

/** How long after its `until` a circuit record still counts: covers the half-open trial call. */
const CIRCUIT_RECORD_GRACE_MS = 60_000;
/** Pause before a failed watch is started again. */
const WATCH_RETRY_MS = 1_000;

const PauseValue = v.object({ reason: v.string(), since: v.number(), probeAt: v.number() });
const CircuitValue = v.object({ since: v.number(), until: v.number() });

const pauseKey = (role: ProviderRole) => `pause.${role}`;
const circuitKey = (role: ProviderRole) => `circuit.${role}`;

/** Opens the providers' bucket, creating it on first use. */
export function openProviderBucket(nc: NatsConnection, bucket: string = DEFAULT_PROVIDER_BUCKET): Promise<KV> {
  return new Kvm(nc).create(bucket, { history: 1, description: 'Provider pauses, circuit states and rate budgets shared by the workers' });
}

/** True when a compare-and-set write lost: the key is not at the revision the writer read. */
export function isWrongRevision(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Hands the current value, then every change, of the keys matching `key` to `onEntry` until
 * stopped. After a failure (a broker restart) the watch starts again, from the current values,
 * so a process never misses a pause or a hold. `onEntry` must take a value it already has.
 */
export function watchKeys(kv: KV, key: string, onEntry: (entry: KvEntry) => void, log: Log): { stop(): void } {
  let stopped = false;
  let failing = false;
  let current: { stop(): void } | undefined;
  void (async () => {
    while (!stopped) {
      try {
        const watch = await kv.watch({ key, include: KvWatchInclude.LastValue });
        current = watch;
        if (stopped) watch.stop();
        failing = false;
        for await (const entry of watch) onEntry(entry);
      } catch (error) {
        // Once per outage, not once a second.
        if (!stopped && !failing) log.warn({ key, error: error instanceof Error ? error.message : String(error) }, 'provider state watch failed; starting it again');
        failing = true;
      }
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, WATCH_RETRY_MS));
    }
  })();
  return {
    stop() {
      stopped = true;
      current?.stop();
    },
  };
}

/** The status the edge shows: read from the bucket on each call, no watch. */
export class NatsProviderStatusReader implements ProviderStatusReader {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(nc: NatsConnection, options: { bucket?: string } = {}): Promise<NatsProviderStatusReader> {
    return new NatsProviderStatusReader(await openProviderBucket(nc, options.bucket));
  }

  current(): Promise<ProviderStatus[]> {
    const now = Date.now();
    return Promise.all(
      PROVIDER_ROLES.map(async (role): Promise<ProviderStatus> => {
        const [pause, circuit] = await Promise.all([readValue(this.#kv, pauseKey(role), PauseValue), readValue(this.#kv, circuitKey(role), CircuitValue)]);
        if (pause !== undefined) return { provider: role, state: 'paused', reason: pause.reason, since: new Date(pause.since).toISOString() };
        if (circuit !== undefined && circuit.until + CIRCUIT_RECORD_GRACE_MS > now) {
          return { provider: role, state: 'circuit_open', reason: CIRCUIT_OPEN_REASON, since: new Date(circuit.since).toISOString() };
        }
        return { provider: role, state: 'ok', reason: null, since: null };
      }),
    );
  }
}

/** The board the workers share: the reader plus the pauses, kept current by a watch, and the writes. */
export class NatsProviderStatus extends NatsProviderStatusReader implements ProviderBoard {
  readonly #kv: KV;
  /** The last revision seen per role, with the pause it holds (undefined once ended). */
  readonly #pauses = new Map<ProviderRole, { revision: number; pause: ProviderPause | undefined }>();
  readonly #listeners = new Set<() => void>();
  #watch: { stop(): void } | undefined;

  private constructor(kv: KV) {
    super(kv);
    this.#kv = kv;
  }

  /** Opens the bucket and loads the current pauses; close() stops the watch. */
  static override async open(nc: NatsConnection, options: { bucket?: string; log: Log }): Promise<NatsProviderStatus> {
    const board = new NatsProviderStatus(await openProviderBucket(nc, options.bucket));
    await board.#start(options.log);
    return board;
  }

  pauseOf(role: ProviderRole): ProviderPause | undefined {
    return this.#pauses.get(role)?.pause;
  }

  async pause(role: ProviderRole, reason: string, probeAfterMs: number): Promise<void> {
    if (this.pauseOf(role) !== undefined) return;
    const since = Date.now();
    const value = { reason, since, probeAt: since + probeAfterMs };
    try {
      const revision = await this.#kv.create(pauseKey(role), JSON.stringify(value));
      this.#apply(role, revision, { ...value, revision });
    } catch (error) {
      // Another process paused it first; the watch brings its record.
      if (!isWrongRevision(error)) throw error;
    }
  }

  /** The deletion reaches this process's copy through the watch, as every other process's. */
  async resume(role: ProviderRole, pause: ProviderPause): Promise<void> {
    try {
      await this.#kv.delete(pauseKey(role), { previousSeq: pause.revision });
    } catch (error) {
      if (!isWrongRevision(error)) throw error;
    }
  }

  async claimProbe(role: ProviderRole, pause: ProviderPause, intervalMs: number): Promise<boolean> {
    const value = { reason: pause.reason, since: pause.since, probeAt: Date.now() + intervalMs };
    try {
      const revision = await this.#kv.update(pauseKey(role), JSON.stringify(value), pause.revision);
      this.#apply(role, revision, { ...value, revision });
      return true;
    } catch (error) {
      if (isWrongRevision(error)) return false;
      throw error;
    }
  }

  async recordCircuit(role: ProviderRole, open: { readonly since: number; readonly until: number } | null): Promise<void> {
    if (open === null) await this.#kv.delete(circuitKey(role));
    else await this.#kv.put(circuitKey(role), JSON.stringify({ since: open.since, until: open.until }));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#watch?.stop();
    this.#listeners.clear();
  }

  /** Reads the pauses before open() returns; the watch replays the current values as it starts, so nothing in between is missed. */
  async #start(log: Log): Promise<void> {
    this.#watch = watchKeys(this.#kv, 'pause.*', (entry) => this.#applyEntry(entry), log);
    for (const role of PROVIDER_ROLES) {
      const entry = await this.#kv.get(pauseKey(role));
      if (entry !== null) this.#applyEntry(entry);
    }
  }

  #applyEntry(entry: KvEntry): void {
    const role = PROVIDER_ROLES.find((candidate) => entry.key === pauseKey(candidate));
    if (role === undefined) return;
    const value = entry.operation === 'PUT' ? parseEntry(entry, PauseValue) : undefined;
    this.#apply(role, entry.revision, value === undefined ? undefined : { ...value, revision: entry.revision });
  }

  /** Keeps the newest revision only: the watch also delivers what this process's own writes applied. */
  #apply(role: ProviderRole, revision: number, pause: ProviderPause | undefined): void {
    const seen = this.#pauses.get(role);
    if (seen !== undefined && seen.revision >= revision) return;
    this.#pauses.set(role, { revision, pause });
    for (const listener of this.#listeners) listener();
  }
}

async function readValue<T>(kv: KV, key: string, schema: v.GenericSchema<unknown, T>): Promise<T | undefined> {
  const entry = await kv.get(key);
  return entry === null || entry.operation !== 'PUT' ? undefined : parseEntry(entry, schema);
}

/** A value that does not parse counts as absent: a stray write must not wedge the pipeline. */
export function parseEntry<T>(entry: KvEntry, schema: v.GenericSchema<unknown, T>): T | undefined {
  try {
    const parsed = v.safeParse(schema, entry.json());
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}
