/**
 * The whole system in one test process, built from the real adapters and the consumers'
 * declarations as src/compose.ts wires them: the HTTP edge on a free port, the pipeline's
 * consumers pulling from a real JetStream stream (random subject prefix, stream and bucket names),
 * the PostgreSQL stores on a throw-away database with the outbox relay, the sandbox provider over
 * real HTTP, the completion webhook (its secret is the test's, private addresses allowed, so that
 * a receiver on 127.0.0.1 gets it), the reconciler (run by the tests, pass by pass), and the real tracing SDK with an
 * in-memory exporter.
 *
 * One fault injector sits in the relay's path to the broker: `drop` makes chosen events vanish as
 * a broker that lost them after acknowledging them would (the outbox row is gone, the stream never
 * has the event), so the reconciler has something to find.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { SupabaseTokenVerifier } from '../../adapters/auth/supabase-token-verifier.ts';
import { CsvLeadFileReader } from '../../adapters/csv/csv-lead-file-reader.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { startHttpServer, type RunningHttpServer } from '../../adapters/http/server.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { NatsConsumerDirectory } from '../../adapters/nats/consumer-directory.ts';
import { NatsObjectLeadFileStore } from '../../adapters/nats/file-store.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { startConsumers, type RunningConsumers } from '../../adapters/nats/runner/index.ts';
import { NatsRunNotifications } from '../../adapters/nats/run-notifications.ts';
import { consumerName } from '../../adapters/nats/subjects.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import type { Sql } from '../../adapters/postgres/client.ts';
import { PostgresReadinessProbe } from '../../adapters/postgres/readiness.ts';
import { createPostgresStores, type PostgresStores } from '../../adapters/postgres/stores/index.ts';
import { createResilientProviders } from '../../adapters/providers/resilient.ts';
import type { Sandbox, SandboxInterceptor } from '../../adapters/sandbox/server.ts';
import { createOutsideApis } from '../../adapters/outside-api/index.ts';
import { ResilientWebhookSender } from '../../adapters/webhooks/resilient-webhook-sender.ts';
import { StandardWebhookSender } from '../../adapters/webhooks/standard-webhook-sender.ts';
import type { DomainEvent } from '../../domain/campaigns/events.ts';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import { DEFAULT_BANNED_PHRASES } from '../../domain/personalization/banned-phrases.ts';
import { DEFAULT_PRICING } from '../../domain/pricing/pricing.ts';
import type { ConsumerTopology } from '../../ports/event-consumer.port.ts';
import type { EventPublisher, EventToPublish, PublishResult } from '../../ports/event-publisher.port.ts';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import {
  campaignOptionChecker,
  campaignOptionFields,
  consumedEvents,
  leadStages,
  runnableConsumers,
  topologyOf,
  type ApiDirectory,
  type SettingsOverrides,
} from '../../src/app/kernel/assemble.ts';
import { OutboxRelay } from '../../src/app/kernel/outbox-relay.ts';
import { DEFAULT_RESEARCH_CACHE_TTL_MS } from '../../adapters/config/env.ts';
import { PreviewImportService } from '../../src/app/preview-import.ts';
import { Reconciler } from '../../src/app/reconciler.ts';
import { ManageCampaignsService } from '../../src/app/manage-campaigns.ts';
import { RerunCampaignService } from '../../src/app/rerun-campaign.ts';
import { RunControlService } from '../../src/app/run-control.ts';
import { SubmitCampaignService } from '../../src/app/submit-campaign.ts';
import { SuppressionService } from '../../src/app/suppressions.ts';
import { pipelinePorts } from '../../src/compose.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { connectTestNats, deleteStreams, RecordingLog, testNames, type TestNames } from '../support/nats.ts';
import { adaptersFor, startTestSandbox } from '../support/sandbox.ts';
import { storeDriver, type StoreDriver } from '../support/store.ts';
import { startTestTelemetry, type TestTelemetry } from '../support/tracing.ts';
import { TEST_JWT_SECRET } from '../support/tokens.ts';

/** Publishes through the real publisher, except the events `drop` matches: the broker "stores" and then loses those. */
export class DroppingPublisher implements EventPublisher {
  readonly #inner: EventPublisher;
  #matches: (event: DomainEvent) => boolean = () => false;
  readonly dropped: DomainEvent[] = [];

  constructor(inner: EventPublisher) {
    this.#inner = inner;
  }

  /** Loses every event `matches` accepts from now on (`drop(() => false)` to stop). */
  drop(matches: (event: DomainEvent) => boolean): void {
    this.#matches = matches;
  }

  async publishAll(events: readonly EventToPublish[]): Promise<readonly PublishResult[]> {
    const lost = events.map(({ event }) => this.#lost(event));
    const results = await this.#inner.publishAll(events.filter((_, index) => !lost[index]));
    let next = 0;
    // A lost event looks stored to the relay, as an acknowledged write the broker then lost would.
    return events.map((_, index) => (lost[index] ? { ok: true as const } : results[next++]!));
  }

  #lost(event: DomainEvent): boolean {
    if (!this.#matches(event)) return false;
    this.dropped.push(event);
    return true;
  }
}

export interface E2ESystem {
  readonly baseUrl: string;
  readonly stores: PostgresStores;
  /** The stores as awaited calls (see test/support/store.ts). */
  readonly store: StoreDriver;
  readonly sql: Sql;
  readonly nc: NatsConnection;
  readonly names: TestNames;
  readonly sandbox: Sandbox;
  readonly telemetry: TestTelemetry;
  /** What the relay publishes through: the fault injector. */
  readonly publisher: DroppingPublisher;
  readonly files: NatsObjectLeadFileStore;
  readonly reconciler: Reconciler;
  /** Every line the consumers, the relay and the reconciler logged. */
  readonly log: RecordingLog;
  readonly topology: readonly ConsumerTopology[];
  /** The durable JetStream consumer names, one per (consumer, event). */
  readonly consumerNames: readonly string[];
  /** Resolves once the outbox is empty and no consumer has a message pending or unacknowledged. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface E2ESystemOptions {
  /** Sandbox interceptors (fault injection by request). */
  readonly interceptors?: readonly SandboxInterceptor[];
  /** Between probe calls of a paused API (default 30 s, production's). */
  readonly probeIntervalMs?: number;
  /** How long a company's research is reused (default production's, 7 days; 0: not shared). */
  readonly researchCacheTtlMs?: number;
  /** The research API's requests per minute, shared by every call (default uncapped). */
  readonly researchRpm?: number;
}

/** Short retries so a test sees a lead fail in milliseconds; the other settings are production's. */
/** The webhook secret the e2e system signs with. */
export const TEST_WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const TEST_RETRIES: SettingsOverrides = {
  webhook: { backoffMs: [100, 200], maxDeliver: 4 },
  extraction: { backoffMs: [100] },
  research: { maxDeliver: 3, backoffMs: [50] },
  personalization: { maxDeliver: 3, backoffMs: [50] },
  projection: { backoffMs: [50] },
};

export async function startE2ESystem(options: E2ESystemOptions = {}): Promise<E2ESystem> {
  const telemetry = startTestTelemetry();
  const cleanup: (() => Promise<unknown>)[] = [() => telemetry.shutdown()];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => console.error('e2e cleanup failed', error));
  };
  try {
    const database: TestDatabase = await createTestDatabase({ migrate: true });
    cleanup.push(() => database.drop());
    const sandbox = await startTestSandbox({ ...(options.interceptors === undefined ? {} : { interceptors: options.interceptors }) });
    cleanup.push(() => sandbox.close());
    const nc = await connectTestNats();
    cleanup.push(() => nc.drain());
    const names = testNames();
    const { prefix, streamName } = names;
    const providerBucket = `${names.bucket}-providers`;
    cleanup.push(() =>
      deleteStreams(nc, streamName, deadLetterStreamName(streamName), `OBJ_${names.bucket}`, `KV_${providerBucket}`),
    );

    const limits = DEFAULT_IMPORT_LIMITS;
    const reader = new CsvLeadFileReader();
    const stores = createPostgresStores(database.sql);
    const files = await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket });
    const notifications = new NatsRunNotifications(nc, { prefix });
    const directory = new NatsConsumerDirectory(nc, { streamName, prefix });
    const log = new RecordingLog();
    // As in production: breakers, the shared rate budget (uncapped here) and the gates.
    const providers = await createResilientProviders(nc, adaptersFor(sandbox), {
      config: { researchRpm: options.researchRpm ?? 0, personalizationRpm: 0, ...(options.probeIntervalMs === undefined ? {} : { probeIntervalMs: options.probeIntervalMs }) },
      bucket: providerBucket,
      log,
    });
    cleanup.push(() => Promise.resolve(providers.close()));
    const webhookApi = await createOutsideApis(nc, [{ name: 'webhook', timeoutMs: 10_000, breakerScope: 'key' }], { bucket: providerBucket, log });
    cleanup.push(() => Promise.resolve(webhookApi.close()));
    const apis: ApiDirectory = {
      gate: (api) => (api === 'webhook' ? webhookApi : providers.apis).get(api).gate,
      maxConcurrency: () => 16,
    };

    const ports = pipelinePorts({
      stores,
      files,
      reader,
      notifier: notifications,
      providers: () => Promise.resolve(providers),
      limits,
      // Several batches per file even in small tests: extraction overlaps reading and committing them.
      extractionBatchSize: 2,
      pricing: DEFAULT_PRICING,
      kpiRates: DEFAULT_KPI_RATES,
      bannedPhrases: DEFAULT_BANNED_PHRASES,
      researchCacheTtlMs: options.researchCacheTtlMs ?? DEFAULT_RESEARCH_CACHE_TTL_MS,
    }, {
      webhooks: () => new ResilientWebhookSender(new StandardWebhookSender({ secret: TEST_WEBHOOK_SECRET, allowPrivateNetworks: true }), webhookApi.get('webhook')),
    });
    const settings = new Map<string, Record<string, unknown>>([
      ['webhook', { secret: TEST_WEBHOOK_SECRET, allowPrivateNetworks: true, publicBaseUrl: 'https://api.example.test' }],
    ]);
    const topology = topologyOf(CONSUMERS, { overrides: TEST_RETRIES, apis });
    await provisionTopology(nc, { streamName, prefix, consumers: topology });
    const consumers: RunningConsumers = await startConsumers(nc, {
      consumers: await runnableConsumers(CONSUMERS, { ports, settings, overrides: TEST_RETRIES, apis }),
      streamName,
      prefix,
      logger: log,
      stopGraceMs: 1_000,
    });
    cleanup.push(() => consumers.stop());

    const publisher = new DroppingPublisher(new JetStreamEventPublisher(nc, { prefix }));
    const relay = new OutboxRelay({ outbox: stores.outbox, publisher, subscriptions: directory, consumed: consumedEvents(CONSUMERS), log, pollMs: 100 });
    await relay.start();
    cleanup.push(() => relay.stop());

    const app = createHttpApp({
      logger: createLogger({ level: 'silent' }),
      corsOrigins: [],
      tokenVerifier: new SupabaseTokenVerifier({ jwtSecret: TEST_JWT_SECRET }),
      readiness: [new PostgresReadinessProbe(database.sql)],
      previewImport: new PreviewImportService({ reader, limits, suppressions: stores.suppressions }),
      limits,
      pricing: DEFAULT_PRICING,
      submitCampaign: new SubmitCampaignService({
        reader,
        limits,
        store: stores.submission,
        uow: stores.uow,
        files,
        checkOptions: campaignOptionChecker(CONSUMERS, { enabled: CONSUMERS, ports, settings }),
        templates: stores.templates,
      }),
      manageCampaigns: new ManageCampaignsService({
        store: stores.campaigns,
        uow: stores.uow,
        files,
        checkOptions: campaignOptionChecker(CONSUMERS, { enabled: CONSUMERS, ports, settings }),
      }),
      rerunCampaign: new RerunCampaignService({ store: stores.rerun, keys: stores.submission, uow: stores.uow }),
      campaignOptions: campaignOptionFields(CONSUMERS),
      campaignQueries: stores.queries,
      runWatcher: notifications,
      providerStatus: providers.status,
      templates: stores.templates,
      suppressions: new SuppressionService({ store: stores.suppressions, reader, limits }),
      runControl: new RunControlService({ store: stores.runControl, uow: stores.uow, projection: stores.projection, notifier: notifications, files }),
    });
    const server: RunningHttpServer = await startHttpServer(app, { port: 0, hostname: '127.0.0.1', shutdownGraceMs: 500 });
    cleanup.push(() => server.close());

    const consumerNames = topology.flatMap((consumer) => consumer.events.map((type) => consumerName(consumer, type)));
    const jsm = await jetstreamManager(nc);
    return {
      baseUrl: `http://127.0.0.1:${server.port}`,
      stores,
      store: storeDriver(stores),
      sql: database.sql,
      nc,
      names,
      sandbox,
      telemetry,
      publisher,
      files,
      reconciler: new Reconciler({
        store: stores.reconciler,
        projection: stores.projection,
        uow: stores.uow,
        activity: directory,
        stages: leadStages(CONSUMERS),
        isPaused: async (api) => (await providers.status.current()).some((status) => status.api === api && status.state !== 'ok'),
        log,
      }),
      log,
      topology,
      consumerNames,
      async idle() {
        const deadline = Date.now() + 10_000;
        for (;;) {
          // Consumers first: only a message in flight commits new events, so quiet consumers and then
          // an empty outbox mean nothing is left to happen.
          const infos = await Promise.all(consumerNames.map((name) => jsm.consumers.info(streamName, name)));
          const [waiting] = await database.sql<{ count: number }[]>`select count(*)::int as count from outbox where available_at <> 'infinity'`;
          if (waiting!.count === 0 && infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0)) return;
          if (Date.now() > deadline) throw new Error('timed out waiting for the outbox and the consumers to go idle');
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
