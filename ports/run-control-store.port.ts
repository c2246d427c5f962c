/** The writes of an owner's cancel, pause and resume of a run, each one transaction. */
import type { RunStatus } from '../domain/campaigns/run.ts';
import type { RunCompletion } from './projection-store.port.ts';
import type { StuckLead } from './reconciler-store.port.ts';
import type { Change } from './unit-of-work.port.ts';

/**
 * What the transaction found and did (see domain/campaigns/run.ts `controlRun`):
 * - `applied`: the run moved `from` → `status`;
 * - `unchanged`: the run was in `status` already;
 * - `refused`: not for a run in `status`, with why;
 * - `not_found`: no such run of this user.
 */
export type RunControlOutcome =
  | { readonly kind: 'applied'; readonly from: RunStatus; readonly status: RunStatus }
  | { readonly kind: 'unchanged'; readonly status: RunStatus }
  | { readonly kind: 'refused'; readonly status: RunStatus; readonly reason: string }
  | { readonly kind: 'not_found' };

export interface RunControlStore {
  /**
   * The user's run → `cancelled` (with `cancelled_at`), and in the same transaction every lead of
   * it that is not settled and has no live claim on a call (no call in flight) → `cancelled`,
   * counted at once into the run's `cancelled` counter and cost. A run cancelled before its file
   * was read to the end takes as `valid` the leads it stored. When no lead of the run is left
   * uncounted the run ends there (`completed_at`, and `completion` for its `run.completed`);
   * otherwise the deliveries of the leads in flight end it (ProjectionStore.completeIfSettled).
   *
   * The run's row is locked first: a call's last check (LeadWorkStore.runStatusForCall) either
   * commits before this transaction, and its call is in flight (its lead has a live claim, so it
   * is left to finish), or waits for it and finds the run cancelled.
   */
  cancelRun(userId: string, runId: string): Change<{ readonly outcome: RunControlOutcome; readonly completion: RunCompletion | null }>;
  /** The user's active run → `paused` (with `paused_at`); its leads are left as they are. */
  pauseRun(userId: string, runId: string): Change<RunControlOutcome>;
  /**
   * The user's paused run → `personalizing` (or `extracting` while its file was not read to the
   * end), and the leads to carry on: every lead of the run not settled, in file order, whose
   * events the caller commits with this change.
   */
  resumeRun(userId: string, runId: string): Change<{ readonly outcome: RunControlOutcome; readonly leads: readonly StuckLead[] }>;
}
