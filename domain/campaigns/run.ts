/** Campaign runs and the lifecycle of a lead within one. */

export type RunStatus = 'queued' | 'extracting' | 'personalizing' | 'completed' | 'failed';

/**
 * pending → researched → personalized | needs_review | failed. `skipped` is never stored on a lead: a lead
 * already personalized by an earlier run of the campaign keeps its status and is counted as
 * skipped by the new run.
 *
 * `suppressed` (pending → suppressed, or stored so): the lead's email or domain is on its owner's
 * suppression list, or it was personalized recently in another of the owner's campaigns (see
 * domain/suppression/). Final before any paid call: never researched, never charged, not processed.
 */
export type LeadStatus = 'pending' | 'researched' | 'personalized' | 'needs_review' | 'failed' | 'suppressed';

export const FINAL_LEAD_STATUSES: readonly LeadStatus[] = ['personalized', 'needs_review', 'failed', 'suppressed'];

/**
 * The final statuses the projection counts as processed (into the run's counters, and the KPIs when
 * personalized). A suppressed lead is counted by whoever suppresses it, into `suppressed` only.
 */
export const PROCESSED_LEAD_STATUSES: readonly LeadStatus[] = ['personalized', 'needs_review', 'failed'];

/** Run statuses a run can still leave: its leads are worked on. Any other status means the run has ended. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'extracting', 'personalizing'];

/**
 * Whether a run has ended (completed, failed, or stopped otherwise): no paid call is made for its
 * leads any more, and a lead it left unsettled ends failed with `RUN_ENDED_REASON`, uncounted.
 */
export function hasEnded(status: RunStatus): boolean {
  return !ACTIVE_RUN_STATUSES.includes(status);
}

/** The error of a lead its run's end left unsettled. */
export const RUN_ENDED_REASON = 'The run ended before this lead was processed.';

export interface RunCounters {
  readonly valid: number;
  readonly skipped: number;
  readonly personalized: number;
  /** Leads whose line failed the quality gates twice: a draft exists, but it is not shipped. */
  readonly needs_review: number;
  readonly failed: number;
  /** Leads that ended `suppressed`: no call was made for them. */
  readonly suppressed: number;
}

/** Leads of the run that reached a final state. */
export function processed(counters: RunCounters): number {
  return counters.personalized + counters.needs_review + counters.failed;
}

/** Every valid lead is either skipped, suppressed or settled: the run can finish. */
export function isSettled(counters: RunCounters): boolean {
  return counters.skipped + counters.suppressed + processed(counters) >= counters.valid;
}

export interface RunOutcome {
  readonly status: 'completed' | 'failed';
  readonly errorMessage: string | null;
}

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
