/**
 * The outside APIs' status, shared by every process through one NATS KV bucket (default
 * `aga-providers`, the name it had when only the two providers used it, kept so a deployment's
 * state survives), so that an account failure seen by one worker pauses them all and the HTTP
 * edge, which calls no API, can still say "research paused: provider out of credit".
 *
 * Keys, one per API name (`research`, `personalization`, `webhook`, ...):
 * - `pause.<api>`: `{ reason, since, probeAt }` while the API is paused for an account-level
 *   failure (out of credit, key rejected, unknown model). Written with create (the first process
 *   to see the failure wins), moved on by compare-and-set when a process claims the next probe
 *   or a new failure changes the reason, deleted (compare-and-set) when a probe call succeeds. A
 *   watch keeps each process's copy current, so a gate reads it without a round trip.
 * - `circuit.<api>`: `{ since, until }` while a process's breaker is open (until it turns
 *   half-open), deleted when it closes. Only for display: each process's breaker decides for
 *   itself. The last process to write wins, which is sound because they all watch the same
 *   API; a record left by a process that died is ignored a minute after its `until`.
 *
 * The bucket keeps one value per key and no age limit: a pause lasts until a probe succeeds,
 * however long that takes. api-budget.ts keeps its keys in the same bucket.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import * as v from 'valibot';
import type { Log } from '../../ports/logger.port.ts';
import { isOutsideApiName, type AccountFailure, type ApiPause, type ApiStatus, type ApiStatusReader, type OutsideApiName, type PauseBoard } from '../../ports/outside-api.port.ts';

/** The bucket's name since it held the two providers' state only; kept so that deployed state is kept. */
export const DEFAULT_API_BUCKET = 'aga-providers';

/** Shown while a breaker is open. */
export const CIRCUIT_OPEN_REASON = 'provider unavailable';

/** How long after its `until` a circuit record still counts: covers the half-open trial call. */
const CIRCUIT_RECORD_GRACE_MS = 60_000;
/** How long the edge waits for the bucket before it shows the APIs' state as unknown. */
const STATUS_READ_TIMEOUT_MS = 1_000;
/** Shown when the shared state cannot be read. */
export const STATUS_UNKNOWN_REASON = 'state unavailable: the message broker cannot be reached';

/** Pause before a failed watch is started again. */
const WATCH_RETRY_MS = 1_000;

const ACCOUNT_FAILURES = ['out_of_credit', 'unauthorized', 'unknown_model'] as const satisfies readonly AccountFailure[];
/** A record written before pauses said their failure was a 402's: the only one that paused then. */
const PauseValue = v.object({
  failure: v.optional(v.picklist(ACCOUNT_FAILURES), 'out_of_credit'),
  reason: v.string(),
  since: v.number(),
  probeAt: v.number(),
});
type PauseRecord = Omit<ApiPause, 'revision'>;
const CircuitValue = v.object({ since: v.number(), until: v.number() });

const PAUSE_PREFIX = 'pause.';
const pauseKey = (api: OutsideApiName) => `${PAUSE_PREFIX}${api}`;
const circuitKey = (api: OutsideApiName) => `circuit.${api}`;

/** The rate budget's keys (written by api-budget.ts): the next call's earliest start, and a 429's hold. */
export const PaceValue = v.object({ next: v.number() });
export const HoldValue = v.object({ until: v.number() });
export const HOLD_PREFIX = 'hold.';
export const paceKey = (api: OutsideApiName) => `pace.${api}`;
export const holdKey = (api: OutsideApiName) => `${HOLD_PREFIX}${api}`;

/**
 * Throws unless `api` can be one token of a KV key: `pause.<api>` must not hold another `.` (the
 * watches match `pause.*`), and KV keys allow few characters.
 */
export function assertApiName(api: OutsideApiName): void {
  if (!isOutsideApiName(api)) throw new RangeError(`an outside API's name must be 1 to 64 letters, digits, '_' or '-' (got ${JSON.stringify(api)})`);
}

/** Opens the outside APIs' bucket, creating it on first use. */
export function openApiBucket(nc: NatsConnection, bucket: string = DEFAULT_API_BUCKET, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(bucket, { history: 1, replicas, description: 'Outside API pauses, circuit states and rate budgets shared by the workers' });
}

/** The API a key of the form `<prefix><api>` is about; undefined for any other key. */
export function apiOfKey(key: string, prefix: string): OutsideApiName | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const api = key.slice(prefix.length);
  return isOutsideApiName(api) ? api : undefined;
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
        if (!stopped && !failing) log.warn({ key, error: error instanceof Error ? error.message : String(error) }, 'outside API state watch failed; starting it again');
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

/** The requests-a-minute cap of each API that has one (all processes together), as configured. */
export type ApiRates = Readonly<Record<OutsideApiName, number | undefined>>;

/**
 * The status the edge shows, of the APIs it was opened for: read from the bucket on each call, no
 * watch. For an API with a rate cap it also reads the shared budget: how far ahead calls have
 * taken their turns, and a 429's hold.
 */
export class NatsApiStatusReader implements ApiStatusReader {
  readonly #kv: KV;
  readonly #apis: readonly OutsideApiName[];
  readonly #rpm: ApiRates;

  constructor(kv: KV, apis: readonly OutsideApiName[], rpm: ApiRates = {}) {
    for (const api of apis) assertApiName(api);
    this.#kv = kv;
    this.#apis = [...apis];
    this.#rpm = { ...rpm };
  }

  /**
   * `apis`: the APIs to report, in order (the edge calls none, so it is told which exist); `rpm`:
   * their caps, as the workers have them configured (0 or absent: none).
   */
  static async open(nc: NatsConnection, options: { bucket?: string; apis: readonly OutsideApiName[]; rpm?: ApiRates }): Promise<NatsApiStatusReader> {
    return new NatsApiStatusReader(await openApiBucket(nc, options.bucket), options.apis, options.rpm);
  }

  /**
   * Never fails: an API whose state cannot be read within STATUS_READ_TIMEOUT_MS (NATS down or
   * reconnecting) is `unknown`, so that a run's status, read from PostgreSQL, still answers.
   */
  async current(): Promise<ApiStatus[]> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), STATUS_READ_TIMEOUT_MS);
    });
    try {
      const read = await Promise.race([this.#read(), timedOut]);
      if (read !== 'timeout') return read;
    } catch {
      // The connection is closed or the bucket unreachable: said below, without the error's text.
    } finally {
      clearTimeout(timer);
    }
    return this.#apis.map((api) => ({ api, state: 'unknown', reason: STATUS_UNKNOWN_REASON, since: null }));
  }

  #read(): Promise<ApiStatus[]> {
    const now = Date.now();
    return Promise.all(
      this.#apis.map(async (api): Promise<ApiStatus> => {
        const [pause, circuit, budget] = await Promise.all([
          readValue(this.#kv, pauseKey(api), PauseValue),
          readValue(this.#kv, circuitKey(api), CircuitValue),
          this.#budget(api, now),
        ]);
        if (pause !== undefined) return { api, state: 'paused', reason: pause.reason, since: new Date(pause.since).toISOString(), ...budget };
        if (circuit !== undefined && circuit.until + CIRCUIT_RECORD_GRACE_MS > now) {
          return { api, state: 'circuit_open', reason: CIRCUIT_OPEN_REASON, since: new Date(circuit.since).toISOString(), ...budget };
        }
        return { api, state: 'ok', reason: null, since: null, ...budget };
      }),
    );
  }

  /** The API's cap and, from the shared budget, the turns taken ahead of now and a hold in force. */
  async #budget(api: OutsideApiName, now: number): Promise<Pick<ApiStatus, 'rpm' | 'pacedUntil' | 'heldUntil'>> {
    const rpm = this.#rpm[api];
    const capped = rpm !== undefined && rpm > 0;
    const [pace, hold] = await Promise.all([capped ? readValue(this.#kv, paceKey(api), PaceValue) : undefined, readValue(this.#kv, holdKey(api), HoldValue)]);
    const future = (time: number | undefined) => (time !== undefined && time > now ? new Date(time).toISOString() : null);
    return { rpm: capped ? rpm : null, pacedUntil: future(pace?.next), heldUntil: future(hold?.until) };
  }
}

/**
 * The board the workers share: the reader plus the pauses of every API (whatever its name), kept
 * current by a watch, and the writes.
 */
export class NatsPauseBoard extends NatsApiStatusReader implements PauseBoard {
  readonly #kv: KV;
  /** The last revision seen per API, with the pause it holds (undefined once ended). */
  readonly #pauses = new Map<OutsideApiName, { revision: number; pause: ApiPause | undefined }>();
  readonly #listeners = new Set<() => void>();
  #watch: { stop(): void } | undefined;

  private constructor(kv: KV, apis: readonly OutsideApiName[]) {
    super(kv, apis);
    this.#kv = kv;
  }

  /**
   * Opens the bucket and loads the current pauses of `apis` (those it reports; any other API's
   * pause arrives through the watch); close() stops the watch.
   */
  static override async open(nc: NatsConnection, options: { bucket?: string; apis: readonly OutsideApiName[]; log: Log }): Promise<NatsPauseBoard> {
    const board = new NatsPauseBoard(await openApiBucket(nc, options.bucket), options.apis);
    await board.#start(options.apis, options.log);
    return board;
  }

  pauseOf(api: OutsideApiName): ApiPause | undefined {
    return this.#pauses.get(api)?.pause;
  }

  async pause(api: OutsideApiName, cause: { readonly failure: AccountFailure; readonly reason: string }, probeAfterMs: number): Promise<void> {
    const { failure, reason } = cause;
    const current = this.pauseOf(api);
    if (current !== undefined) {
      if (current.failure !== failure || current.reason !== reason) await this.#replace(api, current, { failure, reason, since: current.since, probeAt: current.probeAt });
      return;
    }
    const since = Date.now();
    const value: PauseRecord = { failure, reason, since, probeAt: since + probeAfterMs };
    try {
      const revision = await this.#kv.create(pauseKey(api), JSON.stringify(value));
      this.#apply(api, revision, { ...value, revision });
    } catch (error) {
      // Another process paused it first; the watch brings its record.
      if (!isWrongRevision(error)) throw error;
    }
  }

  /** The deletion reaches this process's copy through the watch, as every other process's. */
  async resume(api: OutsideApiName, pause: ApiPause): Promise<void> {
    try {
      await this.#kv.delete(pauseKey(api), { previousSeq: pause.revision });
    } catch (error) {
      if (!isWrongRevision(error)) throw error;
    }
  }

  claimProbe(api: OutsideApiName, pause: ApiPause, intervalMs: number): Promise<boolean> {
    return this.#replace(api, pause, { failure: pause.failure, reason: pause.reason, since: pause.since, probeAt: Date.now() + intervalMs });
  }

  async recordCircuit(api: OutsideApiName, open: { readonly since: number; readonly until: number } | null): Promise<void> {
    if (open === null) await this.#kv.delete(circuitKey(api));
    else await this.#kv.put(circuitKey(api), JSON.stringify({ since: open.since, until: open.until }));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#watch?.stop();
    this.#listeners.clear();
  }

  /** Writes `value` over `pause` with compare-and-set: false when the record moved on meanwhile. */
  async #replace(api: OutsideApiName, pause: ApiPause, value: PauseRecord): Promise<boolean> {
    try {
      const revision = await this.#kv.update(pauseKey(api), JSON.stringify(value), pause.revision);
      this.#apply(api, revision, { ...value, revision });
      return true;
    } catch (error) {
      if (isWrongRevision(error)) return false;
      throw error;
    }
  }

  /** Reads the pauses before open() returns; the watch replays the current values as it starts, so nothing in between is missed. */
  async #start(apis: readonly OutsideApiName[], log: Log): Promise<void> {
    this.#watch = watchKeys(this.#kv, `${PAUSE_PREFIX}*`, (entry) => this.#applyEntry(entry), log);
    for (const api of apis) {
      const entry = await this.#kv.get(pauseKey(api));
      if (entry !== null) this.#applyEntry(entry);
    }
  }

  #applyEntry(entry: KvEntry): void {
    const api = apiOfKey(entry.key, PAUSE_PREFIX);
    if (api === undefined) return;
    const value = entry.operation === 'PUT' ? parseEntry(entry, PauseValue) : undefined;
    this.#apply(api, entry.revision, value === undefined ? undefined : { ...value, revision: entry.revision });
  }

  /** Keeps the newest revision only: the watch also delivers what this process's own writes applied. */
  #apply(api: OutsideApiName, revision: number, pause: ApiPause | undefined): void {
    const seen = this.#pauses.get(api);
    if (seen !== undefined && seen.revision >= revision) return;
    this.#pauses.set(api, { revision, pause });
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
