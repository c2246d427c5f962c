/**
 * One outside API behind its resilience, whatever the API is (a model provider, a webhook, a
 * CRM): each call waits for the limiter (a slot in this process and a turn in the shared rate
 * budget), runs through the circuit breaker under the API's own timeout, and reports its latency
 * or 429 back to the limiter.
 *
 * The timeout is the wrapper's: after `timeoutMs` the call's signal is aborted (so the request
 * really ends) and the call fails `unavailable` ("<name>: timed out after N ms"), which counts
 * towards the breaker like any outage. A call its caller aborted (shutdown) is not a timeout and
 * counts for nothing.
 *
 * An account-level failure (402 out of credit, 401/403 key rejected, 404 unknown model: see
 * `isAccountFailure`) pauses the API for every process (the shared board), with a reason fit to
 * show a user, and is rethrown as `ApiPaused`: the work waits and is never given up for it.
 * While paused, calls are refused (`ApiPaused`, no request sent) except one probe call per probe
 * interval across all processes: claimed on the board with compare-and-set, by the consumer's
 * gate (which then lets one message through, and this process's next call is the probe) or by a
 * call itself when no gate claimed it. Any success of a call that started after the pause began
 * ends it (a call that started before may have slipped in before the account failed, so it proves
 * nothing). A failure of another kind while paused changes the reason shown.
 *
 * A failure that opened the circuit, or failed its trial, is rethrown as `ApiPaused` too: during
 * an outage no work spends its deliveries. An isolated failure, with the circuit closed, counts as
 * usual, so work that always fails still ends.
 *
 * The breaker is the API's (`breakerScope: 'api'`, the default), its state recorded on the board
 * for the status page; or there is one per call key (`'key'`, e.g. a webhook's host), kept for the
 * 1,000 keys used last, so that one failing destination never blocks the others. Such an API's
 * gate never shuts for a circuit (a consumer cannot pull by key) and no key's circuit is shown as
 * the API's; a pause still stops it all, as it is the account's. Keys are never logged.
 */
import { trace } from '@opentelemetry/api';
import type { Log } from '../../ports/logger.port.ts';
import {
  ApiPaused,
  isAccountFailure,
  isOutsideApiName,
  OutsideApiError,
  type AccountFailure,
  type ApiGate,
  type ApiPause,
  type OutsideApi,
  type OutsideApiName,
  type PauseBoard,
  type RateBudget,
} from '../../ports/outside-api.port.ts';
import { errorTypeOf } from '../telemetry/error-type.ts';
import { instruments } from '../telemetry/metrics.ts';
import { ApiBreaker, type BreakerSettings, type BreakerState } from './breaker.ts';
import { ResilienceGate } from './gate.ts';
import { createApiLimiter, DEFAULT_LIMITER_SETTINGS, type ApiLimiter, type CallOutcome } from './limiter.ts';

export const DEFAULT_PROBE_INTERVAL_MS = 30_000;
/** Breakers kept for an API with one per key; the least recently used goes first. */
export const MAX_KEY_BREAKERS = 1_000;

/** What a user is told while the account is out of credit (402); clients and tests rely on the text. */
export const OUT_OF_CREDIT_REASON = 'provider out of credit';

/** The pause reason shown for an account-level failure, naming its cause. */
export function pauseReason(failure: AccountFailure, status?: number): string {
  const http = status === undefined ? '' : ` (HTTP ${status})`;
  switch (failure) {
    case 'out_of_credit':
      return OUT_OF_CREDIT_REASON;
    case 'unauthorized':
      return `provider rejected the API key${http}`;
    case 'unknown_model':
      return `provider does not know the configured model${http}`;
  }
}

/** How an outside API is called, all processes together. */
export interface OutsideApiSpec {
  /** Keys its shared state and names it in errors, logs and the status: letters, digits, `_`, `-`. */
  readonly name: OutsideApiName;
  /** The account's requests a minute, all processes together; 0 or unset: no cap. */
  readonly rpm?: number | undefined;
  /** Each call's own limit, in milliseconds: the call's signal is aborted after it. */
  readonly timeoutMs: number;
  readonly breaker?: Partial<BreakerSettings> | undefined;
  /** `api` (default): one breaker for the API. `key`: one per call key, and a gate that never shuts for a circuit. */
  readonly breakerScope?: 'api' | 'key' | undefined;
  /** Calls at once per process to begin with. Default: `maxConcurrency` with a rate cap, 8 without. */
  readonly initialConcurrency?: number | undefined;
  /** The most calls at once per process. Default 64. */
  readonly maxConcurrency?: number | undefined;
  /** A call slower than this halves concurrency. Default 30 s. */
  readonly slowCallMs?: number | undefined;
  /** Between probe calls while the API is paused. Default 30 s. */
  readonly probeIntervalMs?: number | undefined;
}

export interface ResilientApiOptions {
  readonly spec: OutsideApiSpec;
  readonly board: PauseBoard;
  /** The rate budget every process shares; required with `rpm`. */
  readonly budget?: RateBudget | undefined;
  readonly log: Log;
}

/** The least delay a call refused while paused is given. */
const MIN_PAUSED_WAIT_MS = 1_000;

/** The APIs of this process not closed yet: their breaker and pause gauges are read from here at each collection. */
const LIVE_APIS = new Set<ResilientApi>();

/** Each live API's state for the gauges: its circuit (0 closed, 1 half-open, 2 open; null with one breaker per key) and whether it is paused. */
export function liveApiStates(): { readonly api: OutsideApiName; readonly circuit: 0 | 1 | 2 | null; readonly paused: boolean }[] {
  return [...LIVE_APIS].map((api) => api.metricState());
}

const CIRCUIT_GAUGE: Readonly<Record<BreakerState, 0 | 1 | 2>> = { closed: 0, half_open: 1, open: 2 };

export class ResilientApi implements OutsideApi {
  readonly name: OutsideApiName;
  /** The consumer that calls this API waits here before each pull. */
  readonly gate: ApiGate;
  readonly maxConcurrency: number;
  readonly #timeoutMs: number;
  readonly #probeIntervalMs: number;
  readonly #board: PauseBoard;
  readonly #limiter: ApiLimiter;
  readonly #log: Log;
  readonly #breakerSettings: Partial<BreakerSettings>;
  /** The API's breaker; undefined when it has one per key. */
  readonly #breaker: ApiBreaker | undefined;
  /** One breaker per key, least recently used first. */
  readonly #keyBreakers = new Map<string, ApiBreaker>();
  readonly #stopWatching: () => void;
  /** When the current run of open/half-open states began; 0 while closed. */
  #circuitSince = 0;
  /** A probe the gate claimed for this process: the next call makes it, if it comes before `until`. */
  #probeGrant: { readonly since: number; readonly until: number } | undefined;

  constructor(options: ResilientApiOptions) {
    const { spec, board, budget, log } = options;
    if (!isOutsideApiName(spec.name)) throw new RangeError(`an outside API's name must be 1 to 64 letters, digits, '_' or '-' (got ${JSON.stringify(spec.name)})`);
    if (!(Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)) throw new RangeError(`${spec.name}: timeoutMs must be a positive number`);
    const probeIntervalMs = spec.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    if (!(Number.isFinite(probeIntervalMs) && probeIntervalMs > 0)) throw new RangeError(`${spec.name}: probeIntervalMs must be a positive number`);
    const rpm = spec.rpm === 0 ? undefined : spec.rpm;
    // Without a shared budget the limiter would not pace at all: a cap that silently does nothing.
    if (rpm !== undefined && budget === undefined) throw new RangeError(`${spec.name}: a rate cap (rpm) needs the shared rate budget`);

    this.name = spec.name;
    this.#timeoutMs = spec.timeoutMs;
    this.#probeIntervalMs = probeIntervalMs;
    this.#board = board;
    this.#log = log.child({ api: spec.name });
    this.maxConcurrency = spec.maxConcurrency ?? DEFAULT_LIMITER_SETTINGS.maxConcurrency;
    this.#limiter = createApiLimiter({
      api: spec.name,
      ...(budget === undefined ? {} : { budget }),
      // The limiter names the API in its own lines: the parent log, so the field comes once.
      log,
      settings: {
        ...(rpm === undefined ? {} : { rpm }),
        // Unset: the limiter's default, which depends on whether there is a rate cap.
        ...(spec.initialConcurrency === undefined ? {} : { initialConcurrency: spec.initialConcurrency }),
        maxConcurrency: this.maxConcurrency,
        slowCallMs: spec.slowCallMs ?? DEFAULT_LIMITER_SETTINGS.slowCallMs,
      },
    });
    this.#breakerSettings = { ...spec.breaker };
    this.#breaker = spec.breakerScope === 'key' ? undefined : new ApiBreaker(spec.name, this.#breakerSettings);
    this.gate = new ResilienceGate({
      api: spec.name,
      breaker: this.#breaker,
      board,
      probeIntervalMs,
      onProbeClaimed: (pause) => {
        this.#probeGrant = { since: pause.since, until: Date.now() + probeIntervalMs };
      },
      log: this.#log,
    });
    this.#stopWatching = this.#breaker?.onStateChange((state) => this.#circuitChanged(state)) ?? (() => {});
    LIVE_APIS.add(this);
  }

  /** For the gauges (liveApiStates). */
  metricState(): { readonly api: OutsideApiName; readonly circuit: 0 | 1 | 2 | null; readonly paused: boolean } {
    return { api: this.name, circuit: this.#breaker === undefined ? null : CIRCUIT_GAUGE[this.#breaker.state], paused: this.#board.pauseOf(this.name) !== undefined };
  }

  /** Calls allowed at once in this process now, and calls holding a slot (for diagnostics and tests). */
  get limiter(): Pick<ApiLimiter, 'concurrency' | 'inFlight'> {
    return this.#limiter;
  }

  /** The breaker for `key` (the API's own when it has one), if it exists: for diagnostics and tests. */
  breakerOf(key?: string): ApiBreaker | undefined {
    return this.#breaker ?? this.#keyBreakers.get(key ?? '');
  }

  async call<T>(
    fn: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
    options: { readonly key?: string; readonly beforeCall?: () => Promise<void>; readonly waitSignal?: AbortSignal } = {},
  ): Promise<T> {
    const breaker = this.#breakerFor(options.key);
    // Refused before taking a turn in the rate budget, which another call can use.
    if (breaker.isOpen) throw breaker.openError();
    const pause = this.#board.pauseOf(this.name);
    if (pause !== undefined && !this.#holdsProbeGrant(pause) && Date.now() < pause.probeAt) throw this.#pausedError(pause);

    const waitStarted = performance.now();
    const permit = await this.#limiter.acquire(options.waitSignal === undefined ? signal : AbortSignal.any([signal, options.waitSignal]));
    // The wait for a slot and a turn in the shared rate budget, on the caller's span (the consumer's):
    // an operator sees where a lead waited for its provider. The API's name only, never the key.
    trace.getActiveSpan()?.addEvent('outside_api.wait', { 'aga.outside_api.name': this.name, 'aga.outside_api.wait_ms': Math.round(performance.now() - waitStarted) });
    try {
      await this.#admitWhilePaused();
      // Last, right before the request: the caller's own check (is the work still wanted?). A
      // refusal says nothing about the API: a neutral outcome, and no breaker involved.
      await options.beforeCall?.();
    } catch (error) {
      permit.release({ kind: 'failed' });
      throw error;
    }
    const metered = instruments();
    metered.rateLimitWait.record((performance.now() - waitStarted) / 1_000, { api: this.name });
    const startedAt = Date.now();
    const callStarted = performance.now();
    const recordCall = (error?: unknown) => {
      const outcome = error === undefined ? 'ok' : errorTypeOf(error);
      const attributes = { api: this.name, outcome, ...(error === undefined ? {} : { 'error.type': outcome }) };
      metered.providerCalls.add(1, attributes);
      metered.providerDuration.record((performance.now() - callStarted) / 1_000, attributes);
    };
    try {
      const result = await breaker.fire((callSignal) => this.#timed(fn, callSignal), signal);
      recordCall();
      permit.release({ kind: 'ok', latencyMs: Date.now() - startedAt });
      await this.#resumeIfPaused(startedAt);
      return result;
    } catch (error) {
      recordCall(error);
      // With a breaker per key, a 429 is one target's (a customer's receiver): it must neither hold
      // the API for every process nor halve its concurrency; nor can one target pause the account.
      const keyed = this.#breaker === undefined;
      permit.release(keyed ? { kind: 'failed' } : outcomeOf(error));
      if (!keyed && error instanceof OutsideApiError && !(error instanceof ApiPaused) && isAccountFailure(error.failure)) {
        await this.#pause(error.failure, pauseReason(error.failure, error.status));
        throw new ApiPaused(this.name, error.failure, error.message, this.#probeIntervalMs, error.status === undefined ? {} : { status: error.status });
      }
      // This failure opened the circuit, or failed its trial: an outage, not this work's fault.
      if (error instanceof OutsideApiError && error.failure === 'unavailable' && !(error instanceof ApiPaused) && breaker.isOpen && !signal.aborted) {
        throw breaker.openError(error);
      }
      throw error;
    }
  }

  /** Stops the breakers' timers and listeners; the board and budget are closed by their owner. */
  close(): void {
    LIVE_APIS.delete(this);
    this.#stopWatching();
    this.#breaker?.close();
    for (const breaker of this.#keyBreakers.values()) breaker.close();
    this.#keyBreakers.clear();
  }

  #breakerFor(key: string | undefined): ApiBreaker {
    if (this.#breaker !== undefined) return this.#breaker;
    // Calls without a key share one breaker.
    const name = key ?? '';
    const known = this.#keyBreakers.get(name);
    if (known !== undefined) {
      // Most recently used goes last.
      this.#keyBreakers.delete(name);
      this.#keyBreakers.set(name, known);
      return known;
    }
    const breaker = new ApiBreaker(this.name, this.#breakerSettings);
    breaker.onStateChange((state) => this.#keyCircuitChanged(state));
    this.#keyBreakers.set(name, breaker);
    if (this.#keyBreakers.size > MAX_KEY_BREAKERS) {
      const [oldestKey, oldest] = this.#keyBreakers.entries().next().value as [string, ApiBreaker];
      this.#keyBreakers.delete(oldestKey);
      // A call still running on it ends normally; opossum's shutdown only drops its state.
      oldest.close();
    }
    return breaker;
  }

  #holdsProbeGrant(pause: ApiPause): boolean {
    const grant = this.#probeGrant;
    return grant !== undefined && grant.since === pause.since && Date.now() < grant.until;
  }

  /**
   * While paused, lets the call through only as the probe: the one this process's gate claimed,
   * or one this call claims itself when it is due. Otherwise throws `ApiPaused`.
   */
  async #admitWhilePaused(): Promise<void> {
    const pause = this.#board.pauseOf(this.name);
    if (pause === undefined) return;
    if (this.#holdsProbeGrant(pause)) {
      this.#probeGrant = undefined;
      return;
    }
    if (Date.now() >= pause.probeAt) {
      const claimed = await this.#board.claimProbe(this.name, pause, this.#probeIntervalMs).catch((error: unknown) => {
        this.#log.warn({ error: messageOf(error) }, 'could not claim the probe of a paused API');
        return false;
      });
      if (claimed) {
        this.#log.info({}, 'API paused: this call probes it');
        return;
      }
    }
    throw this.#pausedError(this.#board.pauseOf(this.name) ?? pause);
  }

  #pausedError(pause: ApiPause): ApiPaused {
    const waitMs = Math.max(MIN_PAUSED_WAIT_MS, pause.probeAt - Date.now());
    return new ApiPaused(this.name, pause.failure, `${this.name}: paused (${pause.reason})`, waitMs);
  }

  /** Runs `fn` with a signal that also aborts after the API's timeout, and fails `unavailable` then. */
  async #timed<T>(fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    const timeout = new AbortController();
    let timedOut: OutsideApiError | undefined;
    let timer: NodeJS.Timeout | undefined;
    // Rejects at the timeout even if `fn` ignores its signal.
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = new OutsideApiError(this.name, 'unavailable', `${this.name}: timed out after ${this.#timeoutMs} ms`);
        timeout.abort(timedOut);
        reject(timedOut);
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([fn(AbortSignal.any([signal, timeout.signal])), expired]);
    } catch (error) {
      // `fn` failing on the aborted signal (an SDK's abort error) is the timeout's doing.
      if (timedOut !== undefined && !signal.aborted) throw timedOut;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #pause(failure: AccountFailure, reason: string): Promise<void> {
    const current = this.#board.pauseOf(this.name);
    if (current?.failure === failure && current.reason === reason) return;
    try {
      await this.#board.pause(this.name, { failure, reason }, this.#probeIntervalMs);
      if (current === undefined) this.#log.warn({ reason, probe_every_ms: this.#probeIntervalMs }, 'API paused until a probe call succeeds');
      else this.#log.warn({ reason, previous_reason: current.reason }, 'paused API failed for another reason');
    } catch (error) {
      // The work still waits (ApiPaused); the next account failure tries to record the pause again.
      this.#log.error({ error: messageOf(error) }, 'could not record the API pause');
    }
  }

  async #resumeIfPaused(callStartedAt: number): Promise<void> {
    const pause = this.#board.pauseOf(this.name);
    if (pause === undefined || callStartedAt < pause.since) return;
    try {
      await this.#board.resume(this.name, pause);
      this.#log.info({ paused_ms: Date.now() - pause.since, reason: pause.reason }, 'API answers again: pause ended');
    } catch (error) {
      this.#log.error({ error: messageOf(error) }, 'could not end the API pause');
    }
  }

  /** Logs the change and records it on the board for the status page. */
  #circuitChanged(state: BreakerState): void {
    const breaker = this.#breaker;
    if (breaker === undefined) return;
    if (state === 'half_open') {
      this.#log.info({}, 'circuit half-open: one trial call decides');
      return;
    }
    let record: { since: number; until: number } | null = null;
    if (state === 'open') {
      if (this.#circuitSince === 0) this.#circuitSince = Date.now();
      record = { since: this.#circuitSince, until: breaker.halfOpenAt };
      this.#log.warn({ retry_in_ms: breaker.halfOpenAt - Date.now() }, 'circuit opened: calls to the API stop for a while');
    } else {
      this.#log.info({ open_ms: Date.now() - this.#circuitSince }, 'circuit closed: API answers again');
      this.#circuitSince = 0;
    }
    this.#board.recordCircuit(this.name, record).catch((error: unknown) => {
      this.#log.warn({ error: messageOf(error) }, 'could not record the circuit state');
    });
  }

  /** One key's circuit: logged without the key (it may be a customer's host), never shown as the API's state. */
  #keyCircuitChanged(state: BreakerState): void {
    if (state === 'open') this.#log.warn({}, "one key's circuit opened: calls with that key stop for a while");
    else if (state === 'closed') this.#log.info({}, "one key's circuit closed: calls with that key go again");
  }
}

function outcomeOf(error: unknown): CallOutcome {
  if (error instanceof OutsideApiError && error.failure === 'rate_limited') {
    return { kind: 'rate_limited', retryAfterMs: error.retryAfterMs };
  }
  return { kind: 'failed' };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
