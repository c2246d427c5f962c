/**
 * What the resilience layer shares between worker processes, as interfaces: a rate budget (the
 * pacing of calls and the hold after a 429) and a status board (the 402 pause and the circuit
 * state shown to users). adapters/nats/provider-budget.ts and provider-status.ts implement them
 * on a NATS KV bucket.
 */
import type { ProviderRole } from '../../../ports/provider-gate.port.ts';

export interface RateBudget {
  /**
   * Reserves the start time (epoch ms) of one call to `role`: at least `intervalMs` after the
   * previous reservation made by any process, and not before a hold. The caller waits until then.
   */
  reserve(role: ProviderRole, intervalMs: number): Promise<number>;
  /** The time (epoch ms) before which no call to `role` may start, as last seen; 0 when none. */
  heldUntil(role: ProviderRole): number;
  /** Holds every process's calls to `role` until `until` (epoch ms); a hold is never shortened. */
  holdUntil(role: ProviderRole, until: number): Promise<void>;
}

/** A provider paused because its account is out of credit (HTTP 402), as every process sees it. */
export interface ProviderPause {
  /** Fit to show a user, e.g. `provider out of credit`. */
  readonly reason: string;
  /** Epoch ms. */
  readonly since: number;
  /** When the next probe call is due (epoch ms). */
  readonly probeAt: number;
  /** The record's revision, for compare-and-set. */
  readonly revision: number;
}

export interface ProviderBoard {
  /** The pause in force for `role`, as last seen (a watch keeps it current); undefined when none. */
  pauseOf(role: ProviderRole): ProviderPause | undefined;
  /** Pauses `role` unless it already is; the first probe is due `probeAfterMs` later. */
  pause(role: ProviderRole, reason: string, probeAfterMs: number): Promise<void>;
  /** Ends `pause`, unless it was replaced or ended meanwhile. */
  resume(role: ProviderRole, pause: ProviderPause): Promise<void>;
  /**
   * Takes the probe due on `pause` for this process and sets the next one `intervalMs` later:
   * false when another process took it first. One probe at a time across all processes.
   */
  claimProbe(role: ProviderRole, pause: ProviderPause, intervalMs: number): Promise<boolean>;
  /** Records that this process's breaker for `role` opened (until it turns half-open) or closed (null). */
  recordCircuit(role: ProviderRole, open: { readonly since: number; readonly until: number } | null): Promise<void>;
  /** Calls `listener` after any pause begins, changes or ends; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}
