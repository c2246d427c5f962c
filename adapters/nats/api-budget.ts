/**
 * The rate budget every worker process shares, on the outside APIs' NATS KV bucket: how each
 * API's requests-per-minute cap holds across processes.
 *
 * One key per API, `pace.<api>`, holds `{ next }`: the earliest time (epoch ms) the
 * next call may start, whichever process makes it (the "theoretical arrival time" of the generic
 * cell rate algorithm). To reserve a call a process reads the key, takes
 * `start = max(now, next, hold)`, and writes `next = start + interval` with compare-and-set on
 * the revision it read; if another process wrote first the write fails and it reads again. The
 * caller then waits until `start`. So every call to an API, from any process, starts at
 * least one interval after the one before: evenly spread, never a burst, which also satisfies
 * providers that meter a per-minute quota per second. A minute-window counter would not: it
 * allows the whole minute's budget at once.
 *
 * `hold.<api>` holds `{ until }` after a 429 with `retry-after` (the pause the provider asked
 * for): every reservation starts after it. A watch keeps each process's copy current, so calls
 * already waiting for their start time see a hold set meanwhile by another process.
 *
 * Within a process, reservations for an API are made one at a time (a queue), so processes
 * contend on the key but a process's own callers do not; the process remembers the revision it
 * wrote, so an uncontended reservation is one write.
 *
 * Times come from each process's clock: across machines the clocks must agree (NTP) to well
 * under one interval, or the spread is off by the skew.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../../ports/logger.port.ts';
import type { OutsideApiName, RateBudget } from '../../ports/outside-api.port.ts';
import { apiOfKey, HOLD_PREFIX, HoldValue, holdKey, isWrongRevision, openApiBucket, PaceValue, paceKey, parseEntry, watchKeys } from './api-status.ts';

export class NatsRateBudget implements RateBudget {
  readonly #kv: KV;
  /** The pace record this process last wrote or read, per API: tried first on the next reservation. */
  readonly #pace = new Map<OutsideApiName, { revision: number; next: number }>();
  readonly #holds = new Map<OutsideApiName, number>();
  /** The tail of each API's queue of reservations. */
  readonly #queue = new Map<OutsideApiName, Promise<unknown>>();
  #watch: { stop(): void } | undefined;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /**
   * Opens the bucket and loads the current holds of `apis` (any other API's hold arrives through
   * the watch); close() stops the watch.
   */
  static async open(nc: NatsConnection, options: { bucket?: string; apis?: readonly OutsideApiName[]; log: Log }): Promise<NatsRateBudget> {
    const budget = new NatsRateBudget(await openApiBucket(nc, options.bucket));
    budget.#watch = watchKeys(budget.#kv, `${HOLD_PREFIX}*`, (entry) => budget.#applyHold(entry), options.log);
    for (const api of options.apis ?? []) {
      const entry = await budget.#kv.get(holdKey(api));
      if (entry !== null) budget.#applyHold(entry);
    }
    return budget;
  }

  reserve(api: OutsideApiName, intervalMs: number): Promise<number> {
    const reservation = (this.#queue.get(api) ?? Promise.resolve()).then(() => this.#reserve(api, intervalMs));
    this.#queue.set(
      api,
      reservation.catch(() => {}),
    );
    return reservation;
  }

  heldUntil(api: OutsideApiName): number {
    return this.#holds.get(api) ?? 0;
  }

  async holdUntil(api: OutsideApiName, until: number): Promise<void> {
    for (;;) {
      const entry = await this.#kv.get(holdKey(api));
      const current = entry?.operation === 'PUT' ? parseEntry(entry, HoldValue)?.until ?? 0 : 0;
      if (current >= until) return;
      const value = JSON.stringify({ until });
      try {
        if (entry === null || entry.operation !== 'PUT') await this.#kv.create(holdKey(api), value);
        else await this.#kv.update(holdKey(api), value, entry.revision);
        this.#holds.set(api, Math.max(this.heldUntil(api), until));
        return;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
  }

  close(): void {
    this.#watch?.stop();
  }

  async #reserve(api: OutsideApiName, intervalMs: number): Promise<number> {
    let known = this.#pace.get(api);
    for (;;) {
      const start = Math.max(Date.now(), known?.next ?? 0, this.heldUntil(api));
      const value = JSON.stringify({ next: start + intervalMs });
      try {
        const revision = known === undefined ? await this.#kv.create(paceKey(api), value) : await this.#kv.update(paceKey(api), value, known.revision);
        this.#pace.set(api, { revision, next: start + intervalMs });
        return start;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
        known = await this.#readPace(api);
      }
    }
  }

  /** The pace record as stored; undefined when there is none yet (or only a deleted one). */
  async #readPace(api: OutsideApiName): Promise<{ revision: number; next: number } | undefined> {
    const entry = await this.#kv.get(paceKey(api));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    // An unreadable value still has a revision to overwrite; it reads as "no wait".
    return { revision: entry.revision, next: parseEntry(entry, PaceValue)?.next ?? 0 };
  }

  #applyHold(entry: KvEntry): void {
    const api = apiOfKey(entry.key, HOLD_PREFIX);
    const until = entry.operation === 'PUT' ? parseEntry(entry, HoldValue)?.until : undefined;
    if (api !== undefined && until !== undefined) this.#holds.set(api, Math.max(this.heldUntil(api), until));
  }
}
