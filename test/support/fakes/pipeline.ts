/**
 * Test doubles (never used in production code) wired together: one in-memory database (the
 * campaign store and its outbox on one fake clock), the unit of work that commits to it, and the
 * simple doubles of every other port a consumer may use, plus a `PortCatalog` over them for the
 * kernel. Helpers bring a run to a given stage through the store's own changes, so a test starts
 * from a state the real pipeline could be in.
 */
import { DEFAULT_KPI_RATES } from '../../../domain/campaigns/run.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../../domain/leads/import-error.ts';
import { DEFAULT_PRICING } from '../../../domain/pricing/pricing.ts';
import { CsvLeadFileReader } from '../../../adapters/csv/csv-lead-file-reader.ts';
import type { RunToExtract } from '../../../ports/extraction-store.port.ts';
import type { ResearchCache } from '../../../ports/research-cache.port.ts';
import type { NewRun } from '../../../ports/submission-store.port.ts';
import { PortCatalog, type PipelinePorts, type PortFactories } from '../../../src/app/kernel/ports.ts';
import { lead } from '../leads.ts';
import { FakeClock } from './clock.ts';
import { InMemoryCampaignStore } from './campaign-store.ts';
import { InMemoryLeadFileStore } from './files.ts';
import { RecordingRunNotifications } from './notifications.ts';
import { InMemoryOutbox } from './outbox.ts';
import { ScriptedMessageWriter, ScriptedResearchProvider } from './providers.ts';
import { RecordingTracing } from './tracing.ts';
import { RecordingWebhookSender } from './webhooks.ts';
import { FakeUnitOfWork } from './unit-of-work.ts';

export interface InMemoryPipeline {
  readonly clock: FakeClock;
  readonly outbox: InMemoryOutbox;
  readonly store: InMemoryCampaignStore;
  readonly uow: FakeUnitOfWork;
  readonly files: InMemoryLeadFileStore;
  readonly tracing: RecordingTracing;
  readonly notifier: RecordingRunNotifications;
  readonly research: ScriptedResearchProvider;
  readonly writer: ScriptedMessageWriter;
  readonly webhooks: RecordingWebhookSender;
}

export function inMemoryPipeline(): InMemoryPipeline {
  const clock = new FakeClock();
  const outbox = new InMemoryOutbox(clock);
  return {
    clock,
    outbox,
    store: new InMemoryCampaignStore({ clock, outbox }),
    uow: new FakeUnitOfWork(outbox),
    files: new InMemoryLeadFileStore(),
    tracing: new RecordingTracing(),
    notifier: new RecordingRunNotifications(),
    research: new ScriptedResearchProvider(),
    writer: new ScriptedMessageWriter(),
    webhooks: new RecordingWebhookSender(),
  };
}

/** The research cache has no in-memory double: any use of it fails the test. */
const unfakedResearchCache: ResearchCache = new Proxy({} as ResearchCache, {
  // Not a thenable: the port catalog resolves ports as promises.
  get: (_target, name) =>
    name === 'then'
      ? undefined
      : () => {
          throw new Error(`the research cache is not faked (${String(name)}): give the research consumer a TTL of 0`);
        },
});

/** Every pipeline port, from the in-memory doubles (the real, pure CSV reader); `overrides` replace any. */
export function pipelinePorts(pipeline: InMemoryPipeline, overrides: Partial<PipelinePorts> = {}): PipelinePorts {
  return {
    uow: pipeline.uow,
    extractionStore: pipeline.store,
    leadWork: pipeline.store,
    // Not faked: with a TTL of 0 research is not shared (the real cache is tested end to end).
    researchCache: unfakedResearchCache,
    researchCacheTtlMs: 0,
    projectionStore: pipeline.store,
    suppressions: pipeline.store,
    runs: pipeline.store,
    deliveries: pipeline.store.deliveries,
    webhooks: pipeline.webhooks,
    files: pipeline.files,
    reader: new CsvLeadFileReader(),
    tracing: pipeline.tracing,
    notifier: pipeline.notifier,
    research: pipeline.research,
    writer: pipeline.writer,
    importLimits: DEFAULT_IMPORT_LIMITS,
    extractionBatchSize: 1_000,
    pricing: DEFAULT_PRICING,
    kpiRates: DEFAULT_KPI_RATES,
    bannedPhrases: ['synergy', 'circle back'],
    ...overrides,
  };
}

/** A catalog over `pipelinePorts`; `built` records the name of each port built (once each). */
export function portCatalog(pipeline: InMemoryPipeline, overrides: Partial<PipelinePorts> = {}): { catalog: PortCatalog; built: (keyof PipelinePorts)[] } {
  const ports = pipelinePorts(pipeline, overrides);
  const built: (keyof PipelinePorts)[] = [];
  const factories = Object.fromEntries(
    (Object.keys(ports) as (keyof PipelinePorts)[]).map((name) => [
      name,
      () => {
        built.push(name);
        return ports[name];
      },
    ]),
  ) as unknown as PortFactories;
  return { catalog: new PortCatalog(factories), built };
}

/** A new queued run (of a new campaign unless `campaignId` is given). */
export async function queuedRun(pipeline: InMemoryPipeline, run: Partial<NewRun> & { userId?: string } = {}) {
  return pipeline.uow.commit(
    pipeline.store.createRun({
      userId: run.userId ?? crypto.randomUUID(),
      demo: false,
      fileName: 'leads.csv',
      ...(run.campaignId === undefined ? { campaignName: 'Q3 outbound' } : {}),
      ...run,
    }),
  );
}

/**
 * A run whose leads (one per email, rows 2, 3, …) are stored and whose extraction is finished:
 * `personalizing`, its pending leads in file order.
 */
export async function personalizingRun(
  pipeline: InMemoryPipeline,
  emails: readonly string[],
  run: Partial<NewRun> & { userId?: string } = {},
): Promise<{ run: RunToExtract; pending: readonly string[]; skipped: number }> {
  const { uow, store } = pipeline;
  const created = await queuedRun(pipeline, run);
  const extracting = await uow.commit(store.beginExtraction(created.runId));
  if (extracting === null) throw new Error('the new run cannot be extracted');
  const stored = await uow.commit(store.storeLeads(extracting, emails.map((email, index) => lead(email, index + 2))));
  await uow.commit(
    store.finishExtraction(created.runId, {
      report: { total_rows: emails.length, valid: emails.length, duplicates: 0, rejected: [], columns: [], demo_excluded: 0 },
      columns: [],
      skipped: stored.skipped,
    }),
  );
  return { run: extracting, ...stored };
}

export { lead } from '../leads.ts';
