/**
 * Any outside API the pipeline calls (research, the writer, webhooks, ...), as the use cases and
 * the consumer runner need to know it: how a call failed, independent of any SDK.
 */

/** An outside API's name: the pipeline step or feature that calls it, e.g. `research`, `webhook`. */
export type OutsideApiName = string;

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
