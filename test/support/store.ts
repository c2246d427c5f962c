/**
 * Fixtures shared by the store's integration tests: the PostgreSQL stores on their own migrated
 * database for the test file, a driver that commits each write as a consumer would (through the
 * unit of work, without events), and leads of a two-column file (Email, Company).
 */
import { afterAll, beforeAll } from 'vitest';
import type { LeadOutcome, PipelineMetrics, UserClass } from '../../ports/metrics.port.ts';
import type { Sql } from '../../adapters/postgres/client.ts';
import { createPostgresStores, type PostgresStores } from '../../adapters/postgres/stores/index.ts';
import { FINAL_LEAD_STATUSES, type KpiRates, type LeadStatus } from '../../domain/campaigns/run.ts';
import type { Lead } from '../../domain/leads/lead.ts';
import type { UsdAmount } from '../../domain/pricing/pricing.ts';
import type { ExtractionResult, RunToExtract } from '../../ports/extraction-store.port.ts';
import type { CallClaim, PaidCall } from '../../ports/lead-work-store.port.ts';
import type { Draft, Research } from '../../ports/providers.port.ts';
import type { NewRun } from '../../ports/submission-store.port.ts';
import type { Change } from '../../ports/unit-of-work.port.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestStore {
  readonly db: TestDatabase;
  readonly stores: PostgresStores;
  /** Every store operation, each write committed on its own (no events). */
  readonly store: StoreDriver;
  /** What the stores recorded as metrics, in order: leads settled by outcome and user class, runs ended. */
  readonly metrics: RecordedMetrics;
}

/** A PipelineMetrics that keeps what it is told, for tests. */
export class RecordedMetrics implements PipelineMetrics {
  readonly settled: { outcome: LeadOutcome; userClass: UserClass; count: number }[] = [];
  readonly runs: { status: string; userClass: UserClass; durationSeconds: number }[] = [];

  leadsSettled(outcome: LeadOutcome, userClass: UserClass, count = 1): void {
    this.settled.push({ outcome, userClass, count });
  }

  runCompleted(status: string, userClass: UserClass, durationSeconds: number): void {
    this.runs.push({ status, userClass, durationSeconds });
  }

  /** How many leads were recorded settled with `outcome`. */
  count(outcome: LeadOutcome): number {
    return this.settled.filter((entry) => entry.outcome === outcome).reduce((total, entry) => total + entry.count, 0);
  }
}

/**
 * Registers the file's beforeAll/afterAll: a fresh migrated database and the stores on it, dropped
 * after the file. Read the returned object's fields inside tests (they are set in beforeAll).
 */
export function useTestStore(): TestStore {
  const handle = { metrics: new RecordedMetrics() } as { db: TestDatabase; stores: PostgresStores; store: StoreDriver; metrics: RecordedMetrics };
  beforeAll(async () => {
    handle.db = await createTestDatabase({ migrate: true });
    handle.stores = createPostgresStores(handle.db.sql, { metrics: handle.metrics });
    handle.store = storeDriver(handle.stores);
  });
  afterAll(async () => {
    await handle.db.drop();
  });
  return handle;
}

const PENDING_AND_FINAL: readonly LeadStatus[] = ['pending', 'researched', ...FINAL_LEAD_STATUSES];

/** The stores' operations as awaited calls: reads as they are, writes committed at once without events. */
export function storeDriver(stores: PostgresStores) {
  const commit = <R>(change: Change<R>) => stores.uow.commit(change);
  return {
    createRun: (run: NewRun) => commit(stores.submission.createRun(run)),
    beginExtraction: (runId: string) => commit(stores.extraction.beginExtraction(runId)),
    storeLeads: (run: RunToExtract, leads: readonly Lead[], suppressed?: ReadonlyMap<string, string>) => commit(stores.extraction.storeLeads(run, leads, suppressed)),
    finishExtraction: (runId: string, result: ExtractionResult) =>
      commit(stores.extraction.finishExtraction(runId, result)),
    failRun: (runId: string, message: string) => commit(stores.extraction.failRun(runId, message)),
    leadWork: (leadId: string, runId: string) => stores.leadWork.leadWork(leadId, runId),
    saveResearch: (leadId: string, runId: string, research: Research, costUsd: UsdAmount = '0') =>
      commit(stores.leadWork.saveResearch(leadId, runId, research, costUsd)),
    savePersonalized: (leadId: string, runId: string, draft: Draft, costUsd: UsdAmount = '0') =>
      commit(stores.leadWork.saveDraft(leadId, runId, draft, costUsd)),
    saveNeedsReview: (leadId: string, runId: string, draft: Draft, reasons: string, costUsd: UsdAmount = '0') =>
      commit(stores.leadWork.saveDraft(leadId, runId, draft, costUsd, reasons)),
    addCost: (leadId: string, runId: string, call: PaidCall) => commit(stores.leadWork.addCost(leadId, runId, call)),
    saveFailed: (leadId: string, runId: string, reason: string) => commit(stores.leadWork.saveFailed(leadId, runId, reason)),
    saveSuppressed: (leadId: string, runId: string, reason: string) => commit(stores.leadWork.saveSuppressed(leadId, runId, reason)),
    recordAttempt: (leadId: string, runId: string) => commit(stores.leadWork.recordAttempt(leadId, runId)),
    claimCall: (claim: CallClaim) => commit(stores.leadWork.claimCall(claim)),
    renewClaim: (claim: CallClaim) => commit(stores.leadWork.renewClaim(claim)),
    releaseClaim: (claim: Omit<CallClaim, 'leaseMs'>, called: boolean) => commit(stores.leadWork.releaseClaim(claim, called)),
    countOutcome: (leadId: string, runId: string, rates: KpiRates) => commit(stores.projection.countOutcome(leadId, runId, rates)),
    completeIfSettled: (runId: string) => commit(stores.projection.completeIfSettled(runId)),
    stalledExtractions: (leaseMs: number, limit: number) => stores.reconciler.stalledExtractions({ leaseMs }, limit),
    stalledLeads: (leaseMs: number, limit: number, statuses: readonly LeadStatus[] = PENDING_AND_FINAL) => stores.reconciler.stalledLeads({ leaseMs }, statuses, limit),
    settledRuns: (limit: number) => stores.reconciler.settledRuns(limit),
    runStatus: stores.queries.runStatus.bind(stores.queries),
    leads: stores.queries.leads.bind(stores.queries),
    settledLeads: stores.queries.settledLeads.bind(stores.queries),
    latestSettledLeads: stores.queries.latestSettledLeads.bind(stores.queries),
    exportLeads: stores.queries.exportLeads.bind(stores.queries),
    metrics: stores.queries.metrics.bind(stores.queries),
    completedRun: (runId: string) => stores.runs.completedRun(runId),
    delivery: (runId: string, consumer: string) => stores.deliveries.delivery(runId, consumer),
    recordDeliveryAttempt: (run: { runId: string; userId: string }, consumer: string, error: string | null) =>
      commit(stores.deliveries.recordAttempt(run, consumer, error)),
    recordDeliveryGivenUp: (run: { runId: string; userId: string }, consumer: string, reason: string) =>
      commit(stores.deliveries.recordGivenUp(run, consumer, reason)),
    runStatusForCall: (runId: string) => stores.leadWork.runStatusForCall(runId),
    cancelLead: (leadId: string, runId: string) => commit(stores.leadWork.cancelLead(leadId, runId)),
    cancelRun: (userId: string, runId: string) => commit(stores.runControl.cancelRun(userId, runId)),
    pauseRun: (userId: string, runId: string) => commit(stores.runControl.pauseRun(userId, runId)),
    resumeRun: (userId: string, runId: string) => commit(stores.runControl.resumeRun(userId, runId)),
  };
}

export type StoreDriver = ReturnType<typeof storeDriver>;

/** The outbox's rows, oldest first: what the relay would publish. */
export async function outboxEvents(sql: Sql): Promise<{ event_type: string; msg_id: string; payload: Record<string, unknown> }[]> {
  return sql<{ event_type: string; msg_id: string; payload: Record<string, unknown> }[]>`select event_type, msg_id, payload from outbox order by id`;
}

export { COLUMNS, lead } from './leads.ts';
