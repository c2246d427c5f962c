/** What the reconciler looks for: work the broker may have lost. */
import type { LeadStatus } from '../domain/campaigns/run.ts';
import type { RunToExtract } from './extraction-store.port.ts';
import type { Change } from './unit-of-work.port.ts';

export interface StuckLead {
  readonly leadId: string;
  readonly runId: string;
  readonly status: LeadStatus;
}

/** Which work counts as stalled. */
export interface Staleness {
  /** No progress for this long (0: any). */
  readonly leaseMs: number;
  /**
   * Also runs with events waiting in the outbox (default false: those are in the relay's hands).
   * After the broker lost its stream, what it had was lost whatever the outbox still holds.
   */
  readonly evenWithOutbox?: boolean;
}

export interface ReconcilerStore {
  /** Runs still `queued` or `extracting` with no progress for the lease (and, unless told, no event waiting in the outbox). */
  stalledExtractions(staleness: Staleness, limit: number): Promise<readonly RunToExtract[]>;
  /**
   * Leads of `personalizing` runs with no progress for the lease (and, unless told, no event of
   * the run waiting in the outbox), whose status is one of `statuses`: not final, or final but
   * uncounted. A page of at most `limit`, in (run, lead) order, after `after` when given.
   */
  stalledLeads(staleness: Staleness, statuses: readonly LeadStatus[], limit: number, after?: StuckLead): Promise<readonly StuckLead[]>;
  /** `personalizing` runs that may be settled (all leads final and counted). */
  settledRuns(limit: number): Promise<readonly string[]>;
  /** The identity of the broker's event stream the reconciler last saw (null: never). */
  brokerEpoch(): Promise<string | null>;
  recordBrokerEpoch(epoch: string): Change<void>;
}
