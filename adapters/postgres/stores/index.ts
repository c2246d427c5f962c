/**
 * The PostgreSQL adapters of the store ports, one module per port, on one pool. They share the
 * lanes their writes commit in (changes.ts), so that only PostgresUnitOfWork commits them.
 */
import type { PipelineMetrics } from '../../../ports/metrics.port.ts';
import { Lanes } from '../changes.ts';
import type { Sql } from '../client.ts';
import { PostgresOutboxStore } from '../outbox-store.ts';
import { PostgresUnitOfWork } from '../unit-of-work.ts';
import { PostgresCampaignQueries } from './campaign-queries.ts';
import { PostgresCampaignStore } from './campaign-store.ts';
import { PostgresDeliveryLog } from './delivery-log.ts';
import { PostgresExtractionStore } from './extraction-store.ts';
import { PostgresLeadWorkStore } from './lead-work-store.ts';
import { PostgresProjectionStore } from './projection-store.ts';
import { PostgresReconcilerStore } from './reconciler-store.ts';
import { PostgresResearchCache } from './research-cache.ts';
import { PostgresRerunStore } from './rerun-store.ts';
import { PostgresRunControlStore } from './run-control-store.ts';
import { PostgresRunReader } from './run-reader.ts';
import { PostgresSubmissionStore } from './submission-store.ts';
import { PostgresTemplateStore } from './template-store.ts';
import { PostgresSuppressionStore } from './suppression-store.ts';

export interface PostgresStores {
  readonly uow: PostgresUnitOfWork;
  readonly outbox: PostgresOutboxStore;
  readonly submission: PostgresSubmissionStore;
  readonly extraction: PostgresExtractionStore;
  readonly leadWork: PostgresLeadWorkStore;
  readonly researchCache: PostgresResearchCache;
  readonly rerun: PostgresRerunStore;
  readonly projection: PostgresProjectionStore;
  readonly reconciler: PostgresReconcilerStore;
  readonly queries: PostgresCampaignQueries;
  readonly runs: PostgresRunReader;
  readonly deliveries: PostgresDeliveryLog;
  readonly templates: PostgresTemplateStore;
  readonly campaigns: PostgresCampaignStore;
  /** Each user's suppression list: the edge's CRUD and the pipeline's look-ups. */
  readonly suppressions: PostgresSuppressionStore;
  readonly runControl: PostgresRunControlStore;
}

/** `metrics`: what the stores record as they commit (settled leads, ended runs); nothing by default. */
export function createPostgresStores(sql: Sql, options: { readonly metrics?: PipelineMetrics } = {}): PostgresStores {
  const lanes = new Lanes(sql);
  return {
    uow: new PostgresUnitOfWork(sql),
    outbox: new PostgresOutboxStore(sql),
    submission: new PostgresSubmissionStore(lanes),
    extraction: new PostgresExtractionStore(sql, lanes, options.metrics),
    leadWork: new PostgresLeadWorkStore(lanes, sql, options.metrics),
    researchCache: new PostgresResearchCache(lanes),
    rerun: new PostgresRerunStore(lanes),
    projection: new PostgresProjectionStore(sql, options.metrics),
    reconciler: new PostgresReconcilerStore(sql, lanes),
    queries: new PostgresCampaignQueries(sql),
    runs: new PostgresRunReader(sql),
    deliveries: new PostgresDeliveryLog(sql, lanes),
    templates: new PostgresTemplateStore(sql),
    campaigns: new PostgresCampaignStore(lanes),
    suppressions: new PostgresSuppressionStore(sql, lanes),
    runControl: new PostgresRunControlStore(sql, options.metrics),
  };
}
