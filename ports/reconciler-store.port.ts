/** What the reconciler looks for: work the broker may have lost. */
import type { LeadStatus } from '../domain/campaigns/run.ts';
import type { RunToExtract } from './extraction-store.port.ts';

export interface StuckLead {
  readonly leadId: string;
  readonly runId: string;
  readonly status: LeadStatus;
}

export interface ReconcilerStore {
  /** Runs still `queued` or `extracting` with no progress for `leaseMs` and no event waiting in the outbox. */
  stalledExtractions(leaseMs: number, limit: number): Promise<readonly RunToExtract[]>;
  /**
   * Leads of `personalizing` runs with no progress for `leaseMs` and no event of the run waiting in
   * the outbox, whose status is one of `statuses`: not final, or final but uncounted.
   */
  stalledLeads(leaseMs: number, statuses: readonly LeadStatus[], limit: number): Promise<readonly StuckLead[]>;
  /** `personalizing` runs that may be settled (all leads final and counted). */
  settledRuns(limit: number): Promise<readonly string[]>;
}
