/**
 * Turns whatever the openai SDK throws into the port's `OutsideApiError`, so the pipeline reacts
 * to a failure kind (retry, wait, pause, give up) and never to an SDK class.
 *
 * An error names two things (`ErrorSource`): the outside API it is a call of (`api`: the
 * pipeline's name for it, `research` or `personalization`, under which the wrapper records a
 * pause and the status shows it) and the provider that answered (`provider`: `perplexity`,
 * `openrouter`, `sandbox-research`, ...), which starts the message an operator reads.
 *
 * Messages carry the provider, the HTTP status and a short fixed reason only: a provider's own
 * error text can echo the request (lead data) or part of the API key, so it is never copied (it
 * is only matched against a fixed pattern, below).
 *
 * Account-level failures, which pause the API instead of failing leads:
 * - 402: out of credit (OpenRouter: "insufficient credits"; Perplexity likewise).
 * - 401: the key is rejected (OpenRouter: "invalid credentials, disabled/invalid API key";
 *   Perplexity: "Invalid API key", `authentication_error`).
 * - 403: the key may not be used (OpenRouter answers 403 "Key limit exceeded" for a key past its
 *   own spending limit) — except OpenRouter's moderation refusal, also a 403 ("your chosen model
 *   requires moderation and your input was flagged", https://openrouter.ai/docs/api-reference/errors),
 *   which is about this input: it carries `metadata.reasons` and stays `rejected`.
 * - 404: the model is unknown (OpenAI-compatible APIs answer 404 `model_not_found` for a model id
 *   they do not know; OpenRouter answers 404 "No endpoints found" for a model it cannot route).
 * - 400 naming the model: Perplexity answers an unknown model with 400, type `invalid_model`
 *   ("Invalid model '…'. Permitted models can be found in the documentation"), and OpenRouter
 *   with 400 "<id> is not a valid model ID"; both are the configured model, not the lead.
 */
import { retryAfterFrom, type HeaderSource } from '../outside-api/retry-after.ts';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { OutsideApiError, type OutsideApiFailure, type OutsideApiName } from '../../ports/outside-api.port.ts';

/** Which API a call belongs to, and which provider answered it. */
export interface ErrorSource {
  /** The pipeline's name of the API: the wrapper's, so that a pause is recorded under it. */
  readonly api: OutsideApiName;
  /** The provider as an operator knows it, e.g. `perplexity`; starts every message. */
  readonly provider: string;
}

const REASONS: Readonly<Record<OutsideApiFailure, string>> = {
  rate_limited: 'rate limited',
  unavailable: 'unavailable',
  out_of_credit: 'out of credit',
  unauthorized: 'API key rejected',
  unknown_model: 'unknown model',
  rejected: 'request rejected',
  malformed: 'malformed answer',
};

/** Error codes (`code` or `type`) that name the model as unknown. */
const UNKNOWN_MODEL_CODES: ReadonlySet<string> = new Set(['model_not_found', 'invalid_model']);
/** OpenRouter's message for a model id it does not know (its 400 carries no code but the status). */
const OPENROUTER_UNKNOWN_MODEL = /\bis not a valid model ID\b/i;

/** How the pipeline must treat an HTTP status from a provider, when nothing else is known of the error. */
export function failureForStatus(status: number): OutsideApiFailure {
  if (status === 429) return 'rate_limited';
  if (status === 402) return 'out_of_credit';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'unknown_model';
  // 408 is the server timing the request out: as transient as a 5xx.
  if (status === 408 || status >= 500) return 'unavailable';
  return 'rejected';
}

/** An OutsideApiError whose message is `<provider> <status>: <reason>`; `detail` must hold no lead data. */
export function providerError(
  source: ErrorSource,
  failure: OutsideApiFailure,
  options: { status?: number; detail?: string; retryAfterMs?: number } = {},
): OutsideApiError {
  const status = options.status === undefined ? '' : ` ${options.status}`;
  const detail = options.detail === undefined ? '' : ` (${options.detail})`;
  return new OutsideApiError(source.api, failure, `${source.provider}${status}: ${REASONS[failure]}${detail}`, {
    ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
    ...(options.status === undefined ? {} : { status: options.status }),
  });
}

/** Maps any error from an SDK call (or from reading its answer) to an OutsideApiError. */
export function toProviderError(source: ErrorSource, error: unknown): OutsideApiError {
  if (error instanceof OutsideApiError) return error;
  // APIUserAbortError: the caller's signal (shutdown, or the wrapper's timeout); the message goes back to the broker.
  if (error instanceof APIUserAbortError) return providerError(source, 'unavailable', { detail: 'aborted' });
  if (error instanceof APIConnectionTimeoutError) return providerError(source, 'unavailable', { detail: 'timed out' });
  if (error instanceof APIConnectionError) return providerError(source, 'unavailable', { detail: 'connection error' });
  if (error instanceof APIError && typeof error.status === 'number') {
    const failure = failureOfApiError({ body: error.error as unknown, code: error.code, type: error.type }, error.status);
    // Typed loosely through the SDK's declarations: checked here rather than trusted.
    const headers: unknown = error.headers;
    const retryAfterMs = (failure === 'rate_limited' || failure === 'unavailable') && isHeaders(headers) ? retryAfterFrom(headers) : undefined;
    const code = safeCode(error.code) ?? safeCode(error.type);
    return providerError(source, failure, {
      status: error.status,
      ...(code === undefined ? {} : { detail: code }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  // The SDK parses a JSON body itself: a broken one surfaces as a SyntaxError.
  if (error instanceof SyntaxError) return providerError(source, 'malformed', { detail: 'invalid JSON body' });
  if (error instanceof Error && error.name === 'AbortError') return providerError(source, 'unavailable', { detail: 'aborted' });
  return providerError(source, 'unavailable', { detail: 'unexpected error' });
}

/** The failure kind of an HTTP error, reading the error body where the status alone is ambiguous. */
function failureOfApiError(error: { readonly body: unknown; readonly code: unknown; readonly type: unknown }, status: number): OutsideApiFailure {
  const { body } = error;
  if (status === 403 && isModerationRefusal(body)) return 'rejected';
  if (status === 400 && (isUnknownModelCode(error.code) || isUnknownModelCode(error.type) || OPENROUTER_UNKNOWN_MODEL.test(bodyMessage(body)))) {
    return 'unknown_model';
  }
  return failureForStatus(status);
}

/** OpenRouter's moderation error: `{ code: 403, message, metadata: { reasons: [...], flagged_input } }`. */
function isModerationRefusal(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const metadata: unknown = (body as { metadata?: unknown }).metadata;
  return typeof metadata === 'object' && metadata !== null && Array.isArray((metadata as { reasons?: unknown }).reasons);
}

function isUnknownModelCode(code: unknown): boolean {
  return typeof code === 'string' && UNKNOWN_MODEL_CODES.has(code);
}

/** The body's message, only to match against fixed patterns: never copied into an error. */
function bodyMessage(body: unknown): string {
  const message: unknown = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message.slice(0, 500) : '';
}

function isHeaders(value: unknown): value is HeaderSource {
  return typeof value === 'object' && value !== null && typeof (value as { get?: unknown }).get === 'function';
}

/** A provider's machine-readable error code (`invalid_api_key`), when it is a short token, never free text. */
function safeCode(code: unknown): string | undefined {
  return typeof code === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,47}$/.test(code) ? code : undefined;
}
