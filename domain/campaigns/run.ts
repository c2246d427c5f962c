/** Campaign runs and the lifecycle of a lead within one. */

export type RunStatus = 'queued' | 'extracting' | 'personalizing' | 'completed' | 'failed';

/**
 * pending → researched → personalized | failed. `skipped` is never stored on a lead: a lead
 * already personalized by an earlier run of the campaign keeps its status and is counted as
 * skipped by the new run.
 */
export type LeadStatus = 'pending' | 'researched' | 'personalized' | 'needs_review' | 'failed';

export const FINAL_LEAD_STATUSES: readonly LeadStatus[] = ['personalized', 'needs_review', 'failed'];

export interface RunCounters {
  readonly valid: number;
  readonly skipped: number;
  readonly personalized: number;
  readonly failed: number;
}

/** Leads of the run that reached a final state. */
export function processed(counters: RunCounters): number {
  return counters.personalized + counters.failed;
}

/** Every valid lead is either skipped or settled: the run can finish. */
export function isSettled(counters: RunCounters): boolean {
  return counters.skipped + processed(counters) >= counters.valid;
}

export interface RunOutcome {
  readonly status: 'completed' | 'failed';
  readonly errorMessage: string | null;
}

/**
 * How a settled run ends: completed when at least one lead was personalized or when there was
 * nothing left to do (every lead skipped); failed when the file had no valid lead, or when leads
 * were attempted and none succeeded.
 */
export function outcomeOf(counters: RunCounters): RunOutcome {
  if (counters.valid === 0) {
    return { status: 'failed', errorMessage: 'The file has no valid leads: see the import report for the reason of each row.' };
  }
  const attempted = processed(counters);
  if (attempted > 0 && counters.personalized === 0) {
    return { status: 'failed', errorMessage: `No lead could be personalized (${counters.failed} failed).` };
  }
  return { status: 'completed', errorMessage: null };
}

/** What one personalized lead saves the user, for the KPIs. */
export interface KpiRates {
  readonly hoursPerLead: number;
  readonly moneyPerLead: number;
}

export const DEFAULT_KPI_RATES: KpiRates = { hoursPerLead: 0.02, moneyPerLead: 0.04 };
