/**
 * A circuit breaker for an outside API (or for one key of it): opossum, behind a small typed
 * wrapper, the only module that imports opossum. When most recent calls fail because the API is
 * unhealthy, the breaker opens and calls fail at once (no request sent) with a delay the
 * consumer waits before retrying; after `resetTimeoutMs` it turns half-open and one trial call
 * decides between closing and opening again.
 *
 * Only `unavailable` failures count: 5xx, timeouts, connection errors. A 4xx (`rejected`), a 429
 * (`rate_limited`), an account failure (402, 401/403, unknown model) and a `malformed` answer
 * come from an API that answered: they say nothing about its health (the limiter and the pause
 * handle them). A call its caller aborted (shutdown) does not count either.
 *
 * opossum's own timeout is off: the wrapper (resilient-api.ts) times each call itself, aborting
 * the call's signal so that the request really ends; opossum's would give up on a call without
 * ending it.
 */
import CircuitBreaker from 'opossum';
import { ApiPaused, OutsideApiError, type OutsideApiName } from '../../ports/outside-api.port.ts';

export interface BreakerSettings {
  /** Percentage of failed calls in the rolling window above which the breaker opens. Default 50. */
  readonly errorThresholdPercentage: number;
  /** Calls in the rolling window before the breaker may open at all. Default 10. */
  readonly volumeThreshold: number;
  /** Length of the rolling window of call outcomes. Default 30 s. */
  readonly rollingCountTimeoutMs: number;
  /** How long the breaker stays open before a trial call. Default 15 s. */
  readonly resetTimeoutMs: number;
}

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  errorThresholdPercentage: 50,
  volumeThreshold: 10,
  rollingCountTimeoutMs: 30_000,
  resetTimeoutMs: 15_000,
};

export type BreakerState = 'closed' | 'open' | 'half_open';

/** The least delay a refused call is given: a half-open breaker's trial may take seconds. */
const MIN_RETRY_AFTER_MS = 1_000;

type Call = (signal: AbortSignal) => Promise<unknown>;

/** Marks a failure of a call its caller aborted, so the breaker does not count it. */
class CallerAborted extends Error {
  constructor(cause: unknown) {
    super('call aborted by its caller', { cause });
  }
}

export class ApiBreaker {
  readonly #api: OutsideApiName;
  readonly #resetTimeoutMs: number;
  readonly #breaker: CircuitBreaker<[Call, AbortSignal], unknown>;
  readonly #listeners = new Set<(state: BreakerState) => void>();
  #openedAt = 0;

  /** `api` names the API in the errors it throws. */
  constructor(api: OutsideApiName, settings: Partial<BreakerSettings> = {}) {
    const { errorThresholdPercentage, volumeThreshold, rollingCountTimeoutMs, resetTimeoutMs } = { ...DEFAULT_BREAKER_SETTINGS, ...settings };
    this.#api = api;
    this.#resetTimeoutMs = resetTimeoutMs;
    this.#breaker = new CircuitBreaker(runCall, {
      name: api,
      timeout: false,
      errorThresholdPercentage,
      volumeThreshold,
      rollingCountTimeout: rollingCountTimeoutMs,
      rollingCountBuckets: 10,
      resetTimeout: resetTimeoutMs,
      // True means "not a failure".
      errorFilter: (error: unknown) => error instanceof CallerAborted || !(error instanceof OutsideApiError && error.failure === 'unavailable'),
    });
    this.#breaker.on('open', () => {
      this.#openedAt = Date.now();
      this.#emit('open');
    });
    this.#breaker.on('halfOpen', () => this.#emit('half_open'));
    this.#breaker.on('close', () => this.#emit('closed'));
  }

  get state(): BreakerState {
    if (this.#breaker.halfOpen) return 'half_open';
    return this.#breaker.opened ? 'open' : 'closed';
  }

  /** Open and refusing every call (not yet half-open). */
  get isOpen(): boolean {
    return this.#breaker.opened;
  }

  /** Half-open and no trial call started yet: the next call is the trial. */
  get awaitingTrial(): boolean {
    return this.#breaker.halfOpen && this.#breaker.pendingClose;
  }

  /** When the open breaker turns half-open (epoch ms); meaningful while `isOpen`. */
  get halfOpenAt(): number {
    return this.#openedAt + this.#resetTimeoutMs;
  }

  /**
   * Runs `call` through the breaker, handing it `signal`. While the breaker refuses calls this
   * throws `ApiPaused` ('unavailable', circuit open) with the time until half-open.
   */
  async fire<T>(call: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    try {
      return (await this.#breaker.fire(call, signal)) as T;
    } catch (error) {
      if (error instanceof CallerAborted) throw error.cause;
      if (isOpenRejection(error)) throw this.openError();
      throw error;
    }
  }

  /**
   * The error for a call refused because the circuit is open, or for the failure (`cause`) that
   * opened it or failed its trial: either way the API is down, and the call waits until the
   * next trial.
   */
  openError(cause?: OutsideApiError): ApiPaused {
    const retryAfterMs = Math.max(MIN_RETRY_AFTER_MS, this.halfOpenAt - Date.now());
    const message = cause === undefined ? `${this.#api}: circuit open` : `${cause.message}; circuit open`;
    return new ApiPaused(this.#api, 'unavailable', message, retryAfterMs, cause?.status === undefined ? {} : { status: cause.status });
  }

  /** Calls `listener` on every change of state; returns the unsubscribe. */
  onStateChange(listener: (state: BreakerState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops the breaker's timers and listeners. */
  close(): void {
    this.#listeners.clear();
    this.#breaker.shutdown();
  }

  #emit(state: BreakerState): void {
    for (const listener of this.#listeners) listener(state);
  }
}

/** opossum's refusal of a call while open (or half-open with its trial under way). */
function isOpenRejection(error: unknown): boolean {
  return error instanceof Error && CircuitBreaker.isOurError(error) && (error as Error & { code?: unknown }).code === 'EOPENBREAKER';
}

async function runCall(call: Call, signal: AbortSignal): Promise<unknown> {
  try {
    return await call(signal);
  } catch (error) {
    throw signal.aborted ? new CallerAborted(error) : error;
  }
}
