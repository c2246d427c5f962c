/**
 * The composition root: the one place that knows every adapter and wires it to the ports the
 * use cases and the HTTP edge need. A process runs the roles its configuration names (the HTTP
 * edge, any of the four consumers, the reconciler), so one build scales out as separate
 * processes sharing NATS and PostgreSQL.
 */
import type { Config } from '../adapters/config/env.ts';
import type { Logger } from '../adapters/logging/logger.ts';
import { SupabaseTokenVerifier } from '../adapters/auth/supabase-token-verifier.ts';
import { CsvLeadFileReader } from '../adapters/csv/csv-lead-file-reader.ts';
import { createHttpApp } from '../adapters/http/app.ts';
import { startHttpServer } from '../adapters/http/server.ts';
import { connectNats, NatsReadinessProbe } from '../adapters/nats/connection.ts';
import { startConsumers } from '../adapters/nats/consumer-runner.ts';
import { NatsObjectLeadFileStore } from '../adapters/nats/file-store.ts';
import { natsNames } from '../adapters/nats/namespace.ts';
import { JetStreamEventPublisher } from '../adapters/nats/publisher.ts';
import { NatsRunNotifications } from '../adapters/nats/run-notifications.ts';
import { provisionTopology } from '../adapters/nats/topology.ts';
import { PostgresCampaignStore } from '../adapters/postgres/campaign-store.ts';
import { createSql } from '../adapters/postgres/client.ts';
import { migrate } from '../adapters/postgres/migrate.ts';
import { PostgresReadinessProbe } from '../adapters/postgres/readiness.ts';
import { DEFAULT_LIMITER_SETTINGS } from '../adapters/outside-api/index.ts';
import { PROVIDER_APIS } from '../adapters/providers/apis.ts';
import { createProviders } from '../adapters/providers/index.ts';
import { createResilientProviders, type ResilienceConfig } from '../adapters/providers/resilient.ts';
import { NatsApiStatusReader } from '../adapters/nats/api-status.ts';
import { OtelTracing, startTelemetry } from '../adapters/telemetry/tracing.ts';
import { DEFAULT_IMPORT_LIMITS } from '../domain/leads/import-error.ts';
import type { ConsumerSettingsOverrides } from './app/consumers.ts';
import { pipelineConsumers, pipelineTopology } from './app/consumers.ts';
import { PreviewImportService } from './app/preview-import.ts';
import { Reconciler } from './app/reconciler.ts';
import { SubmitCampaignService } from './app/submit-campaign.ts';

export interface RunningSystem {
  /** The port the HTTP edge listens on (useful with PORT=0); null when this process has no edge. */
  readonly port: number | null;
  /**
   * Stops in order: no new requests, no new pulls (in-flight messages finish or are released),
   * the reconciler, then NATS drains, the database pool closes and spans are flushed.
   */
  stop(): Promise<void>;
}

const SERVICE_NAME = 'ai-growth-accelerator';

export async function startSystem(config: Config, logger: Logger): Promise<RunningSystem> {
  const telemetry = startTelemetry({ serviceName: SERVICE_NAME });
  const stops: (() => Promise<unknown>)[] = [() => telemetry.shutdown()];
  const stop = async () => {
    for (const step of stops.reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
  };

  try {
    const roles = new Set(config.roles);
    logger.info({ roles: [...roles] }, 'starting');

    const sql = createSql(config.databaseUrl);
    stops.push(() => sql.end({ timeout: 5 }));
    await migrate(sql, logger);

    const nc = await connectNats({ url: config.natsUrl, name: `${SERVICE_NAME}:${[...roles].join(',')}`, logger });
    stops.push(() => nc.drain());

    const names = natsNames(config.natsNamespace);
    const settings: ConsumerSettingsOverrides =
      config.consumerAckWaitMs === undefined
        ? {}
        : Object.fromEntries(pipelineTopology().map(({ name }) => [name, { ackWaitMs: config.consumerAckWaitMs }]));
    // Every process provisions every consumer: with interest retention an event published before
    // its consumer exists would be dropped.
    await provisionTopology(nc, { streamName: names.streamName, prefix: names.prefix, consumers: pipelineTopology(settings) });

    const store = new PostgresCampaignStore(sql);
    const files = await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket });
    const publisher = new JetStreamEventPublisher(nc, { prefix: names.prefix });
    const notifications = new NatsRunNotifications(nc, { prefix: names.prefix });
    const reader = new CsvLeadFileReader();
    const limits = DEFAULT_IMPORT_LIMITS;

    let port: number | null = null;
    if (roles.has('edge')) {
      const app = createHttpApp({
        logger,
        corsOrigins: config.corsOrigins,
        tokenVerifier: new SupabaseTokenVerifier({
          ...(config.supabaseJwtSecret === undefined ? {} : { jwtSecret: config.supabaseJwtSecret }),
          ...(config.supabaseUrl === undefined ? {} : { supabaseUrl: config.supabaseUrl }),
        }),
        readiness: [new PostgresReadinessProbe(sql), new NatsReadinessProbe(nc)],
        previewImport: new PreviewImportService({ reader, limits }),
        limits,
        submitCampaign: new SubmitCampaignService({ reader, limits, store, files, publisher }),
        campaignQueries: store,
        runWatcher: notifications,
        providerStatus: await NatsApiStatusReader.open(nc, { bucket: names.apiBucket, apis: PROVIDER_APIS }),
        pricing: config.pricing,
      });
      const server = await startHttpServer(app, { port: config.port });
      // First to stop: the edge stops taking submissions before the workers wind down.
      stops.push(() => server.close());
      port = server.port;
      logger.info({ port }, 'http edge listening');
    }

    const consumerRoles = pipelineTopology()
      .map(({ name }) => name)
      .filter((name) => (roles as ReadonlySet<string>).has(name));
    if (consumerRoles.length > 0) {
      // Paid providers (or the labelled sandbox) only where research or personalization runs.
      const needsProviders = roles.has('research') || roles.has('personalization');
      const raw = needsProviders ? await createProviders(config.providers, logger) : undefined;
      if (raw !== undefined) stops.push(() => raw.close());
      // Circuit breakers, the rate budget shared by every worker (NATS KV), adaptive concurrency,
      // each call's timeout, the account-level pause, and the gates that stop pulling while a
      // provider is down.
      const providers =
        raw === undefined
          ? undefined
          : await createResilientProviders(nc, raw, { config: resilienceConfig(config), bucket: names.apiBucket, log: logger });
      if (providers !== undefined) stops.push(() => Promise.resolve(providers.close()));
      const declarations = pipelineConsumers(
        {
          store,
          files,
          reader,
          limits,
          publisher,
          tracing: new OtelTracing(),
          notifier: notifications,
          ...(providers === undefined ? {} : { research: providers.research, writer: providers.writer, gates: providers.gates }),
          rates: config.kpi,
          pricing: config.pricing,
          ...(config.bannedPhrases === undefined ? {} : { bannedPhrases: config.bannedPhrases }),
          // As many handlers as the limiter may allow calls (its ceiling, whatever sets it); it
          // decides how many run.
          providerConcurrency: config.resilience.maxConcurrency ?? DEFAULT_LIMITER_SETTINGS.maxConcurrency,
        },
        settings,
        consumerRoles,
      );
      const consumers = await startConsumers(nc, {
        declarations,
        streamName: names.streamName,
        prefix: names.prefix,
        logger,
      });
      stops.push(() => consumers.stop());
      logger.info({ consumers: consumerRoles }, 'consumers running');
    }

    if (roles.has('reconciler')) {
      const reconciler = new Reconciler({ store, publisher, log: logger, leaseMs: config.reconciler.leaseMs });
      reconciler.start(config.reconciler.intervalMs);
      stops.push(async () => reconciler.stop());
    }

    return { port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The configured resilience settings, leaving out what is unset so the adapters' defaults apply. */
function resilienceConfig(config: Config): ResilienceConfig {
  const { breaker, ...rest } = config.resilience;
  const defined = <T extends object>(value: T) =>
    Object.fromEntries(Object.entries(value).filter(([, setting]) => setting !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
  return { ...defined(rest), timeoutMs: config.providers.timeoutMs, breaker: defined(breaker) };
}
