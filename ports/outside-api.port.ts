/**
 * Any outside API the pipeline calls (research, the writer, webhooks, a CRM, ...), as the use
 * cases, the consumers and the resilience layer need to know it, independent of any SDK:
 * - how a call failed (`OutsideApiError` and its failure kinds), and which failures are not the
 *   work's fault (`isPushback`), so that a consumer waits instead of failing work;
 * - the verdict a consumer that calls an outside API gives the runner for a failed message
 *   (`apiFailureVerdict`);
 * - the API as a resilient call path (`OutsideApi`): its breaker, rate budget, timeout and
 *   account-level pause, and the gate its consumer waits at before each pull;
 * - the state the processes share about every API (`RateBudget`, `PauseBoard`) and the status
 *   the edge shows (`ApiStatusReader`).
 *
 * An API is known by its name alone (`OutsideApiName`): adding one is a name and a spec, never a
 * change here.
 */
import { PermanentFailure, RetryLater, type FailureVerdict } from './event-consumer.port.ts';

/**
 * An outside API's name: the pipeline step or feature that calls it, e.g. `research`, `webhook`.
 * It keys the shared state (rate budget, pause, circuit record), so every process must use the
 * same name for the same API; letters, digits, `_` and `-` only.
 */
export type OutsideApiName = string;

/** True for a name that can key the shared state: 1 to 64 letters, digits, `_` or `-`. */
export function isOutsideApiName(name: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name);
}

/**
 * How a call to an outside API failed, as the pipeline must react to it:
 * - `rate_limited`: too fast; retry after `retryAfterMs` when given. Not a health problem.
 * - `unavailable`: 5xx, timeout, connection error; retry with backoff.
 * - `out_of_credit`: 402; the account cannot pay: pause the API, fail no work.
 * - `unauthorized`: 401/403; the account's key is rejected: pause the API, fail no work.
 * - `unknown_model`: 404 on the configured model; pause the API, fail no work.
 * - `rejected`: the API refuses this input (another 4xx); retrying will not help.
 * - `malformed`: the answer broke the expected shape; retry.
 */
export type OutsideApiFailure = 'rate_limited' | 'unavailable' | 'out_of_credit' | 'unauthorized' | 'unknown_model' | 'rejected' | 'malformed';

/** The failures of the account rather than of a call: no call can succeed until someone fixes the account. */
export type AccountFailure = 'out_of_credit' | 'unauthorized' | 'unknown_model';

/** A failed call to an outside API. The message names the API, the status and a fixed reason: never request data. */
export class OutsideApiError extends Error {
  readonly api: OutsideApiName;
  readonly failure: OutsideApiFailure;
  readonly retryAfterMs: number | undefined;
  /** The HTTP status, when the API answered. */
  readonly status: number | undefined;

  constructor(api: OutsideApiName, failure: OutsideApiFailure, message: string, options: { retryAfterMs?: number; status?: number } = {}) {
    super(message);
    this.name = 'OutsideApiError';
    this.api = api;
    this.failure = failure;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/**
 * A call refused, or a failure turned into a wait, because the API cannot take work for now: it
 * is paused for an account-level failure (`failure` says which), or its circuit is open
 * (`unavailable`). The work waits `retryAfterMs` and is never given up for it.
 */
export class ApiPaused extends OutsideApiError {
  declare readonly retryAfterMs: number;

  constructor(api: OutsideApiName, failure: AccountFailure | 'unavailable', message: string, retryAfterMs: number, options: { status?: number } = {}) {
    super(api, failure, message, { ...options, retryAfterMs });
    this.name = 'ApiPaused';
  }
}

/**
 * True for an account-level failure (402 out of credit, 401/403 key rejected, 404 unknown
 * model): the API is paused for every process and no work is failed for it, since no call can
 * succeed until the account is fixed, and then every call can.
 */
export function isAccountFailure(failure: OutsideApiFailure): failure is AccountFailure {
  return failure === 'out_of_credit' || failure === 'unauthorized' || failure === 'unknown_model';
}

/**
 * True when the API, not the work, is why the call failed: it is paused or its circuit is open
 * (`ApiPaused`), it rate limited the call, or the account failed. The work waits and retries for
 * as long as that lasts, never giving up for it.
 */
export function isPushback(error: unknown): error is OutsideApiError {
  return error instanceof ApiPaused || (error instanceof OutsideApiError && (error.failure === 'rate_limited' || isAccountFailure(error.failure)));
}

/** How long pushback without a delay of its own (a 429 without retry-after) makes the work wait. */
export const DEFAULT_PUSHBACK_WAIT_MS = 5_000;

/**
 * The classification a consumer that calls an outside API gives the runner for a failed message:
 * - pushback (`isPushback`) → `wait` for the error's `retryAfterMs`, else DEFAULT_PUSHBACK_WAIT_MS;
 * - `rejected` (the API refuses this input) and `PermanentFailure` → `give_up`;
 * - anything else (`unavailable`, `malformed`, an unexpected error) → `retry`, after the error's
 *   `retryAfterMs` (or a `RetryLater`'s) when it has one, else the consumer's backoff.
 */
export function apiFailureVerdict(error: unknown): FailureVerdict {
  if (isPushback(error)) return { action: 'wait', afterMs: error.retryAfterMs ?? DEFAULT_PUSHBACK_WAIT_MS };
  if (error instanceof PermanentFailure || (error instanceof OutsideApiError && error.failure === 'rejected')) return { action: 'give_up' };
  if (error instanceof RetryLater) return { action: 'retry', afterMs: error.retryAfterMs };
  if (error instanceof OutsideApiError && error.retryAfterMs !== undefined) return { action: 'retry', afterMs: error.retryAfterMs };
  return { action: 'retry' };
}

/**
 * Held by a consumer before each pull, so that no message is taken (and no delivery spent)
 * while its API cannot take work.
 */
export interface ApiGate {
  /**
   * Resolves when messages may be pulled, with the most to pull now: `Infinity` while the API is
   * usable; 1 when a probe is due while it is paused or its circuit is half-open (that one
   * message's call tests the API). Rejects with the signal's reason on abort.
   */
  wait(signal: AbortSignal): Promise<number>;
}

/**
 * A named outside API behind its resilience: calls go through its circuit breaker, its share of
 * the rate budget and adaptive concurrency, its timeout and its account-level pause.
 */
export interface OutsideApi {
  readonly name: OutsideApiName;
  /**
   * Runs `fn`, handing it a signal that aborts when the caller's `signal` does or the API's
   * timeout passes. Throws `ApiPaused` while the API is paused (except for the one probe call
   * per interval) or its circuit is open, and `OutsideApiError` ('unavailable') on a timeout.
   * `key` picks the breaker when the API has one per key (e.g. a webhook's host); it is never
   * logged nor put in an error. `beforeCall` is awaited once the call has its turn, right before
   * `fn`: when it throws, `fn` is not run, the call rejects with its error, and neither the
   * breaker nor the limiter counts it as a failure of the API. `waitSignal` aborts only the wait
   * for the call's turn (a slot and its place in the rate budget), rejecting with its reason.
   */
  call<T>(
    fn: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
    options?: { readonly key?: string; readonly beforeCall?: () => Promise<void>; readonly waitSignal?: AbortSignal },
  ): Promise<T>;
  /** Give it to the declaration of the consumer that calls this API. */
  readonly gate: ApiGate;
  /** The most calls at once in this process: as many handlers as the consumer should run. */
  readonly maxConcurrency: number;
}

/**
 * - `ok`: taking work.
 * - `paused`: an account-level failure (out of credit, key rejected, unknown model); work waits,
 *   in every process, until a probe call succeeds.
 * - `circuit_open`: most recent calls failed (5xx, timeouts); calls stop for a while, then one
 *   trial call decides.
 * - `unknown`: the shared state could not be read (the broker unreachable); the reason says so.
 */
export type ApiState = 'ok' | 'paused' | 'circuit_open' | 'unknown';

export interface ApiStatus {
  readonly api: OutsideApiName;
  readonly state: ApiState;
  /** Why it is not `ok`, fit to show a user, e.g. `provider out of credit`; null when `ok`. */
  readonly reason: string | null;
  /** ISO time the state began; null when `ok`. */
  readonly since: string | null;
  /** The API's requests-a-minute cap (all processes together), as configured; null or absent without one. */
  readonly rpm?: number | null;
  /**
   * ISO time: while calls wait for their turn under the cap, when the last turn taken so far
   * starts (the shared budget's next start); null or absent when no call waits.
   */
  readonly pacedUntil?: string | null;
  /** ISO time: after a 429 with retry-after, no call starts before it; null or absent when no hold is in force. */
  readonly heldUntil?: string | null;
}

/** What the status route reads to say, e.g., "research paused: provider out of credit". */
export interface ApiStatusReader {
  /** One entry per API it was opened for, in that order. */
  current(): Promise<ApiStatus[]>;
}

/** The rate budget every process shares: the pacing of calls and the hold after a 429. */
export interface RateBudget {
  /**
   * Reserves the start time (epoch ms) of one call to `api`: at least `intervalMs` after the
   * previous reservation made by any process, and not before a hold. The caller waits until then.
   */
  reserve(api: OutsideApiName, intervalMs: number): Promise<number>;
  /** The time (epoch ms) before which no call to `api` may start, as last seen; 0 when none. */
  heldUntil(api: OutsideApiName): number;
  /** Holds every process's calls to `api` until `until` (epoch ms); a hold is never shortened. */
  holdUntil(api: OutsideApiName, until: number): Promise<void>;
}

/** An API paused for an account-level failure, as every process sees it. */
export interface ApiPause {
  /** Which account failure paused it. */
  readonly failure: AccountFailure;
  /** Fit to show a user, e.g. `provider out of credit`. */
  readonly reason: string;
  /** Epoch ms. */
  readonly since: number;
  /** When the next probe call is due (epoch ms). */
  readonly probeAt: number;
  /** The record's revision, for compare-and-set. */
  readonly revision: number;
}

/** The pauses and circuit states every process shares. */
export interface PauseBoard {
  /** The pause in force for `api`, as last seen (a watch keeps it current); undefined when none. */
  pauseOf(api: OutsideApiName): ApiPause | undefined;
  /**
   * Pauses `api` for `cause`, the first probe due `probeAfterMs` later. When it already is paused
   * for another cause (the key was fixed but the account is now out of credit), the cause is
   * replaced and the pause's start and probe time kept.
   */
  pause(api: OutsideApiName, cause: { readonly failure: AccountFailure; readonly reason: string }, probeAfterMs: number): Promise<void>;
  /** Ends `pause`, unless it was replaced or ended meanwhile. */
  resume(api: OutsideApiName, pause: ApiPause): Promise<void>;
  /**
   * Takes the probe due on `pause` for this process and sets the next one `intervalMs` later:
   * false when another process took it first. One probe at a time across all processes.
   */
  claimProbe(api: OutsideApiName, pause: ApiPause, intervalMs: number): Promise<boolean>;
  /** Records that this process's breaker for `api` opened (until it turns half-open) or closed (null). */
  recordCircuit(api: OutsideApiName, open: { readonly since: number; readonly until: number } | null): Promise<void>;
  /** Calls `listener` after any pause begins, changes or ends; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}
