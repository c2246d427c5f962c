/** Campaign runs and the lifecycle of a lead within one. */

/**
 * queued → extracting → personalizing → completed | failed, and by its owner's hand: a run not
 * ended may be `cancelled` (no new paid call; its leads not started end `cancelled`), and an
 * active one `paused` (no new paid call until it is resumed; nothing is lost meanwhile).
 */
export type RunStatus = 'queued' | 'extracting' | 'personalizing' | 'paused' | 'completed' | 'failed' | 'cancelled';

/**
 * pending → researched → personalized | needs_review | failed. `skipped` is never stored on a lead: a lead
 * already personalized by an earlier run of the campaign keeps its status and is counted as
 * skipped by the new run.
 *
 * `suppressed` (pending → suppressed, or stored so): the lead's email or domain is on its owner's
 * suppression list, or it was personalized recently in another of the owner's campaigns (see
 * domain/suppression/). Final before any paid call: never researched, never charged, not processed.
 *
 * `cancelled` (pending | researched → cancelled): its run was cancelled before the lead's work was
 * done: what was paid for it is kept, nothing more is. Final, not processed, not in the KPIs:
 * counted in its run's `cancelled` by whoever cancels it.
 */
export type LeadStatus = 'pending' | 'researched' | 'personalized' | 'needs_review' | 'failed' | 'suppressed' | 'cancelled';

/** Statuses a lead ends in: no more work is done for it in its run. */
export const FINAL_LEAD_STATUSES: readonly LeadStatus[] = ['personalized', 'needs_review', 'failed', 'suppressed', 'cancelled'];

/**
 * The final statuses the projection counts as processed (into the run's counters, and the KPIs when
 * personalized). A suppressed lead is counted by whoever suppresses it, into `suppressed` only; a
 * cancelled one by whoever cancels it, into `cancelled` only.
 */
export const PROCESSED_LEAD_STATUSES: readonly LeadStatus[] = ['personalized', 'needs_review', 'failed'];

/**
 * The statuses a lead may be re-run from (a re-run of its campaign, without the file): a processed
 * lead's, or a cancelled one's (its run was cancelled before its work was done). A lead still in a
 * run belongs to it; a suppressed one stays suppressed.
 */
export const RERUNNABLE_LEAD_STATUSES: readonly LeadStatus[] = [...PROCESSED_LEAD_STATUSES, 'cancelled'];

/** Run statuses a run can still leave on its own: its leads are worked on and paid calls are made. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'extracting', 'personalizing'];

/**
 * Runs that have not ended: active, or paused (its owner resumes it). A campaign with such a run
 * is neither erased nor re-run, and a failure of its file can still fail it.
 */
export const UNENDED_RUN_STATUSES: readonly RunStatus[] = [...ACTIVE_RUN_STATUSES, 'paused'];

/** Statuses of a run that has stopped taking work for good: no paid call is made for its leads any more. */
export const STOPPED_RUN_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

/**
 * Runs whose settled leads are still counted into their counters and the KPIs: every run but a
 * completed one (all its leads are counted already) and a failed one (what it left unsettled
 * ended failed with RUN_ENDED_REASON, and is counted nowhere). A paused run counts the calls that
 * were in flight when it paused; a cancelled run those in flight when it was cancelled, until it
 * has ended.
 */
export const COUNTING_RUN_STATUSES: readonly RunStatus[] = ['queued', 'extracting', 'personalizing', 'paused', 'cancelled'];

/**
 * Whether a run has stopped for good (completed, failed, cancelled): no paid call is made for its
 * leads any more. A lead a failed run left unsettled ends failed with `RUN_ENDED_REASON`,
 * uncounted; one a cancelled run left ends `cancelled` with `RUN_CANCELLED_REASON`, counted as
 * cancelled. A paused run has not ended.
 */
export function hasEnded(status: RunStatus): boolean {
  return STOPPED_RUN_STATUSES.includes(status);
}

/** Whether a run takes paid calls now: active (not paused, not ended). */
export function takesCalls(status: RunStatus): boolean {
  return ACTIVE_RUN_STATUSES.includes(status);
}

/** The error of a lead its run's end left unsettled. */
export const RUN_ENDED_REASON = 'The run ended before this lead was processed.';

/** The error of a lead its run's cancel left unsettled. */
export const RUN_CANCELLED_REASON = 'The run was cancelled before this lead was processed.';

/** What the run's owner may ask of it. */
export type RunControlAction = 'cancel' | 'pause' | 'resume';

/**
 * What an owner's action does to a run in `status`:
 * - `apply`: the run moves to `to`;
 * - `unchanged`: the run is where the action would take it already (cancel a cancelled run, pause
 *   a paused one): nothing to do, and it is not an error (a retried request gets the same answer);
 * - `refused`: the action makes no sense for the run (cancel an ended run, resume a run that is
 *   not paused), with why, fit to show its owner.
 *
 * Resume takes a paused run back to `extracting` when its file was not read to the end yet
 * (`extracted` false), else to `personalizing`.
 */
export type RunControlVerdict =
  | { readonly kind: 'apply'; readonly to: RunStatus }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'refused'; readonly reason: string };

export function controlRun(action: RunControlAction, status: RunStatus, extracted: boolean): RunControlVerdict {
  switch (action) {
    case 'cancel':
      if (status === 'cancelled') return { kind: 'unchanged' };
      if (hasEnded(status)) return { kind: 'refused', reason: `The run has ended (${status}): there is nothing left to cancel.` };
      return { kind: 'apply', to: 'cancelled' };
    case 'pause':
      if (status === 'paused') return { kind: 'unchanged' };
      if (hasEnded(status)) return { kind: 'refused', reason: `The run has ended (${status}): there is nothing left to pause.` };
      return { kind: 'apply', to: 'paused' };
    case 'resume':
      if (status === 'paused') return { kind: 'apply', to: extracted ? 'personalizing' : 'extracting' };
      if (hasEnded(status)) return { kind: 'refused', reason: `The run has ended (${status}): it cannot be resumed.` };
      return { kind: 'refused', reason: `The run is not paused (it is ${status}): only a paused run can be resumed.` };
  }
}

export interface RunCounters {
  readonly valid: number;
  readonly skipped: number;
  readonly personalized: number;
  /** Leads whose line failed the quality gates twice: a draft exists, but it is not shipped. */
  readonly needs_review: number;
  readonly failed: number;
  /** Leads that ended `suppressed`: no call was made for them. */
  readonly suppressed: number;
  /** Leads its cancel left unsettled: not processed, not charged beyond what was paid before. */
  readonly cancelled?: number;
}

/** Leads of the run that reached a final state by being worked on (cancelled ones were not). */
export function processed(counters: RunCounters): number {
  return counters.personalized + counters.needs_review + counters.failed;
}

/** Every valid lead is either skipped, suppressed, settled or cancelled: the run can finish. */
export function isSettled(counters: RunCounters): boolean {
  return counters.skipped + counters.suppressed + processed(counters) + (counters.cancelled ?? 0) >= counters.valid;
}

export interface RunOutcome {
  readonly status: 'completed' | 'failed' | 'cancelled';
  readonly errorMessage: string | null;
}

/** How a cancelled run ends once nothing of it is in flight any more: cancelled, with no error. */
export const CANCELLED_OUTCOME: RunOutcome = { status: 'cancelled', errorMessage: null };

/**
 * How a settled run ends: completed when at least one lead was personalized or when there was
 * nothing left to do (every lead skipped or suppressed: a run of suppressed leads says so in its
 * message); failed when the file had no valid lead, or when leads were attempted and none even got
 * a draft.
 *
 * A run where nothing was personalized but some leads need review is completed, with the count in
 * its error message ("2 leads need review (1 failed)."): the pipeline did its work and the drafts
 * are there for the owner to fix; failing the run would say nothing came out of it.
 */
export function outcomeOf(counters: RunCounters): RunOutcome {
  if (counters.valid === 0) {
    return { status: 'failed', errorMessage: 'The file has no valid leads: see the import report for the reason of each row.' };
  }
  const attempted = processed(counters);
  if (attempted > 0 && counters.personalized === 0) {
    if (counters.needs_review > 0) {
      const review = counters.needs_review === 1 ? '1 lead needs review' : `${counters.needs_review} leads need review`;
      return { status: 'completed', errorMessage: `${review}${counters.failed > 0 ? ` (${counters.failed} failed)` : ''}.` };
    }
    return { status: 'failed', errorMessage: `No lead could be personalized (${counters.failed} failed).` };
  }
  if (attempted === 0 && counters.suppressed > 0) {
    const suppressed = counters.suppressed === 1 ? '1 lead is suppressed' : `${counters.suppressed} leads are suppressed`;
    const skipped = counters.skipped > 0 ? ` and ${counters.skipped} already personalized` : '';
    return { status: 'completed', errorMessage: `Nothing was processed: ${suppressed}${skipped} (each suppressed lead's error says why).` };
  }
  return { status: 'completed', errorMessage: null };
}

/** What one personalized lead saves the user, for the KPIs. */
export interface KpiRates {
  readonly hoursPerLead: number;
  readonly moneyPerLead: number;
}

export const DEFAULT_KPI_RATES: KpiRates = { hoursPerLead: 0.02, moneyPerLead: 0.04 };
