/**
 * The `error.type` attribute of a failure (OpenTelemetry's convention): low-cardinality, never a
 * message. An outside API's failure is its kind (`rate_limited`, `timeout`, `server_error`, ...);
 * any other error its class name; anything else `_OTHER`.
 */
import { ApiPaused, OutsideApiError } from '../../ports/outside-api.port.ts';

export function errorTypeOf(error: unknown): string {
  if (error instanceof ApiPaused) return error.failure === 'unavailable' ? 'circuit_open' : error.failure;
  if (error instanceof OutsideApiError) {
    if (error.failure === 'unavailable') {
      if (/timed out/i.test(error.message)) return 'timeout';
      if (error.status !== undefined && error.status >= 500) return 'server_error';
      return 'unavailable';
    }
    return error.failure;
  }
  if (error instanceof Error) {
    if (error.name === 'AbortError' || error.name === 'TimeoutError') return error.name;
    const name = error.constructor?.name || error.name;
    return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) ? name : '_OTHER';
  }
  return '_OTHER';
}
