/**
 * Turns whatever the openai SDK throws into the port's `ProviderError`, so the pipeline reacts
 * to a failure kind (retry, wait, pause, give up) and never to an SDK class.
 *
 * Messages carry the provider, the HTTP status and a short fixed reason only: a provider's own
 * error text can echo the request (lead data) or part of the API key, so it is never copied.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { ProviderError, type ProviderFailure } from '../../ports/providers.port.ts';

const REASONS: Readonly<Record<ProviderFailure, string>> = {
  rate_limited: 'rate limited',
  unavailable: 'unavailable',
  out_of_credit: 'out of credit',
  rejected: 'request rejected',
  malformed: 'malformed answer',
};

/** How the pipeline must treat an HTTP status from a provider. */
export function failureForStatus(status: number): ProviderFailure {
  if (status === 429) return 'rate_limited';
  if (status === 402) return 'out_of_credit';
  // 408 is the server timing the request out: as transient as a 5xx.
  if (status === 408 || status >= 500) return 'unavailable';
  return 'rejected';
}

/** A ProviderError whose message is `<provider> <status>: <reason>`; `detail` must hold no lead data. */
export function providerError(
  provider: string,
  failure: ProviderFailure,
  options: { status?: number; detail?: string; retryAfterMs?: number } = {},
): ProviderError {
  const status = options.status === undefined ? '' : ` ${options.status}`;
  const detail = options.detail === undefined ? '' : ` (${options.detail})`;
  return new ProviderError(provider, failure, `${provider}${status}: ${REASONS[failure]}${detail}`, options.retryAfterMs);
}

/** Maps any error from an SDK call (or from reading its answer) to a ProviderError. */
export function toProviderError(provider: string, error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  // APIUserAbortError: the caller's signal (shutdown); the message goes back to the broker.
  if (error instanceof APIUserAbortError) return providerError(provider, 'unavailable', { detail: 'aborted' });
  if (error instanceof APIConnectionTimeoutError) return providerError(provider, 'unavailable', { detail: 'timed out' });
  if (error instanceof APIConnectionError) return providerError(provider, 'unavailable', { detail: 'connection error' });
  if (error instanceof APIError && typeof error.status === 'number') {
    const failure = failureForStatus(error.status);
    // Typed loosely through the SDK's declarations: checked here rather than trusted.
    const headers: unknown = error.headers;
    const retryAfterMs = (failure === 'rate_limited' || failure === 'unavailable') && isHeaders(headers) ? retryAfterFrom(headers) : undefined;
    const code = safeCode(error.code);
    return providerError(provider, failure, {
      status: error.status,
      ...(code === undefined ? {} : { detail: code }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  // The SDK parses a JSON body itself: a broken one surfaces as a SyntaxError.
  if (error instanceof SyntaxError) return providerError(provider, 'malformed', { detail: 'invalid JSON body' });
  if (error instanceof Error && error.name === 'AbortError') return providerError(provider, 'unavailable', { detail: 'aborted' });
  return providerError(provider, 'unavailable', { detail: 'unexpected error' });
}

/**
 * The wait a provider asks for: `retry-after-ms` (milliseconds), else `retry-after` as seconds
 * or an HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterFrom(headers: HeaderSource, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms != null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (value == null || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What retryAfterFrom reads: a fetch `Headers` or anything with its `get`. */
export interface HeaderSource {
  get(name: string): string | null | undefined;
}

function isHeaders(value: unknown): value is HeaderSource {
  return typeof value === 'object' && value !== null && typeof (value as { get?: unknown }).get === 'function';
}

/** A provider's machine-readable error code (`invalid_api_key`), when it is a short token, never free text. */
function safeCode(code: unknown): string | undefined {
  return typeof code === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,47}$/.test(code) ? code : undefined;
}
