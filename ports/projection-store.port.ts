/** The KPI projection's writes: counting settled leads exactly once, and ending settled runs. */
import type { KpiRates, RunOutcome } from '../domain/campaigns/run.ts';
import type { Change } from './unit-of-work.port.ts';

/** A run that just ended, as its `run.completed` event tells it. */
export interface RunCompletion {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
  readonly outcome: RunOutcome;
}

export interface ProjectionStore {
  /**
   * Counts a settled lead's outcome exactly once per run, in one transaction: the run's counters
   * and cost (the lead's, whatever its outcome), the campaign's completed count and the user's
   * KPIs (personalized leads only: a needs_review lead counts in its run's `needs_review`; and
   * never a lead of a sandbox run: its line is made up).
   * Reports false when it was counted before (a redelivery or a replay), the lead is not final
   * for that run, or the run has failed or completed: a failed run counts no more leads, so a
   * lead it left behind is in neither its counters nor the KPIs. A paused or cancelled run still
   * counts the leads whose calls were in flight (a cancelled lead in its `cancelled` counter).
   */
  countOutcome(leadId: string, runId: string, rates: KpiRates): Change<boolean>;
  /**
   * Ends a `personalizing` run whose leads are all settled or skipped, with the outcome of
   * `outcomeOf`, or a `cancelled` one whose leads in flight at the cancel are all settled (it
   * ends cancelled); null when the run is not settled yet, paused, or already ended (only one
   * commit ends it).
   */
  completeIfSettled(runId: string): Change<RunCompletion | null>;
}
