/**
 * What real providers do to a client, injected into the sandbox as interceptors built from
 * settings (the `npm run sandbox` flags, or `faultInterceptors(...)` in a test):
 *
 * - a rejected key (`unauthorized`): 401 with OpenAI's error body (`invalid_api_key`), as for a
 *   revoked key, on every request to the endpoint until `restoreKey` (`rejectKey` starts it at
 *   runtime).
 * - an unknown model (`unknownModel`): 404 `model_not_found`, as for a model the provider
 *   retired, until `restoreModel` (`retireModel` starts it at runtime).
 * - rate limit (`rpm`): a sliding-window log per endpoint. A request is admitted when fewer than
 *   `rpm` requests were admitted in the last 60 s and, unless `rpmBurst`, fewer than
 *   ceil(rpm / 60) in the last second; otherwise 429 with `retry-after` (whole seconds, rounded up)
 *   saying when the oldest request in the full window leaves it. The per-second window is there
 *   because providers meter a per-minute quota continuously (a token or leaky bucket, or a
 *   per-minute limit enforced per second), not as one burst a minute; it also makes
 *   "N / rate" a real lower bound for the benchmark. Only admitted requests fill the log, so
 *   a client that backs off is not punished for its rejected attempts.
 * - credit (`credit`): each endpoint is its own account holding that many calls; once spent, 402
 *   until `addCredit`. Every request past the rate limit spends one, whatever happens next.
 * - timeouts (`timeoutRate`): the request hangs, unanswered, until the client gives up or the
 *   sandbox closes.
 * - latency (`latencyMs`): log-normal, median `latencyMs`, spread `latencySigma` (default 0.35:
 *   p90 about 1.6x the median, p99 about 2.3x), as real model calls have a long right tail.
 * - errors (`errorRate`): 500 or 503 with an OpenAI-style error body, after the latency.
 * - malformed answers (`malformedRate`): a 200 whose content breaks the expected shape, the same
 *   answer as the server's `malformNext`.
 * - made-up facts (`fabricateRate`): a writer's 200 (first draft or rewrite) whose line adds an
 *   invented number, name or time to its true fact (answers.ts, `fabricate`), so that the quality
 *   gate for unsupported specifics has work; research answers are left alone.
 *
 * That order is the order of the checks: a provider's front door (key, model, limits, credit)
 * answers at once, the model's faults come after its latency. A request the key or the model
 * turns away fills no rate window and spends no credit. Each random fault draws from its own
 * stream of a seeded generator, so a `seed` gives the same sequence of draws on every run and
 * adding one fault does not change the draws of another.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { chatCompletion, researchResponse } from './answers.ts';
import type { SandboxEndpoint, SandboxInterceptor, SandboxReply } from './server.ts';

/** One value for both endpoints, or a value per endpoint (an endpoint left out has no limit). */
export type PerEndpoint<T> = T | Partial<Record<SandboxEndpoint, T>>;

export interface FaultSettings {
  /** Requests admitted per sliding 60 s window, per endpoint. */
  readonly rpm?: PerEndpoint<number>;
  /** Let the whole minute's budget go at once instead of at most ceil(rpm / 60) a second. */
  readonly rpmBurst?: boolean;
  /** Calls each endpoint's account pays for before answering 402. */
  readonly credit?: PerEndpoint<number>;
  /** Answer 401 (`invalid_api_key`) until `restoreKey`: a rejected or revoked key. */
  readonly unauthorized?: PerEndpoint<boolean>;
  /** Answer 404 (`model_not_found`) until `restoreModel`: a model the provider does not know. */
  readonly unknownModel?: PerEndpoint<boolean>;
  /** Median added latency in milliseconds. */
  readonly latencyMs?: number;
  /** Standard deviation of the latency's logarithm (default 0.35). */
  readonly latencySigma?: number;
  /** Share of requests (0..1) answered 500 or 503. */
  readonly errorRate?: number;
  /** Share of requests (0..1) left hanging. */
  readonly timeoutRate?: number;
  /** Share of requests (0..1) answered with a malformed 200. */
  readonly malformedRate?: number;
  /** Share of writer requests (0..1) answered with a line that invents a specific. */
  readonly fabricateRate?: number;
  /** Seed of the random draws; a random one when absent. */
  readonly seed?: number;
}

export type FaultKind = 'unauthorized' | 'unknownModel' | 'rateLimited' | 'outOfCredit' | 'timedOut' | 'failed' | 'malformed' | 'fabricated';

export interface SandboxFaults {
  /** Pass to `startSandbox({ interceptors })`. */
  readonly interceptors: readonly SandboxInterceptor[];
  /** Requests each fault answered (or, for timeouts, left hanging) so far. */
  readonly counts: Readonly<Record<FaultKind, number>>;
  /** Tops up an account (both endpoints' when none is named): the provider answers again. */
  addCredit(calls: number, endpoint?: SandboxEndpoint): void;
  /** Rejects the key (401) from now on, on both endpoints when none is named: a key revoked at runtime. */
  rejectKey(endpoint?: SandboxEndpoint): void;
  /** Accepts the key again (both endpoints when none is named): the key was fixed. */
  restoreKey(endpoint?: SandboxEndpoint): void;
  /** Answers 404 for the model from now on (both endpoints when none is named): the model was retired. */
  retireModel(endpoint?: SandboxEndpoint): void;
  /** Knows the model again (both endpoints when none is named): the configuration was fixed. */
  restoreModel(endpoint?: SandboxEndpoint): void;
}

export const DEFAULT_LATENCY_SIGMA = 0.35;

const ENDPOINTS: readonly SandboxEndpoint[] = ['responses', 'chatCompletions'];
const MINUTE_MS = 60_000;
const SECOND_MS = 1_000;

/** The interceptors for `settings`, in the order of the checks. */
export function faultInterceptors(settings: FaultSettings): readonly SandboxInterceptor[] {
  return sandboxFaults(settings).interceptors;
}

/** The interceptors for `settings`, with their counters and the credit top-up. */
export function sandboxFaults(settings: FaultSettings): SandboxFaults {
  const rpm = perEndpoint(settings.rpm, 'rpm', 1);
  const credit = perEndpoint(settings.credit, 'credit', 0);
  const keyRejected = switches(settings.unauthorized, 'unauthorized');
  const modelUnknown = switches(settings.unknownModel, 'unknownModel');
  const latencyMs = checked(settings.latencyMs, 'latencyMs', (value) => Number.isFinite(value) && value >= 0, 'a non-negative number');
  const sigma = checked(settings.latencySigma, 'latencySigma', (value) => Number.isFinite(value) && value >= 0, 'a non-negative number') ?? DEFAULT_LATENCY_SIGMA;
  const errorRate = rate(settings.errorRate, 'errorRate');
  const timeoutRate = rate(settings.timeoutRate, 'timeoutRate');
  const malformedRate = rate(settings.malformedRate, 'malformedRate');
  const fabricateRate = rate(settings.fabricateRate, 'fabricateRate');
  const seed = checked(settings.seed, 'seed', Number.isSafeInteger, 'a whole number') ?? Math.floor(Math.random() * 2 ** 32);

  const counts: Record<FaultKind, number> = { unauthorized: 0, unknownModel: 0, rateLimited: 0, outOfCredit: 0, timedOut: 0, failed: 0, malformed: 0, fabricated: 0 };
  const interceptors: SandboxInterceptor[] = [];

  // Always in place (a no-op while off), so that a key or a model can fail at runtime.
  interceptors.push(({ endpoint }) => {
    if (keyRejected.has(endpoint)) {
      counts.unauthorized += 1;
      return errorReply(401, 'invalid_api_key', 'sandbox: invalid API key');
    }
    if (modelUnknown.has(endpoint)) {
      counts.unknownModel += 1;
      return errorReply(404, 'model_not_found', 'sandbox: the model does not exist');
    }
    return undefined;
  });

  if (rpm !== undefined) {
    const limiters = new Map(
      ENDPOINTS.flatMap((endpoint) => {
        const limit = rpm[endpoint];
        return limit === undefined ? [] : [[endpoint, new RateLimiter(limit, settings.rpmBurst === true)] as const];
      }),
    );
    interceptors.push(({ endpoint }) => {
      const waitMs = limiters.get(endpoint)?.admit(Date.now()) ?? 0;
      if (waitMs === 0) return undefined;
      counts.rateLimited += 1;
      return errorReply(429, 'rate_limit_exceeded', 'sandbox: too many requests', { 'retry-after': String(Math.max(1, Math.ceil(waitMs / SECOND_MS))) });
    });
  }

  const balance: Partial<Record<SandboxEndpoint, number>> = { ...credit };
  if (credit !== undefined) {
    interceptors.push(({ endpoint }) => {
      const left = balance[endpoint];
      if (left === undefined) return undefined;
      if (left === 0) {
        counts.outOfCredit += 1;
        return errorReply(402, 'insufficient_credits', 'sandbox: out of credit');
      }
      balance[endpoint] = left - 1;
      return undefined;
    });
  }

  if (timeoutRate > 0) {
    const draw = stream(seed, 1);
    interceptors.push(async ({ signal }) => {
      if (draw() >= timeoutRate) return undefined;
      counts.timedOut += 1;
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      // Nobody is left to read it: the client hung up or the sandbox is closing.
      return errorReply(504, 'sandbox_timeout', 'sandbox: no answer');
    });
  }

  if (latencyMs !== undefined && latencyMs > 0) {
    const draw = stream(seed, 2);
    interceptors.push(async ({ signal }) => {
      await sleep(logNormal(draw, latencyMs, sigma), undefined, { signal });
      return undefined;
    });
  }

  if (errorRate > 0) {
    const draw = stream(seed, 3);
    interceptors.push(() => {
      if (draw() >= errorRate) return undefined;
      counts.failed += 1;
      const status = draw() < 0.5 ? 500 : 503;
      return errorReply(status, status === 500 ? 'internal_error' : 'service_unavailable', `sandbox: injected ${status}`);
    });
  }

  if (malformedRate > 0) {
    const draw = stream(seed, 4);
    interceptors.push(({ endpoint, body }) => {
      if (draw() >= malformedRate) return undefined;
      counts.malformed += 1;
      return { status: 200, body: endpoint === 'responses' ? researchResponse(body, { malformed: true }) : chatCompletion(body, { malformed: true }) };
    });
  }

  if (fabricateRate > 0) {
    const draw = stream(seed, 5);
    interceptors.push(({ endpoint, body }) => {
      if (endpoint !== 'chatCompletions' || draw() >= fabricateRate) return undefined;
      counts.fabricated += 1;
      return { status: 200, body: chatCompletion(body, { fabricate: true }) };
    });
  }

  return {
    interceptors,
    counts,
    addCredit(calls, endpoint) {
      if (!Number.isInteger(calls) || calls < 1) throw new RangeError('calls must be a positive whole number');
      for (const name of endpoint === undefined ? ENDPOINTS : [endpoint]) {
        const left = balance[name];
        if (left !== undefined) balance[name] = left + calls;
      }
    },
    rejectKey: (endpoint) => toggle(keyRejected, endpoint, true),
    restoreKey: (endpoint) => toggle(keyRejected, endpoint, false),
    retireModel: (endpoint) => toggle(modelUnknown, endpoint, true),
    restoreModel: (endpoint) => toggle(modelUnknown, endpoint, false),
  };
}

/** The endpoints a boolean fault is on for. */
function switches(value: PerEndpoint<boolean> | undefined, name: string): Set<SandboxEndpoint> {
  if (value === undefined) return new Set();
  if (typeof value === 'boolean') return new Set(value ? ENDPOINTS : []);
  for (const [endpoint, on] of Object.entries(value)) {
    if (typeof on !== 'boolean') throw new RangeError(`${name} (${endpoint}) must be true or false`);
  }
  return new Set(ENDPOINTS.filter((endpoint) => value[endpoint] === true));
}

function toggle(on: Set<SandboxEndpoint>, endpoint: SandboxEndpoint | undefined, value: boolean): void {
  for (const name of endpoint === undefined ? ENDPOINTS : [endpoint]) {
    if (value) on.add(name);
    else on.delete(name);
  }
}

/** The per-minute log and, unless bursts are allowed, the per-second one. */
class RateLimiter {
  readonly #windows: readonly SlidingWindowLog[];

  constructor(rpm: number, burst: boolean) {
    const minute = new SlidingWindowLog(rpm, MINUTE_MS);
    this.#windows = burst ? [minute] : [minute, new SlidingWindowLog(Math.ceil(rpm / 60), SECOND_MS)];
  }

  /** 0 and the request is logged, or how long until it would be admitted. */
  admit(now: number): number {
    const waitMs = Math.max(...this.#windows.map((window) => window.waitMs(now)));
    if (waitMs === 0) for (const window of this.#windows) window.record(now);
    return waitMs;
  }
}

/** Admission times within the last `windowMs`, oldest first. */
class SlidingWindowLog {
  readonly #limit: number;
  readonly #windowMs: number;
  #times: number[] = [];
  #head = 0;

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  waitMs(now: number): number {
    while (this.#head < this.#times.length && this.#times[this.#head]! <= now - this.#windowMs) this.#head += 1;
    // Drop the expired prefix now and then rather than shifting on every request.
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    const count = this.#times.length - this.#head;
    if (count < this.#limit) return 0;
    // Admitted when enough of the oldest entries have left the window.
    return this.#times[this.#head + count - this.#limit]! + this.#windowMs - now;
  }

  record(now: number): void {
    this.#times.push(now);
  }
}

function errorReply(status: number, code: string, message: string, headers?: Readonly<Record<string, string>>): SandboxReply {
  return {
    status,
    ...(headers === undefined ? {} : { headers }),
    body: { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } },
  };
}

/** A log-normal sample: the median times e^(sigma * z) for a standard normal z (Box-Muller). */
export function logNormal(draw: () => number, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - draw())) * Math.cos(2 * Math.PI * draw());
  return median * Math.exp(sigma * z);
}

/** Uniform draws in [0, 1) from mulberry32, one independent stream per `salt`. */
export function stream(seed: number, salt: number): () => number {
  let state = (seed ^ Math.imul(salt, 0x9e3779b9)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function perEndpoint(value: PerEndpoint<number> | undefined, name: string, min: number): Partial<Record<SandboxEndpoint, number>> | undefined {
  if (value === undefined) return undefined;
  const values: Partial<Record<SandboxEndpoint, number>> = typeof value === 'number' ? { responses: value, chatCompletions: value } : value;
  for (const [endpoint, limit] of Object.entries(values)) {
    if (!Number.isInteger(limit) || limit < min) throw new RangeError(`${name} (${endpoint}) must be a whole number of at least ${min}`);
  }
  return values;
}

function rate(value: number | undefined, name: string): number {
  return checked(value, name, (share) => share >= 0 && share <= 1, 'a number from 0 to 1') ?? 0;
}

function checked(value: number | undefined, name: string, valid: (value: number) => boolean, expected: string): number | undefined {
  if (value !== undefined && !valid(value)) throw new RangeError(`${name} must be ${expected}`);
  return value;
}
