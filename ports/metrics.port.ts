/**
 * What the pipeline records about itself for operators (leads per minute by outcome, run
 * durations), independent of any metrics SDK. Labels are bounded by construction: an outcome, a
 * user class and a run status; never a lead, run or user id, never personal data.
 */

/** How a lead ended, as the run's counters count it. */
export type LeadOutcome = 'personalized' | 'needs_review' | 'failed' | 'suppressed' | 'cancelled';

/** Whose run it was, as a class of user: a sandbox run (made-up lines), a demo, or a standard one. */
export type UserClass = 'sandbox' | 'demo' | 'standard';

/** The user class of a run from its flags; sandbox wins over demo. */
export function userClassOf(run: { readonly sandbox?: boolean | null; readonly demo?: boolean | null }): UserClass {
  if (run.sandbox === true) return 'sandbox';
  if (run.demo === true) return 'demo';
  return 'standard';
}

export interface PipelineMetrics {
  /** `count` leads of one run settled with `outcome` (each lead recorded once, when it is counted). */
  leadsSettled(outcome: LeadOutcome, userClass: UserClass, count?: number): void;
  /** A run ended with `status` (completed, failed, cancelled, ...) after `durationSeconds` since it was created. */
  runCompleted(status: string, userClass: UserClass, durationSeconds: number): void;
}

/** Records nothing: for processes and tests without metrics. */
export const NO_PIPELINE_METRICS: PipelineMetrics = {
  leadsSettled: () => {},
  runCompleted: () => {},
};
