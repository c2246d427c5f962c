/**
 * The HTTP edge: cross-cutting middleware, then one plugin per group of routes.
 *
 * A plugin is a function that takes only the inbound ports its routes need and returns a Hono
 * instance (see routes/health.ts, routes/campaigns.ts). To add one: write routes/<name>.ts,
 * add the ports it needs to HttpAppDeps, and mount it below with `app.route(<prefix>, ...)`.
 * Each route carries its OpenAPI description, `describeApiRoute({...})` first in its handlers
 * (see openapi.ts): the document at /openapi.json is generated from them, and a route without
 * one fails test/http/openapi.test.ts.
 * Anything under /api/ requires a signed-in user; the run event stream alone may also take the
 * token from its query string (see routes/run-progress.ts).
 */
import { Hono } from 'hono';
import { except } from 'hono/combine';
import { requestId } from 'hono/request-id';
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { Pricing } from '../../domain/pricing/pricing.ts';
import type { CampaignQueries } from '../../ports/campaign-queries.port.ts';
import type { ManageCampaigns } from '../../ports/manage-campaigns.port.ts';
import type { PreviewImport } from '../../ports/preview-import.port.ts';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import type { ApiStatusReader } from '../../ports/outside-api.port.ts';
import type { RerunCampaign } from '../../ports/rerun-campaign.port.ts';
import type { RunControl } from '../../ports/run-control.port.ts';
import type { RunWatcher } from '../../ports/run-notifications.port.ts';
import type { SubmitCampaign } from '../../ports/submit-campaign.port.ts';
import type { TemplateStore } from '../../ports/template-store.port.ts';
import type { Suppressions } from '../../ports/suppressions.port.ts';
import type { TokenVerifier } from '../../ports/token-verifier.port.ts';
import type { Logger } from '../logging/logger.ts';
import type { AppEnv } from './context.ts';
import { errorHandler, notFound } from './errors.ts';
import { requireUser } from './middleware/auth.ts';
import { corsPolicy } from './middleware/cors.ts';
import { loopbackHostOnly } from './middleware/local-only.ts';
import { requestLogging } from './middleware/request-logging.ts';
import { requestTracing } from './middleware/tracing.ts';
import { getTracer } from '../telemetry/tracing.ts';
import { openApiRoutes } from './openapi.ts';
import { campaignManagementRoutes } from './routes/campaign-management.ts';
import { campaignProcessRoutes, type CampaignOptionField } from './routes/campaign-process.ts';
import { campaignResultsRoutes } from './routes/campaign-results.ts';
import { campaignRerunRoutes } from './routes/campaign-rerun.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { runControlRoutes } from './routes/run-control.ts';
import { requireUserForEventStream, runProgressRoutes } from './routes/run-progress.ts';
import { templateRoutes } from './routes/templates.ts';
import { suppressionRoutes } from './routes/suppressions.ts';
import { webAppRoutes, type WebAppOptions } from '../web/web-app.ts';

export interface HttpAppDeps {
  readonly logger: Logger;
  /** Errors that mean a dependency is down or recovering: answered 503 with Retry-After (default: none). */
  readonly isUnavailable?: (error: unknown) => boolean;
  /** Exact browser origins allowed by CORS, e.g. https://app.example.com. */
  readonly corsOrigins: readonly string[];
  readonly tokenVerifier: TokenVerifier;
  readonly readiness: readonly ReadinessProbe[];
  readonly previewImport: PreviewImport;
  readonly limits: ImportLimits;
  /** Provider prices, for the preview's cost estimate. */
  readonly pricing: Pricing;
  /** The providers are the in-process sandbox (PROVIDERS=sandbox): the preview's estimate says so, at $0. Default false. */
  readonly sandbox?: boolean;
  readonly submitCampaign: SubmitCampaign;
  /** Re-runs of a campaign's stored leads (`POST /api/campaigns/:id/runs`); the route is absent without it. */
  readonly rerunCampaign?: RerunCampaign;
  /** Form fields consumers declared as campaign options (e.g. `webhook_url`), accepted by the process route. */
  readonly campaignOptions?: readonly CampaignOptionField[];
  readonly campaignQueries: CampaignQueries;
  /** Changes and erases a user's campaigns (PATCH and DELETE /api/campaigns/:id). */
  readonly manageCampaigns: ManageCampaigns;
  /** The same reads on their own small pool, for the long ones (event streams, exports); default campaignQueries. */
  readonly streamQueries?: CampaignQueries;
  /** Open event streams per user in this process (SSE_MAX_STREAMS_PER_USER). */
  readonly sseMaxStreamsPerUser?: number;
  /** Wakes the run event stream when a run changes (its fallback is polling). */
  readonly runWatcher: RunWatcher;
  /** The providers' shared state, shown on a waiting run's status (e.g. paused: out of credit). */
  readonly providerStatus: ApiStatusReader;
  /** The users' saved prompt templates: `/api/templates` is served when given. */
  readonly templates?: TemplateStore;
  /** Each user's suppression list (`/api/suppressions`). */
  readonly suppressions: Suppressions;
  /** The API's public URL (PUBLIC_BASE_URL), the OpenAPI document's server; unset: the origin it is read from. */
  readonly publicBaseUrl?: string;
  /** Cancel, pause and resume of a run (`POST /api/campaigns/runs/:runId/cancel|pause|resume`); absent: not served. */
  readonly runControl?: RunControl;
  /** The web app at `/` (adapters/web), a client of this API like any other; absent: not served. */
  readonly webApp?: WebAppOptions;
  /**
   * LOCAL_SIGN_IN=true (local development): every route answers only requests naming a loopback
   * host (middleware/local-only.ts), against DNS rebinding; the server listens on 127.0.0.1.
   */
  readonly loopbackOnly?: boolean;
}

/** The one route that accepts `?access_token=`, for browsers' EventSource. */
const EVENT_STREAM_PATH = '/api/campaigns/events/*';

/** A caller's X-Request-Id is kept only when short; hono/request-id also limits it to [A-Za-z0-9_=-]. */
const MAX_REQUEST_ID_LENGTH = 64;

export function createHttpApp(deps: HttpAppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // First: every other middleware, and the handler, run in the request's SERVER span.
  app.use(requestTracing(getTracer));
  app.use(requestId({ limitLength: MAX_REQUEST_ID_LENGTH }));
  app.use(requestLogging(deps.logger));
  if (deps.loopbackOnly === true) app.use(loopbackHostOnly());
  app.use(corsPolicy(deps.corsOrigins));
  app.use('/api/*', except(EVENT_STREAM_PATH, requireUser(deps.tokenVerifier)));
  app.use(EVENT_STREAM_PATH, requireUserForEventStream(deps.tokenVerifier));

  const queries = deps.campaignQueries;
  app.route('/', healthRoutes({ readiness: deps.readiness }));
  app.route('/api/campaigns', campaignRoutes({ previewImport: deps.previewImport, limits: deps.limits, pricing: deps.pricing, sandbox: deps.sandbox ?? false }));
  app.route('/api/campaigns', campaignProcessRoutes({ submitCampaign: deps.submitCampaign, limits: deps.limits, options: deps.campaignOptions ?? [] }));
  if (deps.rerunCampaign !== undefined) app.route('/api/campaigns', campaignRerunRoutes({ rerunCampaign: deps.rerunCampaign }));
  const streamQueries = deps.streamQueries ?? queries;
  app.route(
    '/api/campaigns',
    runProgressRoutes({
      queries,
      streamQueries,
      watcher: deps.runWatcher,
      providers: deps.providerStatus,
      ...(deps.sseMaxStreamsPerUser === undefined ? {} : { maxStreamsPerUser: deps.sseMaxStreamsPerUser }),
    }),
  );
  app.route('/api/campaigns', campaignResultsRoutes({ queries, exportQueries: streamQueries }));
  if (deps.runControl !== undefined) {
    app.route('/api/campaigns', runControlRoutes({ runControl: deps.runControl, queries, providers: deps.providerStatus }));
  }
  // Last of the /api/campaigns plugins: its `/:id` paths come after every fixed path of the others.
  app.route('/api/campaigns', campaignManagementRoutes({ queries, manage: deps.manageCampaigns, options: (deps.campaignOptions ?? []).map((option) => option.field) }));
  app.route('/api', metricsRoutes({ queries }));
  if (deps.templates !== undefined) app.route('/api/templates', templateRoutes({ templates: deps.templates }));
  app.route('/api/suppressions', suppressionRoutes({ suppressions: deps.suppressions, limits: deps.limits }));
  if (deps.webApp !== undefined) app.route('/', webAppRoutes(deps.webApp));
  // Last: it documents the routes mounted above (GET /openapi.json, and the reference page at GET /docs).
  app.route('/', openApiRoutes(app, deps.publicBaseUrl === undefined ? {} : { publicBaseUrl: deps.publicBaseUrl }));

  app.notFound(notFound);
  app.onError(errorHandler(deps.isUnavailable));
  return app;
}
