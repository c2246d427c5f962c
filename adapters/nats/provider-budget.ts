/**
 * The rate budget every worker process shares, on the providers' NATS KV bucket: how the
 * requests-per-minute cap holds across processes.
 *
 * One key per provider role, `pace.<role>`, holds `{ next }`: the earliest time (epoch ms) the
 * next call may start, whichever process makes it (the "theoretical arrival time" of the generic
 * cell rate algorithm). To reserve a call a process reads the key, takes
 * `start = max(now, next, hold)`, and writes `next = start + interval` with compare-and-set on
 * the revision it read; if another process wrote first the write fails and it reads again. The
 * caller then waits until `start`. So every call to a provider, from any process, starts at
 * least one interval after the one before: evenly spread, never a burst, which also satisfies
 * providers that meter a per-minute quota per second. A minute-window counter would not: it
 * allows the whole minute's budget at once.
 *
 * `hold.<role>` holds `{ until }` after a 429 with `retry-after` (the pause the provider asked
 * for): every reservation starts after it. A watch keeps each process's copy current, so calls
 * already waiting for their start time see a hold set meanwhile by another process.
 *
 * Within a process, reservations for a role are made one at a time (a queue), so processes
 * contend on the key but a process's own callers do not; the process remembers the revision it
 * wrote, so an uncontended reservation is one write.
 *
 * Times come from each process's clock: across machines the clocks must agree (NTP) to well
 * under one interval, or the spread is off by the skew.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import * as v from 'valibot';
import type { Log } from '../../ports/logger.port.ts';
import { PROVIDER_ROLES, type ProviderRole } from '../../ports/provider-gate.port.ts';
import type { RateBudget } from '../providers/resilience/shared-state.ts';
import { isWrongRevision, openProviderBucket, parseEntry, watchKeys } from './provider-status.ts';

const PaceValue = v.object({ next: v.number() });
const HoldValue = v.object({ until: v.number() });

const paceKey = (role: ProviderRole) => `pace.${role}`;
const holdKey = (role: ProviderRole) => `hold.${role}`;

export class NatsRateBudget implements RateBudget {
  readonly #kv: KV;
  /** The pace record this process last wrote or read, per role: tried first on the next reservation. */
  readonly #pace = new Map<ProviderRole, { revision: number; next: number }>();
  readonly #holds = new Map<ProviderRole, number>();
  /** The tail of each role's queue of reservations. */
  readonly #queue = new Map<ProviderRole, Promise<unknown>>();
  #watch: { stop(): void } | undefined;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens the bucket and loads the current holds; close() stops the watch. */
  static async open(nc: NatsConnection, options: { bucket?: string; log: Log }): Promise<NatsRateBudget> {
    const budget = new NatsRateBudget(await openProviderBucket(nc, options.bucket));
    budget.#watch = watchKeys(budget.#kv, 'hold.*', (entry) => budget.#applyHold(entry), options.log);
    for (const role of PROVIDER_ROLES) {
      const entry = await budget.#kv.get(holdKey(role));
      if (entry !== null) budget.#applyHold(entry);
    }
    return budget;
  }

  reserve(role: ProviderRole, intervalMs: number): Promise<number> {
    const reservation = (this.#queue.get(role) ?? Promise.resolve()).then(() => this.#reserve(role, intervalMs));
    this.#queue.set(
      role,
      reservation.catch(() => {}),
    );
    return reservation;
  }

  heldUntil(role: ProviderRole): number {
    return this.#holds.get(role) ?? 0;
  }

  async holdUntil(role: ProviderRole, until: number): Promise<void> {
    for (;;) {
      const entry = await this.#kv.get(holdKey(role));
      const current = entry?.operation === 'PUT' ? parseEntry(entry, HoldValue)?.until ?? 0 : 0;
      if (current >= until) return;
      const value = JSON.stringify({ until });
      try {
        if (entry === null || entry.operation !== 'PUT') await this.#kv.create(holdKey(role), value);
        else await this.#kv.update(holdKey(role), value, entry.revision);
        this.#holds.set(role, Math.max(this.heldUntil(role), until));
        return;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
  }

  close(): void {
    this.#watch?.stop();
  }

  async #reserve(role: ProviderRole, intervalMs: number): Promise<number> {
    let known = this.#pace.get(role);
    for (;;) {
      const start = Math.max(Date.now(), known?.next ?? 0, this.heldUntil(role));
      const value = JSON.stringify({ next: start + intervalMs });
      try {
        const revision = known === undefined ? await this.#kv.create(paceKey(role), value) : await this.#kv.update(paceKey(role), value, known.revision);
        this.#pace.set(role, { revision, next: start + intervalMs });
        return start;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
        known = await this.#readPace(role);
      }
    }
  }

  /** The pace record as stored; undefined when there is none yet (or only a deleted one). */
  async #readPace(role: ProviderRole): Promise<{ revision: number; next: number } | undefined> {
    const entry = await this.#kv.get(paceKey(role));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    // An unreadable value still has a revision to overwrite; it reads as "no wait".
    return { revision: entry.revision, next: parseEntry(entry, PaceValue)?.next ?? 0 };
  }

  #applyHold(entry: KvEntry): void {
    const role = PROVIDER_ROLES.find((candidate) => entry.key === holdKey(candidate));
    const until = entry.operation === 'PUT' ? parseEntry(entry, HoldValue)?.until : undefined;
    if (role !== undefined && until !== undefined) this.#holds.set(role, Math.max(this.heldUntil(role), until));
  }
}
