/**
 * How the pipeline learns that a provider cannot take work for now, and waits instead of failing
 * leads: a gate a consumer passes before each pull, the status the run's page shows, and the
 * error a call throws when the provider, not the lead, is why it failed.
 */
import { ProviderError } from './providers.port.ts';

/** The two outside APIs, named by the pipeline step that calls them. */
export type ProviderRole = 'research' | 'personalization';

export const PROVIDER_ROLES: readonly ProviderRole[] = ['research', 'personalization'];

/**
 * - `ok`: taking work.
 * - `paused`: the account is out of credit (402); work waits, shared by every process, until a
 *   probe call succeeds.
 * - `circuit_open`: most recent calls failed (5xx, timeouts); calls stop for a while, then one
 *   trial call decides.
 */
export type ProviderState = 'ok' | 'paused' | 'circuit_open';

export interface ProviderStatus {
  readonly provider: ProviderRole;
  readonly state: ProviderState;
  /** Why it is not `ok`, fit to show a user, e.g. `provider out of credit`; null when `ok`. */
  readonly reason: string | null;
  /** ISO time the state began; null when `ok`. */
  readonly since: string | null;
}

/** What the status route reads to say, e.g., "research paused: provider out of credit". */
export interface ProviderStatusReader {
  /** One entry per provider role. */
  current(): Promise<ProviderStatus[]>;
}

/**
 * Held by a consumer before each pull, so that no message is taken (and no delivery spent)
 * while its provider cannot answer.
 */
export interface ProviderGate {
  /**
   * Resolves when messages may be pulled, with the most to pull now: `Infinity` while the
   * provider is usable; 1 when a probe is due while it is paused or its circuit is half-open
   * (that one message's call tests the provider). Rejects with the signal's reason on abort.
   */
  wait(signal: AbortSignal): Promise<number>;
}

/**
 * A call refused because the provider is paused or its circuit is open: the message is retried
 * after `retryAfterMs` and never given up for it.
 */
export class ProviderPaused extends ProviderError {
  constructor(provider: string, failure: 'out_of_credit' | 'unavailable', message: string, retryAfterMs: number) {
    super(provider, failure, message, retryAfterMs);
    this.name = 'ProviderPaused';
  }
}

/**
 * True when the provider pushed back (out of credit, circuit open, rate limited): the lead is
 * not at fault, so its message waits and retries for as long as that lasts, never giving up.
 */
export function isProviderPushback(error: unknown): boolean {
  return (
    error instanceof ProviderPaused ||
    (error instanceof ProviderError && (error.failure === 'out_of_credit' || error.failure === 'rate_limited'))
  );
}
