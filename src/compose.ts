/**
 * The composition root: the one place that knows every adapter and wires it to the ports the use
 * cases and the HTTP edge need. What a process runs comes from its configuration's roles (the
 * HTTP edge, the outbox relay, the reconciler, any of the consumers), so one build scales out as
 * separate processes sharing NATS and PostgreSQL. The consumers themselves are declarations
 * (src/app/consumers/); the kernel (src/app/kernel/) derives from them what to provision and run.
 */
import { ConfigError, loadConfig, type Config } from '../adapters/config/env.ts';
import type { Logger } from '../adapters/logging/logger.ts';
import { LocalTokenIssuer } from '../adapters/auth/local-token-issuer.ts';
import { SupabaseTokenVerifier } from '../adapters/auth/supabase-token-verifier.ts';
import { CsvLeadFileReader } from '../adapters/csv/csv-lead-file-reader.ts';
import { createHttpApp } from '../adapters/http/app.ts';
import { READINESS_TIMEOUT_MS, runProbe } from '../adapters/http/routes/health.ts';
import { startHttpServer } from '../adapters/http/server.ts';
import { connectNats, NatsReadinessProbe } from '../adapters/nats/connection.ts';
import { NatsConsumerDirectory } from '../adapters/nats/consumer-directory.ts';
import { NatsObjectLeadFileStore } from '../adapters/nats/file-store.ts';
import { natsNames } from '../adapters/nats/namespace.ts';
import { JetStreamEventPublisher } from '../adapters/nats/publisher.ts';
import { startConsumers } from '../adapters/nats/runner/index.ts';
import { NatsRunNotifications } from '../adapters/nats/run-notifications.ts';
import { deadLetterStreamName, planConsumers, provisionTopology } from '../adapters/nats/topology.ts';
import { kvStreamName, objectStreamName, TopologyKeeper } from '../adapters/nats/topology-keeper.ts';
import { createSql } from '../adapters/postgres/client.ts';
import { isPostgresUnavailable } from '../adapters/postgres/unavailable.ts';
import { isNatsUnavailable } from '../adapters/nats/unavailable.ts';
import { migrate } from '../adapters/postgres/migrate.ts';
import { PostgresReadinessProbe } from '../adapters/postgres/readiness.ts';
import { createPostgresStores, type PostgresStores } from '../adapters/postgres/stores/index.ts';
import type { PostgresOutboxStore } from '../adapters/postgres/outbox-store.ts';
import { PostgresCampaignQueries } from '../adapters/postgres/stores/campaign-queries.ts';
import { createOutsideApis, DEFAULT_LIMITER_SETTINGS, type OutsideApis, type OutsideApiSpec } from '../adapters/outside-api/index.ts';
import { PROVIDER_APIS } from '../adapters/providers/apis.ts';
import { createProviders, NO_PROVIDER_KEYS } from '../adapters/providers/index.ts';
import { providerApiSpecs, ResilientMessageWriter, ResilientResearchProvider, type ResilienceConfig } from '../adapters/providers/resilient.ts';
import { PERSONALIZATION_API, RESEARCH_API } from '../adapters/providers/apis.ts';
import { NatsApiStatusReader, openApiBucket } from '../adapters/nats/api-status.ts';
import { OtelTracing, startTelemetry } from '../adapters/telemetry/tracing.ts';
import { observeGauge, OtelPipelineMetrics, startMetrics } from '../adapters/telemetry/metrics.ts';
import { liveApiStates } from '../adapters/outside-api/resilient-api.ts';
import { ResilientWebhookSender } from '../adapters/webhooks/resilient-webhook-sender.ts';
import { StandardWebhookSender } from '../adapters/webhooks/standard-webhook-sender.ts';
import { DEFAULT_BANNED_PHRASES } from '../domain/personalization/banned-phrases.ts';
import type { KpiRates } from '../domain/campaigns/run.ts';
import { DEFAULT_IMPORT_LIMITS, type ImportLimits } from '../domain/leads/import-error.ts';
import type { Pricing } from '../domain/pricing/pricing.ts';
import type { LeadFileReader } from '../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../ports/lead-file-store.port.ts';
import type { MessageWriter, ResearchProvider } from '../ports/providers.port.ts';
import type { ReadinessProbe } from '../ports/readiness.port.ts';
import type { RunNotifier } from '../ports/run-notifications.port.ts';
import { CONSUMERS } from './app/consumers/index.ts';
import type { WebhookSettings } from './app/consumers/webhook.ts';
import {
  campaignOptionChecker,
  campaignOptionFields,
  consumedEvents,
  consumerSettings,
  enabledConsumers,
  leadStages,
  roleNames,
  runnableConsumers,
  topologyOf,
  type ApiDirectory,
  type SettingsOverrides,
} from './app/kernel/assemble.ts';
import type { AnyConsumer } from './app/kernel/declaration.ts';
import { OutboxRelay } from './app/kernel/outbox-relay.ts';
import { PortCatalog, type AddedPortFactories } from './app/kernel/ports.ts';
import { ManageCampaignsService } from './app/manage-campaigns.ts';
import { PreviewImportService } from './app/preview-import.ts';
import { Reconciler } from './app/reconciler.ts';
import { RerunCampaignService } from './app/rerun-campaign.ts';
import { RunControlService } from './app/run-control.ts';
import { SubmitCampaignService } from './app/submit-campaign.ts';
import { SuppressionService } from './app/suppressions.ts';

export interface SystemConfig {
  readonly config: Config;
  /** Each consumer's own settings, from the variables it declares, by consumer name. */
  readonly consumerSettings: ReadonlyMap<string, Record<string, unknown>>;
  /** The consumers this build knows (default: the pipeline's). */
  readonly consumers: readonly AnyConsumer[];
}

/**
 * The whole configuration of a process: the service's settings and every consumer's own, checked
 * together; throws ConfigError naming every problem at once.
 */
export function loadSystemConfig(env: Readonly<Record<string, string | undefined>> = process.env, consumers: readonly AnyConsumer[] = CONSUMERS): SystemConfig {
  const problems: string[] = [];
  let config: Config | undefined;
  try {
    config = loadConfig(env, { roles: roleNames(consumers) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const declared = consumerSettings(consumers, env);
  problems.push(...declared.problems);
  // A missing secret must never turn into made-up lines: the sandbox runs only when asked for.
  // Read from the environment itself, so it is reported with the other problems.
  const given = (name: string) => (env[name]?.trim() ?? '') !== '';
  const named = (env.ROLES ?? '').split(',').map((role) => role.trim().toLowerCase()).filter((role) => role !== '');
  const roles = new Set(named.length === 0 ? roleNames(consumers) : named);
  const callsProviders = consumers.some((consumer) => roles.has(consumer.name) && PROVIDER_APIS.some((api) => api === consumer.callsApi));
  if (callsProviders && env.PROVIDERS?.trim() !== 'sandbox' && !given('PERPLEXITY_API_KEY') && !given('OPENROUTER_API_KEY')) {
    problems.push(`PROVIDERS: ${NO_PROVIDER_KEYS}`);
  }
  if (config === undefined || problems.length > 0) throw new ConfigError(problems);
  return { config, consumerSettings: declared.settings, consumers };
}

/**
 * Where the edge listens with LOCAL_SIGN_IN=true: this machine only. That mode signs anyone in
 * without a password, and `.env.development`'s JWT secret is public, so whoever reaches the
 * port is any user they like; another machine must not reach it at all.
 */
const LOCAL_ONLY_ADDRESS = '127.0.0.1';

/** The web app's sign-in: Supabase Auth when its URL and anon key are set; the local user with LOCAL_SIGN_IN. */
function webAppOf(config: Config, logger: Logger) {
  const { supabaseAnonKey, localSignIn } = config.webApp;
  const secret = config.supabaseJwtSecret;
  if (localSignIn && secret !== undefined) {
    logger.warn(`LOCAL_SIGN_IN is on: the web app signs in a local user, with no password, for a browser on this machine (local development only); the edge listens on ${LOCAL_ONLY_ADDRESS} only`);
  }
  return {
    sandbox: config.providers.sandbox,
    ...(config.supabaseUrl === undefined || supabaseAnonKey === undefined ? {} : { supabase: { url: config.supabaseUrl, anonKey: supabaseAnonKey } }),
    ...(localSignIn && secret !== undefined ? { localSignIn: new LocalTokenIssuer({ jwtSecret: secret, audience: config.auth.audiences[0] ?? 'authenticated' }) } : {}),
  };
}

export interface RunningSystem {
  /** The port the HTTP edge listens on (useful with PORT=0); null when this process has no edge. */
  readonly port: number | null;
  /** The port /metrics is served on (METRICS_PORT); null when it is not. */
  readonly metricsPort?: number | null;
  /**
   * Stops in order: no new requests, no new pulls (in-flight messages finish or are released),
   * the relay and the reconciler, then NATS drains, the database pool closes and spans are flushed.
   */
  stop(): Promise<void>;
}

const SERVICE_NAME = 'ai-growth-accelerator';
/** Leads per insert statement in extraction: one round trip stores a thousand rows. */
const EXTRACTION_BATCH_SIZE = 1_000;
/** Connections for the edge's long reads (event streams, exports) unless DATABASE_READ_POOL_SIZE says otherwise. */
const DEFAULT_READ_POOL_SIZE = 4;

export async function startSystem(system: SystemConfig, logger: Logger): Promise<RunningSystem> {
  const { config } = system;
  const telemetry = startTelemetry({ serviceName: SERVICE_NAME });
  const stops: (() => Promise<unknown>)[] = [() => telemetry.shutdown()];
  const stop = async () => {
    for (const step of stops.reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
  };

  try {
    const roles = new Set(config.roles);
    const enabled = enabledConsumers(system.consumers, system.consumerSettings);
    const running = enabled.filter((consumer) => roles.has(consumer.name));
    for (const consumer of system.consumers) {
      if (roles.has(consumer.name) && !enabled.includes(consumer)) {
        logger.info({ consumer: consumer.name, hint: consumer.disabledHint }, 'consumer not enabled by the configuration: not run');
      }
    }
    logger.info({ roles: [...roles], consumers: running.map((consumer) => consumer.name) }, 'starting');

    // Metrics before anything records; stopped (a last export) after everything else.
    const metered = await startMetrics({ serviceName: SERVICE_NAME, port: config.metricsPort ?? 0 });
    stops.push(() => metered.shutdown());
    if (metered.port !== null) logger.info({ port: metered.port }, 'metrics served at /metrics');

    const sql = createSql(config.databaseUrl, { statementTimeoutMs: config.databaseStatementTimeoutMs });
    stops.push(() => sql.end({ timeout: 5 }));
    await migrate(sql, logger);
    const stores = createPostgresStores(sql, { metrics: new OtelPipelineMetrics() });

    const nc = await connectNats({ url: config.natsUrl, name: `${SERVICE_NAME}:${[...roles].join(',')}`, logger });
    stops.push(() => nc.drain());
    const names = natsNames(config.natsNamespace);
    const replicas = config.natsReplicas;
    const files = await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket, replicas });
    // Created here with its replicas before the readers below open it (an existing bucket is used as it is).
    await openApiBucket(nc, names.apiBucket, replicas);
    const notifications = new NatsRunNotifications(nc, { prefix: names.prefix });
    const directory = new NatsConsumerDirectory(nc, { streamName: names.streamName, prefix: names.prefix });
    const apiSpecs = outsideApiSpecs(config, system.consumers);
    const providerStatus = await NatsApiStatusReader.open(nc, {
      bucket: names.apiBucket,
      apis: apiSpecs.map((spec) => spec.name),
      rpm: Object.fromEntries(apiSpecs.map((spec) => [spec.name, spec.rpm])),
    });
    const reader = new CsvLeadFileReader();
    const limits = DEFAULT_IMPORT_LIMITS;

    // Every outside API with its resilience (breaker, shared rate budget, timeout, pause), built on
    // first use: only where a consumer calls one. Their closing has its place in the order now,
    // whenever they are built: after everything that may call them has stopped. A build that
    // failed (NATS briefly unreachable) is tried again on the next use.
    let outside: Promise<OutsideApis> | undefined;
    let providers: Promise<{ research: ResearchProvider; writer: MessageWriter; close(): Promise<void> }> | undefined;
    stops.push(async () => {
      await (await providers?.catch(() => undefined))?.close();
      (await outside?.catch(() => undefined))?.close();
    });
    const outsideApis = () => {
      outside ??= createOutsideApis(nc, apiSpecs, { bucket: names.apiBucket, log: logger }).catch((error: unknown) => {
        outside = undefined;
        throw error;
      });
      return outside;
    };
    const resilientProviders = () => {
      providers ??= (async () => {
        const raw = await createProviders(config.providers, logger);
        try {
          const resilient = await outsideApis();
          return {
            research: new ResilientResearchProvider(raw.research, resilient.get(RESEARCH_API), config.pricing.research),
            writer: new ResilientMessageWriter(raw.writer, resilient.get(PERSONALIZATION_API), config.pricing.personalization),
            close: () => raw.close(),
          };
        } catch (error) {
          await raw.close();
          throw error;
        }
      })().catch((error: unknown) => {
        providers = undefined;
        throw error;
      });
      return providers;
    };
    const apis: ApiDirectory = {
      gate: (api) => ({ wait: async (signal) => (await outsideApis()).get(api).gate.wait(signal) }),
      maxConcurrency: (api) => apiSpecs.find((spec) => spec.name === api)?.maxConcurrency ?? DEFAULT_LIMITER_SETTINGS.maxConcurrency,
    };

    const ports = pipelinePorts({
      stores,
      files,
      reader,
      notifier: notifications,
      providers: resilientProviders,
      limits,
      extractionBatchSize: EXTRACTION_BATCH_SIZE,
      pricing: config.pricing,
      kpiRates: config.kpi,
      bannedPhrases: config.bannedPhrases ?? DEFAULT_BANNED_PHRASES,
      researchCacheTtlMs: config.researchCacheTtlMs,
    }, {
      // The ports consumers added: one line each.
      webhooks: async () => {
        const { secret = '', allowPrivateNetworks } = settingsOf<WebhookSettings>(system, 'webhook');
        if (allowPrivateNetworks) logger.warn({}, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS=true: webhook URLs may reach loopback and private addresses (local use and tests only)');
        return new ResilientWebhookSender(new StandardWebhookSender({ secret, allowPrivateNetworks }), (await outsideApis()).get('webhook'));
      },
    });

    const ackWaitMs = config.consumerAckWaitMs;
    const overrides: SettingsOverrides = ackWaitMs === undefined ? {} : Object.fromEntries(running.map((consumer) => [consumer.name, { ackWaitMs }]));
    // The stream always (every process publishes or reads it); durable consumers only for what this
    // process runs. Provisioned again, while the process runs, whenever the broker loses any of it.
    const topology = { streamName: names.streamName, prefix: names.prefix, replicas, consumers: topologyOf(running, { overrides, apis }) };
    await provisionTopology(nc, topology);
    const keeper = new TopologyKeeper(nc, {
      streams: [names.streamName, deadLetterStreamName(names.streamName), kvStreamName(names.apiBucket), objectStreamName(names.bucket)],
      consumers: new Map([[names.streamName, planConsumers(topology.consumers, names.prefix).map((consumer) => consumer.name)]]),
      provision: async () => {
        await provisionTopology(nc, topology);
        await openApiBucket(nc, names.apiBucket, replicas);
        await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket, replicas });
      },
    }, { log: logger, intervalMs: config.topologyCheckMs });
    keeper.start();
    stops.push(() => keeper.stop());
    const readiness = [new PostgresReadinessProbe(sql), new NatsReadinessProbe(nc), keeper];
    observeSystem({ directory, deadLetterStream: deadLetterStreamName(names.streamName), outbox: stores.outbox, readiness });

    if (roles.has('relay')) {
      const relay = new OutboxRelay({
        outbox: stores.outbox,
        publisher: new JetStreamEventPublisher(nc, { prefix: names.prefix }),
        subscriptions: directory,
        consumed: consumedEvents(enabled),
        log: logger,
      });
      await relay.start();
      stops.push(() => relay.stop());
    }

    if (running.length > 0) {
      const consumers = await startConsumers(nc, {
        consumers: await runnableConsumers(running, { ports, settings: system.consumerSettings, overrides, apis, isUnavailable: isPostgresUnavailable }),
        streamName: names.streamName,
        prefix: names.prefix,
        logger,
      });
      stops.push(() => consumers.stop());
      logger.info({ consumers: running.map((consumer) => consumer.name) }, 'consumers running');
    }

    if (roles.has('reconciler')) {
      const reconciler = new Reconciler({
        store: stores.reconciler,
        projection: stores.projection,
        uow: stores.uow,
        activity: directory,
        stages: leadStages(enabled),
        isPaused: async (api) => (await providerStatus.current()).some((status) => status.api === api && status.state !== 'ok'),
        log: logger,
        leaseMs: config.reconciler.leaseMs,
      });
      reconciler.start(config.reconciler.intervalMs);
      stops.push(() => reconciler.stop());
    }

    let port: number | null = null;
    if (roles.has('edge')) {
      // Event streams and exports read on their own small pool: however many clients follow runs
      // or download at once, they cannot take the connections the consumers write with.
      const readSql = createSql(config.databaseUrl, { max: config.databaseReadPoolSize ?? DEFAULT_READ_POOL_SIZE, statementTimeoutMs: config.databaseStatementTimeoutMs });
      stops.push(() => readSql.end({ timeout: 5 }));
      const checkOptions = campaignOptionChecker(system.consumers, { enabled, ports, settings: system.consumerSettings });
      const localOnly = config.webApp.localSignIn;
      const app = createHttpApp({
        logger,
        isUnavailable: (error) => isPostgresUnavailable(error) || isNatsUnavailable(error),
        corsOrigins: config.corsOrigins,
        tokenVerifier: new SupabaseTokenVerifier({
          ...(config.supabaseJwtSecret === undefined ? {} : { jwtSecret: config.supabaseJwtSecret }),
          ...(config.supabaseUrl === undefined ? {} : { supabaseUrl: config.supabaseUrl }),
          audiences: config.auth.audiences,
          allowAnonymous: config.auth.allowAnonymous,
        }),
        readiness,
        previewImport: new PreviewImportService({ reader, limits, suppressions: stores.suppressions }),
        limits,
        submitCampaign: new SubmitCampaignService({
          reader,
          limits,
          store: stores.submission,
          uow: stores.uow,
          files,
          checkOptions,
          quotas: config.quotas,
          pricing: config.pricing,
          templates: stores.templates,
          sandbox: config.providers.sandbox,
        }),
        manageCampaigns: new ManageCampaignsService({ store: stores.campaigns, uow: stores.uow, files, checkOptions }),
        rerunCampaign: new RerunCampaignService({ store: stores.rerun, keys: stores.submission, uow: stores.uow, quotas: config.quotas, pricing: config.pricing, sandbox: config.providers.sandbox }),
        campaignOptions: campaignOptionFields(system.consumers),
        ...publicBaseUrlOf(system),
        campaignQueries: stores.queries,
        streamQueries: new PostgresCampaignQueries(readSql),
        ...(config.sseMaxStreamsPerUser === undefined ? {} : { sseMaxStreamsPerUser: config.sseMaxStreamsPerUser }),
        runWatcher: notifications,
        providerStatus,
        pricing: config.pricing,
        templates: stores.templates,
        sandbox: config.providers.sandbox,
        suppressions: new SuppressionService({ store: stores.suppressions, reader, limits }),
        runControl: new RunControlService({ store: stores.runControl, uow: stores.uow, projection: stores.projection, notifier: notifications, files }),
        webApp: webAppOf(config, logger),
        loopbackOnly: localOnly,
      });
      const server = await startHttpServer(app, { port: config.port, ...(localOnly ? { hostname: LOCAL_ONLY_ADDRESS } : {}) });
      // Started last and stopped first: the edge takes submissions only once everything runs,
      // and stops taking them before the workers wind down.
      stops.push(() => server.close());
      port = server.port;
      logger.info({ port, address: localOnly ? LOCAL_ONLY_ADDRESS : 'every interface' }, 'http edge listening');
    }

    return { port, metricsPort: metered.port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface PipelinePortsDeps {
  readonly stores: PostgresStores;
  readonly files: LeadFileStore;
  readonly reader: LeadFileReader;
  readonly notifier: RunNotifier;
  /** The outside APIs with their resilience, built when a consumer first asks for one. */
  readonly providers: () => Promise<{ readonly research: ResearchProvider; readonly writer: MessageWriter }>;
  readonly limits: ImportLimits;
  readonly extractionBatchSize: number;
  readonly pricing: Pricing;
  readonly kpiRates: KpiRates;
  readonly bannedPhrases: readonly string[];
  /** RESEARCH_CACHE_TTL in milliseconds; 0: no research is shared. */
  readonly researchCacheTtlMs: number;
}

/** The ports consumers may ask for, from the adapters of a process (each built on first use). */
export function pipelinePorts(deps: PipelinePortsDeps, added: AddedPortFactories): PortCatalog {
  const { stores } = deps;
  return new PortCatalog({
    ...added,
    uow: () => stores.uow,
    extractionStore: () => stores.extraction,
    leadWork: () => stores.leadWork,
    researchCache: () => stores.researchCache,
    researchCacheTtlMs: () => deps.researchCacheTtlMs,
    projectionStore: () => stores.projection,
    suppressions: () => stores.suppressions,
    runs: () => stores.runs,
    deliveries: () => stores.deliveries,
    files: () => deps.files,
    reader: () => deps.reader,
    tracing: () => new OtelTracing(),
    notifier: () => deps.notifier,
    research: async () => (await deps.providers()).research,
    writer: async () => (await deps.providers()).writer,
    importLimits: () => deps.limits,
    extractionBatchSize: () => deps.extractionBatchSize,
    pricing: () => deps.pricing,
    kpiRates: () => deps.kpiRates,
    bannedPhrases: () => deps.bannedPhrases,
  });
}

/** Gauges are read at each collection from answers at most this old: a scrape never costs a round trip of its own. */
const GAUGE_CACHE_MS = 5_000;

/**
 * The observable gauges of a process: breaker state and pauses of its outside APIs, each
 * consumer's lag and ack-pending (JetStream consumer info, from the directory's cached listing),
 * the outbox backlog and the dead-letter stream's messages, each cached for a few seconds.
 */
function observeSystem(deps: {
  readonly directory: NatsConsumerDirectory;
  readonly deadLetterStream: string;
  readonly outbox: PostgresOutboxStore;
  readonly readiness: readonly ReadinessProbe[];
}): void {
  const { directory, deadLetterStream, outbox, readiness } = deps;
  // Every role has it, so a worker without an HTTP /readyz is seen not ready too.
  const ready = cachedFor(GAUGE_CACHE_MS, () => Promise.all(readiness.map(async (probe) => [await probeAnswers(probe), { check: probe.name }] as const)));
  observeGauge('aga.process.ready', 'Whether each dependency of this process answers, as /readyz checks it (postgres, nats, nats-topology): 1 yes, 0 no.', ready);
  observeGauge('aga.provider.circuit.state', 'Each outside API\'s circuit breaker: 0 closed, 1 half-open, 2 open.', () =>
    liveApiStates().flatMap((state) => (state.circuit === null ? [] : [[state.circuit, { api: state.api }] as const])));
  observeGauge('aga.provider.paused', 'Whether each outside API is paused for an account failure (credit, key, model): 1 paused, 0 not.', () =>
    liveApiStates().map((state) => [state.paused ? 1 : 0, { api: state.api }] as const));
  const lag = cachedFor(GAUGE_CACHE_MS, () => directory.consumerLag(GAUGE_CACHE_MS));
  observeGauge('messaging.consumer.lag', 'Messages of each consumer\'s subjects not yet delivered to it (JetStream num_pending).', async () =>
    (await lag()).map((info) => [info.pending, { 'messaging.system': 'nats', 'messaging.consumer.group.name': info.consumer }] as const), '{message}');
  observeGauge('messaging.consumer.ack_pending', 'Messages delivered to each consumer and not acked yet (JetStream num_ack_pending).', async () =>
    (await lag()).map((info) => [info.ackPending, { 'messaging.system': 'nats', 'messaging.consumer.group.name': info.consumer }] as const), '{message}');
  const backlog = cachedFor(GAUGE_CACHE_MS, () => outbox.backlog());
  observeGauge('aga.outbox.backlog', 'Events committed and not yet published (the transactional outbox\'s rows).', async () => [[await backlog(), {}] as const], '{event}');
  const deadLetters = cachedFor(GAUGE_CACHE_MS, () => directory.streamMessages(deadLetterStream));
  observeGauge('aga.dead_letters', 'Messages in the dead-letter stream, waiting for an operator.', async () => {
    const count = await deadLetters();
    return count === null ? [] : [[count, {}] as const];
  }, '{message}');
}

/** Whether a readiness probe answers as `/readyz` reads it (within its time): 1 or 0. */
async function probeAnswers(probe: ReadinessProbe): Promise<number> {
  return (await runProbe(probe, AbortSignal.timeout(READINESS_TIMEOUT_MS))).status === 'ok' ? 1 : 0;
}

/** `load`'s answer, reused for `ttlMs`; one load at a time. */
function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: T } | undefined;
  let loading: Promise<T> | undefined;
  return () => {
    if (last !== undefined && Date.now() - last.at < ttlMs) return Promise.resolve(last.value);
    loading ??= load().then(
      (value) => {
        last = { at: Date.now(), value };
        loading = undefined;
        return value;
      },
      (error: unknown) => {
        loading = undefined;
        throw error;
      },
    );
    return loading;
  };
}

/** A consumer's settings as its declaration types them; a webhook secret that is missing fails when first used. */
/** PUBLIC_BASE_URL (declared by the webhook consumer): also the OpenAPI document's server. */
function publicBaseUrlOf(system: SystemConfig): { publicBaseUrl?: string } {
  const { publicBaseUrl } = settingsOf<Partial<WebhookSettings>>(system, 'webhook');
  return publicBaseUrl === undefined ? {} : { publicBaseUrl };
}

function settingsOf<S>(system: SystemConfig, consumer: string): S {
  return (system.consumerSettings.get(consumer) ?? {}) as S;
}

/**
 * The resilience of every outside API: the two providers' from the configuration, and those the
 * consumers declare (`callsApi` with its `apiPolicy`), with the configured breaker and probe
 * settings and no rate cap.
 */
export function outsideApiSpecs(config: Config, consumers: readonly AnyConsumer[]): OutsideApiSpec[] {
  const resilience = resilienceConfig(config);
  const providers = providerApiSpecs(resilience);
  const declared = new Map<string, OutsideApiSpec>();
  for (const consumer of consumers) {
    const name = consumer.callsApi;
    if (name === undefined || providers.some((spec) => spec.name === name) || declared.has(name)) continue;
    const policy = consumer.apiPolicy ?? {};
    declared.set(name, {
      name,
      timeoutMs: policy.timeoutMs ?? config.providers.timeoutMs,
      breakerScope: policy.breakerPerTarget === true ? 'key' : 'api',
      breaker: resilience.breaker,
      probeIntervalMs: resilience.probeIntervalMs,
      maxConcurrency: resilience.maxConcurrency,
    });
  }
  return [...providers, ...declared.values()];
}

/** The configured resilience settings, leaving out what is unset so the adapters' defaults apply. */
function resilienceConfig(config: Config): ResilienceConfig {
  const { breaker, ...rest } = config.resilience;
  const defined = <T extends object>(value: T) =>
    Object.fromEntries(Object.entries(value).filter(([, setting]) => setting !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
  return { ...defined(rest), timeoutMs: config.providers.timeoutMs, breaker: defined(breaker) };
}

/**
 * One line that names the setting and the fix when start-up failed because PostgreSQL or NATS
 * cannot be reached (the usual first-run problem), instead of a driver's stack trace; undefined
 * for any other failure. Shows the host and port only, never the credentials a URL may hold.
 */
export function startupHint(error: unknown, config: Pick<Config, 'databaseUrl' | 'natsUrl'>): string | undefined {
  if (isPostgresUnavailable(error)) {
    return `Cannot reach PostgreSQL at ${hostOf(config.databaseUrl, '5432')} (DATABASE_URL): start it, or set DATABASE_URL to a database that is running.`;
  }
  if (isNatsUnavailable(error)) {
    return `Cannot reach NATS at ${hostOf(config.natsUrl, '4222')} (NATS_URL): start nats-server with JetStream (-js), or set NATS_URL to one that is running.`;
  }
  return undefined;
}

function hostOf(url: string, defaultPort: string): string {
  try {
    const parsed = new URL(url.split(',')[0]!.trim());
    return `${parsed.hostname}:${parsed.port === '' ? defaultPort : parsed.port}`;
  } catch {
    return 'the configured address';
  }
}

