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
   * What of the outbox keeps work from counting as stalled: `run` (default), any event of its run
   * waiting there (the relay has the run's work in hand); `own`, only its own event (after the
   * broker lost its stream, what it had is lost whatever else of the run the outbox still holds,
   * but an event still in the outbox was never published, so it was not lost).
   */
  readonly outbox?: 'run' | 'own';
}

export interface ReconcilerStore {
  /** Runs still `queued` or `extracting` with no progress for the lease (and, unless told, no event waiting in the outbox). */
  stalledExtractions(staleness: Staleness, limit: number): Promise<readonly RunToExtract[]>;
  /**
   * Leads of `personalizing` runs (or cancelled ones not ended yet; never paused ones) with no progress for the lease (and, unless told, no event of
   * the run waiting in the outbox), whose status is one of `statuses`: not final, or final but
   * uncounted. A page of at most `limit`, in (run, lead) order, after `after` when given.
   */
  stalledLeads(staleness: Staleness, statuses: readonly LeadStatus[], limit: number, after?: StuckLead): Promise<readonly StuckLead[]>;
  /** `personalizing` runs (or cancelled ones not ended yet) that may be settled (all leads final and counted). */
  settledRuns(limit: number): Promise<readonly string[]>;
  /** The identity of the broker's event stream the reconciler last saw (null: never). */
  brokerEpoch(): Promise<string | null>;
  recordBrokerEpoch(epoch: string): Change<void>;
}
