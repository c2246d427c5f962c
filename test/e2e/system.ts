/**
 * The whole system in one test process, built from the real adapters as src/compose.ts wires
 * them: the HTTP edge on a free port, the four pipeline consumers pulling from a real JetStream
 * stream (random subject prefix, stream and bucket names), the PostgreSQL store on a throw-away
 * database, the sandbox provider over real HTTP, the reconciler, and the real tracing SDK with an
 * in-memory exporter.
 *
 * One fault injector sits in front of the real publisher: `drop` makes chosen events vanish as a
 * broker that lost them would (the event is never stored), so the reconciler has something to find.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { SupabaseTokenVerifier } from '../../adapters/auth/supabase-token-verifier.ts';
import { CsvLeadFileReader } from '../../adapters/csv/csv-lead-file-reader.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { startHttpServer, type RunningHttpServer } from '../../adapters/http/server.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { startConsumers, type RunningConsumers } from '../../adapters/nats/consumer-runner.ts';
import { createResilientProviders } from '../../adapters/providers/resilient.ts';
import { NatsObjectLeadFileStore } from '../../adapters/nats/file-store.ts';
import { JetStreamEventPublisher } from '../../adapters/nats/publisher.ts';
import { NatsRunNotifications } from '../../adapters/nats/run-notifications.ts';
import { consumerName } from '../../adapters/nats/subjects.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import { PostgresCampaignStore } from '../../adapters/postgres/campaign-store.ts';
import type { Sql } from '../../adapters/postgres/client.ts';
import { PostgresReadinessProbe } from '../../adapters/postgres/readiness.ts';
import type { Sandbox, SandboxInterceptor } from '../../adapters/sandbox/server.ts';
import { OtelTracing } from '../../adapters/telemetry/tracing.ts';
import type { DomainEvent } from '../../domain/campaigns/events.ts';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import { DEFAULT_PRICING } from '../../domain/pricing/pricing.ts';
import type { ConsumerDeclaration } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import { pipelineConsumers } from '../../src/app/consumers.ts';
import { PreviewImportService } from '../../src/app/preview-import.ts';
import { Reconciler } from '../../src/app/reconciler.ts';
import { SubmitCampaignService } from '../../src/app/submit-campaign.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { connectTestNats, deleteStreams, RecordingLog, testNames, type TestNames } from '../support/nats.ts';
import { adaptersFor, startTestSandbox } from '../support/sandbox.ts';
import { startTestTelemetry, type TestTelemetry } from '../support/tracing.ts';
import { TEST_JWT_SECRET } from '../support/tokens.ts';

/** Publishes through the real publisher, except the events `drop` matches: those are lost. */
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

  async publish(event: DomainEvent): Promise<void> {
    if (this.#lost(event)) return;
    await this.#inner.publish(event);
  }

  async publishAll(events: readonly DomainEvent[]): Promise<void> {
    await this.#inner.publishAll(events.filter((event) => !this.#lost(event)));
  }

  #lost(event: DomainEvent): boolean {
    if (!this.#matches(event)) return false;
    this.dropped.push(event);
    return true;
  }
}

export interface E2ESystem {
  readonly baseUrl: string;
  readonly store: PostgresCampaignStore;
  readonly sql: Sql;
  readonly nc: NatsConnection;
  readonly names: TestNames;
  readonly sandbox: Sandbox;
  readonly telemetry: TestTelemetry;
  /** What the submission and the consumers publish through. */
  readonly publisher: DroppingPublisher;
  /** Publishes for real, past the fault injector (the reconciler uses it). */
  readonly realPublisher: EventPublisher;
  readonly files: NatsObjectLeadFileStore;
  readonly reconciler: Reconciler;
  /** Every line the consumers and the reconciler logged. */
  readonly log: RecordingLog;
  readonly declarations: readonly ConsumerDeclaration[];
  /** The durable JetStream consumer names, one per (declaration, event). */
  readonly consumerNames: readonly string[];
  /** Resolves once no consumer has a message pending or unacknowledged. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface E2ESystemOptions {
  /** Sandbox interceptors (fault injection by request). */
  readonly interceptors?: readonly SandboxInterceptor[];
}

/** Short retries so a test sees a lead fail in milliseconds; the other settings are production's. */
const TEST_RETRIES = {
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
    const store = new PostgresCampaignStore(database.sql);
    const files = await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket });
    const realPublisher = new JetStreamEventPublisher(nc, { prefix });
    const publisher = new DroppingPublisher(realPublisher);
    const notifications = new NatsRunNotifications(nc, { prefix });
    const log = new RecordingLog();
    // As in production: breakers, the shared rate budget (uncapped here) and the gates.
    const providers = await createResilientProviders(nc, adaptersFor(sandbox), {
      config: { researchRpm: 0, personalizationRpm: 0 },
      bucket: providerBucket,
      log,
    });
    cleanup.push(() => Promise.resolve(providers.close()));

    const declarations = pipelineConsumers(
      {
        store,
        files,
        reader,
        limits,
        publisher,
        tracing: new OtelTracing(),
        notifier: notifications,
        research: providers.research,
        writer: providers.writer,
        gates: providers.gates,
        rates: DEFAULT_KPI_RATES,
        // Several batches per file even in small tests: extraction overlaps storing and announcing them.
        extractionBatchSize: 2,
      },
      TEST_RETRIES,
    );
    await provisionTopology(nc, { streamName, prefix, consumers: declarations });
    const consumers: RunningConsumers = await startConsumers(nc, { declarations, streamName, prefix, logger: log, stopGraceMs: 1_000 });
    cleanup.push(() => consumers.stop());

    const app = createHttpApp({
      logger: createLogger({ level: 'silent' }),
      corsOrigins: [],
      tokenVerifier: new SupabaseTokenVerifier({ jwtSecret: TEST_JWT_SECRET }),
      readiness: [new PostgresReadinessProbe(database.sql)],
      previewImport: new PreviewImportService({ reader, limits }),
      limits,
      pricing: DEFAULT_PRICING,
      submitCampaign: new SubmitCampaignService({ reader, limits, store, files, publisher }),
      campaignQueries: store,
      runWatcher: notifications,
      providerStatus: providers.status,
    });
    const server: RunningHttpServer = await startHttpServer(app, { port: 0, hostname: '127.0.0.1', shutdownGraceMs: 500 });
    cleanup.push(() => server.close());

    const consumerNames = declarations.flatMap((declaration) => declaration.events.map((type) => consumerName(declaration, type)));
    const jsm = await jetstreamManager(nc);
    return {
      baseUrl: `http://127.0.0.1:${server.port}`,
      store,
      sql: database.sql,
      nc,
      names,
      sandbox,
      telemetry,
      publisher,
      realPublisher,
      files,
      reconciler: new Reconciler({ store, publisher: realPublisher, log }),
      log,
      declarations,
      consumerNames,
      async idle() {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const infos = await Promise.all(consumerNames.map((name) => jsm.consumers.info(streamName, name)));
          if (infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0)) return;
          if (Date.now() > deadline) throw new Error('timed out waiting for the consumers to go idle');
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
