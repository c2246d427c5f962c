/** How the failures of a handler that calls an outside API are classified for the runner. */
import type { FailureVerdict } from '../../../ports/event-consumer.port.ts';
import { defaultVerdict } from '../../../ports/event-consumer.port.ts';
import { isProviderPushback } from '../../../ports/provider-gate.port.ts';
import { ProviderError } from '../../../ports/providers.port.ts';

/** When an API pushes back without saying for how long. */
const DEFAULT_WAIT_MS = 5_000;

/** Pushback waits (never gives up), a rejected input gives up, the rest retries. */
export function apiVerdict(error: unknown): FailureVerdict {
  if (isProviderPushback(error)) return { action: 'wait', afterMs: (error as ProviderError).retryAfterMs ?? DEFAULT_WAIT_MS };
  if (error instanceof ProviderError) {
    if (error.failure === 'rejected') return { action: 'give_up' };
    return error.retryAfterMs === undefined ? { action: 'retry' } : { action: 'retry', afterMs: error.retryAfterMs };
  }
  return defaultVerdict(error);
}

/** True when the outside API, not the work, is why the call failed. */
export function isPushback(error: unknown): boolean {
  return isProviderPushback(error);
}
