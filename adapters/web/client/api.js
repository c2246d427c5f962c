// The API client: the public API only, with the signed-in user's token. A refusal becomes an
// ApiError carrying the problem (RFC 9457) the API answered, whose `detail` is shown as it is.

/** @typedef {import('./types').Problem} Problem */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Problem} problem
   */
  constructor(status, problem) {
    super(problem.detail ?? problem.title ?? `The server answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

/** @type {() => Promise<string | null>} */
let tokenSource = async () => null;
/** @type {() => void} */
let onUnauthorized = () => {};

/**
 * @param {() => Promise<string | null>} source where the current access token comes from
 * @param {() => void} unauthorized called when the API refuses the token (401)
 */
export function useToken(source, unauthorized) {
  tokenSource = source;
  onUnauthorized = unauthorized;
}

/** The current access token (refreshed when it is about to expire). */
export function accessToken() {
  return tokenSource();
}

/**
 * @param {string} path
 * @param {{ method?: string, json?: unknown, form?: FormData, headers?: Record<string, string>, signal?: AbortSignal }} [options]
 * @returns {Promise<Response>} a 2xx answer; anything else throws ApiError
 */
export async function request(path, options = {}) {
  const token = await tokenSource();
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json, application/problem+json', ...options.headers };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  /** @type {BodyInit | undefined} */
  let body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = options.form;
  }
  let response;
  try {
    response = await fetch(path, { method: options.method ?? 'GET', headers, body, signal: options.signal ?? null });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, { detail: 'The service cannot be reached: check that it is running, then try again.' });
  }
  if (response.ok) return response;
  const problem = await problemOf(response);
  if (response.status === 401) onUnauthorized();
  throw new ApiError(response.status, problem);
}

/**
 * @template T
 * @param {string} path
 * @param {Parameters<typeof request>[1]} [options]
 * @returns {Promise<T>}
 */
export async function getJson(path, options) {
  const response = await request(path, options);
  return /** @type {T} */ (await response.json());
}

/**
 * @param {Response} response
 * @returns {Promise<Problem>}
 */
async function problemOf(response) {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') return /** @type {Problem} */ (parsed);
  } catch {
    // not JSON: below
  }
  return { status: response.status, detail: `The server answered ${response.status} ${response.statusText}.` };
}

/** The message to show for an error: the problem's own words. */
export function errorMessage(/** @type {unknown} */ error) {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A fresh Idempotency-Key for one submission (kept for its retries); getRandomValues works outside secure contexts too. */
export function idempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
