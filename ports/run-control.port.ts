/** Inbound port: the owner of a run cancels, pauses or resumes it (the HTTP edge's `POST /api/campaigns/runs/:runId/<action>`). */
import type { RunControlAction, RunStatus } from '../domain/campaigns/run.ts';

/**
 * What came of an owner's action on a run:
 * - `done`: the run is now in `status`; `changed` is false when it was there already (a cancel of
 *   a cancelled run, a pause of a paused one: asking twice is not an error);
 * - `not_found`: no such run, or not the user's (the two read alike);
 * - `refused`: the action makes no sense for the run in `status` (cancel an ended run, resume a
 *   run that is not paused), with why, fit to show its owner.
 */
export type RunControlResult =
  | { readonly kind: 'done'; readonly status: RunStatus; readonly changed: boolean }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'refused'; readonly status: RunStatus; readonly reason: string };

export interface RunControl {
  /**
   * Stops the run for good. Once it answers, no provider call starts for the run: the leads not
   * started end `cancelled` (counted as such, not processed, charged nothing more), the calls in
   * flight finish and their results are kept and counted; the run ends (its `run.completed`,
   * status `cancelled`) once nothing of it is in flight.
   */
  cancel(userId: string, runId: string): Promise<RunControlResult>;
  /**
   * Stops the run's provider calls until `resume`: once it answers, no provider call starts for
   * the run; the calls in flight finish and are kept and counted; nothing is failed or lost. A
   * paused run's file is still read.
   */
  pause(userId: string, runId: string): Promise<RunControlResult>;
  /** Carries a paused run on: its leads not settled are started again (their events re-published through the outbox). */
  resume(userId: string, runId: string): Promise<RunControlResult>;
}

/** Every action, for routes and documents. */
export const RUN_CONTROL_ACTIONS: readonly RunControlAction[] = ['cancel', 'pause', 'resume'];
