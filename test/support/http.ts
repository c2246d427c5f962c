/**
 * The real HTTP edge on a real listening server (port 0), wired like src/compose.ts with the
 * real adapters: the Supabase token verifier, the CSV import, readiness probes against the real
 * PostgreSQL and NATS, the PostgreSQL campaign store on a throw-away database of its own, and the
 * submission's NATS object store, publisher and run notifications under a random subject prefix.
 * No consumer runs: tests drive the pipeline's writes through the store (and the notifier), as
 * the consumers would. Tests talk to the server with fetch.
 */
import { freePort } from '../../scripts/free-port.ts';
import { isNatsUnavailable } from '../../adapters/nats/unavailable.ts';
import { isPostgresUnavailable } from '../../adapters/postgres/unavailable.ts';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Hono } from 'hono';
import { inject } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { CsvLeadFileReader } from '../../adapters/csv/csv-lead-file-reader.ts';
import { SupabaseTokenVerifier } from '../../adapters/auth/supabase-token-verifier.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import type { AppEnv } from '../../adapters/http/context.ts';
import type { CampaignOptionField } from '../../adapters/http/routes/campaign-process.ts';
import { startHttpServer } from '../../adapters/http/server.ts';
import { createLogger, type Logger } from '../../adapters/logging/logger.ts';
import { connectNats, NatsReadinessProbe } from '../../adapters/nats/connection.ts';
import { NatsObjectLeadFileStore } from '../../adapters/nats/file-store.ts';
import { NatsApiStatusReader } from '../../adapters/nats/api-status.ts';
import { PROVIDER_APIS } from '../../adapters/providers/apis.ts';
import { NatsRunNotifications } from '../../adapters/nats/run-notifications.ts';
import { deadLetterStreamName, provisionTopology } from '../../adapters/nats/topology.ts';
import { createPostgresStores, type PostgresStores } from '../../adapters/postgres/stores/index.ts';
import { createSql, type Sql } from '../../adapters/postgres/client.ts';
import { PostgresReadinessProbe } from '../../adapters/postgres/readiness.ts';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import type { Lead } from '../../domain/leads/lead.ts';
import { KEPT_ROW_CHARS, LeadImport } from '../../domain/leads/lead-import.ts';
import { DEFAULT_PRICING, type Pricing } from '../../domain/pricing/pricing.ts';
import type { QuotaLimits } from '../../domain/quotas/quota.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { PreviewImport } from '../../ports/preview-import.port.ts';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import type { RunNotifier, RunWatcher } from '../../ports/run-notifications.port.ts';
import type { ApiStatusReader } from '../../ports/outside-api.port.ts';
import { PostgresCampaignQueries } from '../../adapters/postgres/stores/campaign-queries.ts';
import { PreviewImportService } from '../../src/app/preview-import.ts';
import { RerunCampaignService } from '../../src/app/rerun-campaign.ts';
import { RunControlService } from '../../src/app/run-control.ts';
import { SubmitCampaignService } from '../../src/app/submit-campaign.ts';
import { ManageCampaignsService } from '../../src/app/manage-campaigns.ts';
import { campaignOptionChecker } from '../../src/app/kernel/assemble.ts';
import { pipelinePorts } from '../../src/compose.ts';
import { webhook, WEBHOOK_URL_OPTION } from '../../src/app/consumers/webhook.ts';
import { StandardWebhookSender } from '../../adapters/webhooks/standard-webhook-sender.ts';
import { SuppressionService } from '../../src/app/suppressions.ts';
import { createTestDatabase } from './database.ts';
import { storeDriver, type StoreDriver } from './store.ts';
import { deleteStreams, testNames } from './nats.ts';
import { hs256Token, TEST_JWT_SECRET } from './tokens.ts';

/** The one browser origin the test server allows. */
export const ALLOWED_ORIGIN = 'https://app.example.test';

export interface TestServerOptions {
  /** Replaces the real probes, e.g. with one that points at a closed port. */
  readonly readiness?: readonly ReadinessProbe[];
  /** A logger writing to a stream the test reads; silent otherwise. */
  readonly logger?: Logger;
  /** SUPABASE_URL, for asymmetric tokens (see startJwksServer). */
  readonly supabaseUrl?: string;
  /** Replaces the real import, to drive the edge's handling of failures it cannot provoke. */
  readonly previewImport?: PreviewImport;
  /** Prices for the preview's estimate (and the submission's); DEFAULT_PRICING otherwise. */
  readonly pricing?: Pricing;
  /** Replace the real adapters on the server's own NATS connection (e.g. the same on a closed one). */
  readonly runWatcher?: RunWatcher;
  readonly providerStatus?: ApiStatusReader;
  /** Event streams and exports on a pool of their own, as src/compose.ts wires them. */
  readonly readPool?: { readonly max: number; readonly statementTimeoutMs?: number };
  readonly sseMaxStreamsPerUser?: number;
  /** The submission's per-user quotas; none otherwise. */
  readonly quotas?: QuotaLimits;
  /** SUPABASE_JWT_AUDIENCE and ALLOW_ANONYMOUS_USERS; the verifier's defaults otherwise. */
  readonly tokens?: { readonly audiences?: readonly string[]; readonly allowAnonymous?: boolean };
  /**
   * Campaign options as src/compose.ts wires them, with the webhook consumer enabled (this secret)
   * and its real URL check (public addresses only); none otherwise.
   */
  readonly webhookSecret?: string;
  /** The campaign options the process route accepts (as src/compose.ts passes the consumers'); none otherwise. */
  readonly campaignOptions?: readonly CampaignOptionField[];
}

export interface TestServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly baseUrl: string;
  /** The app the server serves (its routes: `app.routes`). */
  readonly app: Hono<AppEnv>;
  /** The stores behind the routes, on the server's own database. */
  readonly stores: PostgresStores;
  /** The same, as awaited calls: seed the database and drive it like the consumers do. */
  readonly store: StoreDriver;
  /** A connection to the server's database, for what the store has no method for. */
  readonly sql: Sql;
  /** Says "this run changed" the way the KPI projection does. */
  readonly notifier: RunNotifier;
  /** Where `POST /process` stores the uploaded files. */
  readonly files: LeadFileStore;
  /** The object store bucket behind `files`. */
  readonly fileBucket: string;
  /** The server's NATS connection, and the subject prefix of its events and notifications. */
  readonly nc: NatsConnection;
  readonly subjectPrefix: string;
  /** The KV bucket of the providers' shared state, which the status route reads. */
  readonly providerBucket: string;
  close(): Promise<void>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const limits = DEFAULT_IMPORT_LIMITS;
  const reader = new CsvLeadFileReader();
  const database = await createTestDatabase({ migrate: true });
  const nc = await connectNats({ url: inject('natsUrl'), name: 'http-tests', logger });
  const names = testNames();
  await provisionTopology(nc, { streamName: names.streamName, prefix: names.prefix, consumers: [] });
  const files = await NatsObjectLeadFileStore.open(nc, { bucket: names.bucket });
  const stores = createPostgresStores(database.sql);
  const notifications = new NatsRunNotifications(nc, { prefix: names.prefix });
  const providerBucket = `${names.bucket}-providers`;
  // Its own connection, so that `nc`'s message counts show the run watcher's traffic alone.
  const statusNc = await connectNats({ url: inject('natsUrl'), name: 'http-tests-provider-status', logger });
  const providerStatus = await NatsApiStatusReader.open(statusNc, { bucket: providerBucket, apis: PROVIDER_APIS });

  const readSql = options.readPool === undefined ? undefined : createSql(database.url, options.readPool);
  const webhookSettings = { secret: options.webhookSecret, allowPrivateNetworks: false, publicBaseUrl: undefined };
  const checkOptions =
    options.webhookSecret === undefined
      ? undefined
      : campaignOptionChecker([webhook], {
          enabled: [webhook],
          ports: pipelinePorts(
            {
              stores,
              files,
              reader,
              notifier: notifications,
              providers: () => Promise.reject(new Error('the HTTP tests run no provider')),
              limits,
              extractionBatchSize: 1000,
              pricing: options.pricing ?? DEFAULT_PRICING,
              kpiRates: DEFAULT_KPI_RATES,
              bannedPhrases: [],
              researchCacheTtlMs: 0,
            },
            { webhooks: () => new StandardWebhookSender({ secret: options.webhookSecret!, allowPrivateNetworks: false }) },
          ),
          settings: new Map([[webhook.name, webhookSettings]]),
        });
  const app = createHttpApp({
    logger,
    isUnavailable: (error) => isPostgresUnavailable(error) || isNatsUnavailable(error),
    corsOrigins: [ALLOWED_ORIGIN],
    tokenVerifier: new SupabaseTokenVerifier({ jwtSecret: TEST_JWT_SECRET, supabaseUrl: options.supabaseUrl, ...options.tokens }),
    readiness: options.readiness ?? [new PostgresReadinessProbe(database.sql), new NatsReadinessProbe(nc)],
    previewImport: options.previewImport ?? new PreviewImportService({ reader, limits, suppressions: stores.suppressions }),
    limits,
    pricing: options.pricing ?? DEFAULT_PRICING,
    submitCampaign: new SubmitCampaignService({
      reader,
      limits,
      store: stores.submission,
      uow: stores.uow,
      files,
      pricing: options.pricing ?? DEFAULT_PRICING,
      templates: stores.templates,
      ...(options.quotas === undefined ? {} : { quotas: options.quotas }),
      ...(checkOptions === undefined ? {} : { checkOptions }),
    }),
    ...(checkOptions === undefined ? {} : { campaignOptions: [{ field: WEBHOOK_URL_OPTION }] }),
    manageCampaigns: new ManageCampaignsService({ store: stores.campaigns, uow: stores.uow, files, ...(checkOptions === undefined ? {} : { checkOptions }) }),
    rerunCampaign: new RerunCampaignService({
      store: stores.rerun,
      keys: stores.submission,
      uow: stores.uow,
      pricing: options.pricing ?? DEFAULT_PRICING,
      ...(options.quotas === undefined ? {} : { quotas: options.quotas }),
    }),
    ...(options.campaignOptions === undefined ? {} : { campaignOptions: options.campaignOptions }),
    campaignQueries: stores.queries,
    ...(readSql === undefined ? {} : { streamQueries: new PostgresCampaignQueries(readSql) }),
    ...(options.sseMaxStreamsPerUser === undefined ? {} : { sseMaxStreamsPerUser: options.sseMaxStreamsPerUser }),
    runWatcher: options.runWatcher ?? notifications,
    providerStatus: options.providerStatus ?? providerStatus,
    templates: stores.templates,
    suppressions: new SuppressionService({ store: stores.suppressions, reader, limits }),
    runControl: new RunControlService({ store: stores.runControl, uow: stores.uow, projection: stores.projection, notifier: notifications, files }),
  });
  const server = await startHttpServer(app, { port: 0, hostname: '127.0.0.1', shutdownGraceMs: 1_000 });
  return {
    baseUrl: `http://127.0.0.1:${server.port}`,
    app,
    stores,
    store: storeDriver(stores),
    sql: database.sql,
    notifier: notifications,
    files,
    fileBucket: names.bucket,
    nc,
    subjectPrefix: names.prefix,
    providerBucket,
    async close() {
      await server.close();
      await readSql?.end({ timeout: 5 });
      await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName), `OBJ_${names.bucket}`, `KV_${providerBucket}`);
      await statusNc.close();
      await nc.close();
      await database.drop();
    },
  };
}

export interface Probes {
  readonly probes: readonly ReadinessProbe[];
  close(): Promise<void>;
}

/** The service's own probes, against the PostgreSQL and NATS the global setup found. */
export async function realReadinessProbes(logger: Logger): Promise<Probes> {
  const sql = createSql(inject('databaseUrl'), { max: 1 });
  const nc = await connectNats({ url: inject('natsUrl'), name: 'http-tests', logger });
  return {
    probes: [new PostgresReadinessProbe(sql), new NatsReadinessProbe(nc)],
    async close() {
      await nc.close();
      await sql.end({ timeout: 1 });
    },
  };
}

/** A real PostgreSQL probe aimed at a port nothing listens on. */
export async function closedPortPostgresProbe(): Promise<Probes> {
  const sql = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, {
    max: 1,
    connectTimeoutSeconds: 1,
  });
  return { probes: [new PostgresReadinessProbe(sql)], close: () => sql.end({ timeout: 1 }) };
}

/** A port that was free a moment ago and has nothing listening on it now. */
export const closedPort = freePort;

export interface PreviewRequest {
  readonly token?: string;
  /** The file's content; with `file: false` no csv_file field is sent. */
  readonly content?: string | Uint8Array;
  readonly file?: boolean;
  readonly fileType?: string;
  readonly fileName?: string;
  readonly demo?: string;
  readonly query?: string;
}

/** POST /api/campaigns/preview as a browser form upload would. */
export function postPreview(baseUrl: string, request: PreviewRequest): Promise<Response> {
  const form = new FormData();
  if (request.file !== false) {
    const content = request.content ?? '';
    form.append(
      'csv_file',
      new File([typeof content === 'string' ? content : new Uint8Array(content)], request.fileName ?? 'leads.csv', {
        type: request.fileType ?? 'text/csv',
      }),
    );
  }
  if (request.demo !== undefined) form.append('demo', request.demo);
  return fetch(`${baseUrl}/api/campaigns/preview${request.query ?? ''}`, {
    method: 'POST',
    headers: request.token === undefined ? {} : { Authorization: `Bearer ${request.token}` },
    body: form,
  });
}

export interface ProcessRequest {
  readonly token: string;
  readonly content: string | Uint8Array;
  readonly fileName?: string;
  readonly fileType?: string;
  /** The text fields: campaign_name, campaign_id, demo, research_prompt, personalization_prompt. */
  readonly fields?: Readonly<Record<string, string>>;
  /** Extra request headers, e.g. Idempotency-Key. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** POST /api/campaigns/process as a browser form upload would. */
export function postProcess(baseUrl: string, request: ProcessRequest): Promise<Response> {
  const form = new FormData();
  const content = typeof request.content === 'string' ? request.content : new Uint8Array(request.content);
  form.append('csv_file', new File([content], request.fileName ?? 'leads.csv', { type: request.fileType ?? 'text/csv' }));
  for (const [name, value] of Object.entries(request.fields ?? {})) form.append(name, value);
  return fetch(`${baseUrl}/api/campaigns/process`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${request.token}`, ...request.headers },
    body: form,
  });
}

/** A signed-in user: their id and an access token for it. */
export interface TestUser {
  readonly id: string;
  readonly token: string;
}

export async function testUser(): Promise<TestUser> {
  const id = randomUUID();
  return { id, token: await hs256Token({ sub: id }) };
}

/** GET an /api path as `user`. */
export function apiGet(baseUrl: string, path: string, user: TestUser): Promise<Response> {
  return fetch(`${baseUrl}${path}`, { headers: { Authorization: `Bearer ${user.token}` } });
}

// ── Seeding the store as the pipeline's consumers write it ──────────────────────────────────

export interface SeededRun {
  readonly runId: string;
  readonly campaignId: string;
  /** Lead ids by normalized email. */
  readonly leadIds: ReadonlyMap<string, string>;
}

export interface SeedRunOptions {
  readonly userId: string;
  readonly csv: string;
  /** A new campaign of this name (default: a fresh one, as names are unique per user), or a new run of `campaignId`. */
  readonly campaignName?: string;
  readonly campaignId?: string;
}

/**
 * A run whose file was extracted: the campaign and run recorded as `POST /process` records them,
 * then the leads imported and stored, and the rows that are not leads kept, as the extraction
 * consumer does. The run ends up
 * `personalizing` with every new lead `pending`.
 */
export async function seedRun(server: TestServer, options: SeedRunOptions): Promise<SeededRun> {
  const { store } = server;
  const { runId, campaignId } = await store.createRun({
    userId: options.userId,
    ...(options.campaignId === undefined ? { campaignName: options.campaignName ?? `Seeded ${randomUUID()}` } : { campaignId: options.campaignId }),
    demo: false,
    fileName: 'leads.csv',
  });
  const run = await store.beginExtraction(runId);
  if (run === null) throw new Error('the new run could not begin extraction');
  // The import as extraction runs it: the leads, and the rows that are not leads kept for the export.
  let leadImport: LeadImport | undefined;
  const leads: Lead[] = [];
  for await (const record of new CsvLeadFileReader().records(Readable.from([Buffer.from(options.csv)]), DEFAULT_IMPORT_LIMITS)) {
    if (leadImport === undefined) leadImport = new LeadImport(record, { demo: false, maxColumns: DEFAULT_IMPORT_LIMITS.maxColumns, keepRows: KEPT_ROW_CHARS });
    else {
      const outcome = leadImport.accept(record);
      if (outcome.kind === 'lead') leads.push(outcome.lead);
    }
  }
  if (leadImport === undefined) throw new Error('the seeded file is empty');
  const report = leadImport.report();
  const { skipped } = await store.storeLeads(run, leads);
  await store.finishExtraction(runId, { report, columns: report.columns, skipped, rows: leadImport.rows });
  const rows = await server.sql<{ id: string; email: string }[]>`select id, email from leads where run_id = ${runId}`;
  return { runId, campaignId, leadIds: new Map(rows.map((row) => [row.email, row.id])) };
}

export type LeadOutcome = { readonly message: string } | { readonly error: string };

/** Settles a pending lead as research, personalization and the KPI projection would, and signals the run. */
export async function settleLead(server: TestServer, runId: string, leadId: string, outcome: LeadOutcome): Promise<void> {
  const { store } = server;
  if ('message' in outcome) {
    const model = 'test-model';
    if (!(await store.saveResearch(leadId, runId, { text: 'Research.', citations: [{ url: 'https://example.com/' }], model }))) {
      throw new Error('lead was not pending');
    }
    await store.savePersonalized(leadId, runId, { message: outcome.message, basis: 'Research.', model });
  } else {
    await store.saveFailed(leadId, runId, outcome.error);
  }
  if (!(await store.countOutcome(leadId, runId, DEFAULT_KPI_RATES))) throw new Error('outcome was counted before');
  await store.completeIfSettled(runId);
  server.notifier.notify(runId);
}

// ── Server-sent events ──────────────────────────────────────────────────────────────────────

export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
  /** The event's `id:`, when it has one. */
  readonly id?: string;
  /** The event's `retry:`, when it has one. */
  readonly retry?: number;
}

export interface EventStream {
  readonly response: Response;
  /** The next event; null once the server closed the stream. Rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<ServerSentEvent | null>;
  /** Comment lines seen so far (heartbeats). */
  readonly comments: readonly string[];
  /** Disconnects. */
  close(): void;
}

/** Opens an event stream with fetch (headers allowed, unlike EventSource) and parses it as text/event-stream. */
export async function openEventStream(url: string, headers: Readonly<Record<string, string>> = {}): Promise<EventStream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  const comments: string[] = [];
  let buffer = '';

  async function next(timeoutMs = 10_000): Promise<ServerSentEvent | null> {
    if (reader === undefined) return null;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseBlock(block, comments);
        if (event !== null) return event;
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('timed out waiting for a server-sent event');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out waiting for a server-sent event')), remaining);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) return null;
      buffer += chunk.value;
    }
  }

  return { response, next, comments, close: () => abort.abort() };
}

function parseBlock(block: string, comments: string[]): ServerSentEvent | null {
  let event = 'message';
  let id: string | undefined;
  let retry: number | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) comments.push(line.slice(1).trim());
    else if (line.startsWith('event: ')) event = line.slice('event: '.length);
    else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
    else if (line.startsWith('id: ')) id = line.slice('id: '.length);
    else if (line.startsWith('retry: ')) retry = Number(line.slice('retry: '.length));
  }
  if (data.length === 0 && event === 'message') return null;
  return { event, data: data.join('\n'), ...(id === undefined ? {} : { id }), ...(retry === undefined ? {} : { retry }) };
}
