/**
 * Per outside API: keeps calls under the account's requests-per-minute cap and adapts how many
 * run at once to what the API accepts, so work runs at the API's limit without failing from a
 * 429.
 *
 * The cap holds across worker processes through a shared budget (RateBudget; on NATS KV in
 * adapters/nats/api-budget.ts): every call, from any process, reserves a start time at
 * least 60 000 / rpm ms after the previous one and waits for it, so the calls of all processes
 * together are spread evenly at the cap. A call waits for its turn; it never fails for it.
 *
 * Concurrency adapts per process (AIMD): it starts at `initialConcurrency` (by default, with a
 * rate cap, at `maxConcurrency`: the turns already admit calls one interval apart, and a lower
 * start held the first round of calls below the rate), grows by one on each success up to
 * `maxConcurrency` (doubling within a round of calls, so it soon reaches what the rate and the
 * latency need: rate x latency), and halves on a 429 or on a call slower than
 * `slowCallMs`. A burst of 429s from calls that ran together halves it once, not once each. It
 * grows only on calls that ran with at least half of it in use, so it stays within twice the
 * demand and a halving always bites.
 *
 * A 429 with `retry-after` also holds every process's calls until then (the budget's hold), so
 * the pause the API asked for is honoured by all, not only by the process that got it.
 *
 * When the budget cannot be reached (NATS down) calls wait and retry: the limiter fails closed,
 * never letting a call through without its turn.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from '../../ports/logger.port.ts';
import type { OutsideApiName, RateBudget } from '../../ports/outside-api.port.ts';

export interface LimiterSettings {
  /** The account's requests a minute to this API, for all processes together; none: no cap. */
  readonly rpm?: number | undefined;
  /**
   * Calls at once in this process to begin with. Default: with `rpm`, `maxConcurrency` (the
   * paced turns already bring calls in one interval apart, so there is no burst to guard
   * against, and a lower start would hold the first minute below the account's rate); without
   * it, 8.
   */
  readonly initialConcurrency?: number | undefined;
  /** Most calls at once in this process. Default 64. */
  readonly maxConcurrency?: number | undefined;
  /** A call slower than this is taken as overload and halves concurrency. Default 30 s. */
  readonly slowCallMs?: number | undefined;
}

export const DEFAULT_LIMITER_SETTINGS = { initialConcurrency: 8, maxConcurrency: 64, slowCallMs: 30_000 } as const;

/**
 * The rate the limiter aims at, as a share of `rpm`: evenly spaced calls at exactly the cap would
 * leave no room for jitter against a provider that meters per second. A call that leaves late
 * (a busy event loop, the network) and the next one on time arrive closer together than the
 * interval; at 600 rpm, 5% of headroom tolerates 50 ms of such lateness within any second, where
 * 2% tolerated 20 ms and a busy 2-core machine saw 429s. A 429 costs far more than 5%: the
 * provider's retry-after holds every process, and concurrency is halved.
 */
export const RATE_HEADROOM = 0.95;

/** Pause before trying an unreachable budget again. */
const BUDGET_RETRY_MS = 1_000;

/** How a call ended, as the limiter adapts to it. */
export type CallOutcome =
  | { readonly kind: 'ok'; readonly latencyMs: number }
  | { readonly kind: 'rate_limited'; readonly retryAfterMs?: number | undefined }
  /** Any other failure: says nothing about the rate. */
  | { readonly kind: 'failed' };

export interface LimiterPermit {
  /** Frees the call's slot and adapts to its outcome; only the first call counts. */
  release(outcome: CallOutcome): void;
}

export interface ApiLimiter {
  /** Waits for a slot in this process and for the call's turn in the shared budget. Rejects on abort. */
  acquire(signal: AbortSignal): Promise<LimiterPermit>;
  /** Calls allowed at once in this process now. */
  readonly concurrency: number;
  /** Calls holding a slot now. */
  readonly inFlight: number;
}

export interface ApiLimiterOptions {
  readonly api: OutsideApiName;
  readonly settings?: LimiterSettings;
  /** Shared by the processes: required with `rpm`; without it a 429's hold is not shared. */
  readonly budget?: RateBudget;
  readonly log: Log;
}

export function createApiLimiter(options: ApiLimiterOptions): ApiLimiter {
  return new AdaptiveLimiter(options);
}

class AdaptiveLimiter implements ApiLimiter {
  readonly #api: OutsideApiName;
  readonly #budget: RateBudget | undefined;
  readonly #log: Log;
  /** Milliseconds between call starts across all processes; undefined without a cap. */
  readonly #intervalMs: number | undefined;
  readonly #maxConcurrency: number;
  readonly #slowCallMs: number;
  /** Fractional: halving 5 gives 2.5, and two successes later it allows 4. */
  #limit: number;
  #inFlight = 0;
  #lastDecreaseAt = 0;
  #budgetDown = false;
  readonly #waiters: (() => void)[] = [];

  constructor(options: ApiLimiterOptions) {
    const settings = options.settings ?? {};
    this.#maxConcurrency = settings.maxConcurrency ?? DEFAULT_LIMITER_SETTINGS.maxConcurrency;
    const initial = settings.initialConcurrency ?? (settings.rpm === undefined ? DEFAULT_LIMITER_SETTINGS.initialConcurrency : this.#maxConcurrency);
    this.#slowCallMs = settings.slowCallMs ?? DEFAULT_LIMITER_SETTINGS.slowCallMs;
    if (!Number.isInteger(initial) || !Number.isInteger(this.#maxConcurrency) || initial < 1 || initial > this.#maxConcurrency) {
      throw new RangeError('concurrency must be whole numbers with 1 <= initialConcurrency <= maxConcurrency');
    }
    if (!(this.#slowCallMs > 0)) throw new RangeError('slowCallMs must be positive');
    if (settings.rpm !== undefined) {
      if (!(Number.isFinite(settings.rpm) && settings.rpm > 0)) throw new RangeError('rpm must be a positive number');
      if (options.budget === undefined) throw new RangeError('a requests-per-minute cap needs the shared budget');
      this.#intervalMs = 60_000 / (settings.rpm * RATE_HEADROOM);
    }
    this.#api = options.api;
    this.#budget = options.budget;
    this.#log = options.log;
    this.#limit = initial;
  }

  get concurrency(): number {
    return Math.floor(this.#limit);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async acquire(signal: AbortSignal): Promise<LimiterPermit> {
    await this.#takeSlot(signal);
    const busy = this.#inFlight * 2 >= this.#limit;
    try {
      await this.#pace(signal);
    } catch (error) {
      this.#freeSlot();
      throw error;
    }
    const startedAt = Date.now();
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        this.#adapt(outcome, startedAt, busy);
        this.#freeSlot();
      },
    };
  }

  async #takeSlot(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#waiters.length === 0 && this.#inFlight < this.concurrency) {
      this.#inFlight += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiters.indexOf(wake);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal.reason as Error);
      };
      // Called by #freeSlot with the slot already counted for this caller.
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(wake);
    });
  }

  #freeSlot(): void {
    this.#inFlight -= 1;
    while (this.#waiters.length > 0 && this.#inFlight < this.concurrency) {
      this.#inFlight += 1;
      this.#waiters.shift()?.();
    }
  }

  /** Waits for this call's turn in the shared budget, and past any hold set after a 429. */
  async #pace(signal: AbortSignal): Promise<void> {
    const budget = this.#budget;
    if (budget === undefined) return;
    for (;;) {
      if (this.#intervalMs !== undefined) await sleepUntil(await this.#reserve(budget, this.#intervalMs, signal), signal);
      // A hold set while this call waited for its turn: wait it out, then take a new turn.
      const hold = budget.heldUntil(this.#api);
      if (hold <= Date.now()) return;
      await sleepUntil(hold, signal);
      if (this.#intervalMs === undefined) return;
    }
  }

  /** Fails closed: an unreachable budget makes the call wait, never go without its turn. */
  async #reserve(budget: RateBudget, intervalMs: number, signal: AbortSignal): Promise<number> {
    for (;;) {
      try {
        const start = await budget.reserve(this.#api, intervalMs);
        if (this.#budgetDown) this.#log.info({ api: this.#api }, 'rate budget reachable again');
        this.#budgetDown = false;
        return start;
      } catch (error) {
        signal.throwIfAborted();
        if (!this.#budgetDown) {
          const message = error instanceof Error ? error.message : String(error);
          this.#log.warn({ api: this.#api, error: message }, 'rate budget unreachable: calls wait until it is back');
        }
        this.#budgetDown = true;
        await sleepUntil(Date.now() + BUDGET_RETRY_MS, signal);
      }
    }
  }

  /** `busy`: the call ran with at least half the concurrency in use, so the limit was what held calls back. */
  #adapt(outcome: CallOutcome, startedAt: number, busy: boolean): void {
    if (outcome.kind === 'ok') {
      if (outcome.latencyMs > this.#slowCallMs) this.#decrease(startedAt);
      else if (busy) this.#limit = Math.min(this.#maxConcurrency, this.#limit + 1);
    } else if (outcome.kind === 'rate_limited') {
      this.#decrease(startedAt);
      if (outcome.retryAfterMs !== undefined && this.#budget !== undefined) {
        this.#budget.holdUntil(this.#api, Date.now() + outcome.retryAfterMs).catch((error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          this.#log.warn({ api: this.#api, error: message }, 'could not share the hold after a 429');
        });
      }
    }
  }

  /** Calls that started before the last decrease ran at the old concurrency: that decrease answered them. */
  #decrease(startedAt: number): void {
    if (startedAt < this.#lastDecreaseAt) return;
    this.#limit = Math.max(1, this.#limit / 2);
    this.#lastDecreaseAt = Date.now();
    this.#log.info({ api: this.#api, concurrency: this.concurrency }, 'API pushed back: concurrency halved');
  }
}

/** Rejects with the signal's reason on abort. */
async function sleepUntil(time: number, signal: AbortSignal): Promise<void> {
  const ms = time - Date.now();
  if (ms > 0) await sleep(ms, undefined, { signal }).catch(() => {});
  signal.throwIfAborted();
}
