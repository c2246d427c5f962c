/** What consumers of `run.completed` read about the run that ended (a webhook, a CRM push, ...). */
import type { UsdAmount } from '../domain/pricing/pricing.ts';

export interface CompletedRun {
  readonly runId: string;
  readonly campaignId: string;
  readonly userId: string;
  readonly status: 'completed' | 'failed' | 'cancelled';
  /** The run's counters, as its status shows them. */
  readonly counts: {
    readonly valid: number;
    readonly personalized: number;
    readonly needs_review: number;
    readonly failed: number;
    readonly skipped: number;
    readonly suppressed: number;
    /** Leads its owner's cancel left unsettled. */
    readonly cancelled: number;
  };
  /** USD spent on the run, exact (a decimal string). */
  readonly costUsd: UsdAmount;
  /** ISO time. */
  readonly completedAt: string;
  /** The campaign's options (fields consumers declared, e.g. `webhook_url`), as stored. */
  readonly options: Readonly<Record<string, string>>;
}

export interface RunReader {
  /** The run, once it has ended; null while it runs or when it is unknown. */
  completedRun(runId: string): Promise<CompletedRun | null>;
}
