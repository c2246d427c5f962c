/**
 * The HTTP edge: cross-cutting middleware, then one plugin per group of routes.
 *
 * A plugin is a function that takes only the inbound ports its routes need and returns a Hono
 * instance (see routes/health.ts, routes/campaigns.ts). To add one: write routes/<name>.ts,
 * add the ports it needs to HttpAppDeps, and mount it below with `app.route(<prefix>, ...)`.
 * Anything under /api/ requires a signed-in user; the run event stream alone may also take the
 * token from its query string (see routes/run-progress.ts).
 */
import { Hono } from 'hono';
import { except } from 'hono/combine';
import { requestId } from 'hono/request-id';
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { Pricing } from '../../domain/pricing/pricing.ts';
import type { CampaignQueries } from '../../ports/campaign-queries.port.ts';
import type { PreviewImport } from '../../ports/preview-import.port.ts';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import type { ApiStatusReader } from '../../ports/outside-api.port.ts';
import type { RunControl } from '../../ports/run-control.port.ts';
import type { RunWatcher } from '../../ports/run-notifications.port.ts';
import type { SubmitCampaign } from '../../ports/submit-campaign.port.ts';
import type { TokenVerifier } from '../../ports/token-verifier.port.ts';
import type { Logger } from '../logging/logger.ts';
import type { AppEnv } from './context.ts';
import { errorHandler, notFound } from './errors.ts';
import { requireUser } from './middleware/auth.ts';
import { corsPolicy } from './middleware/cors.ts';
import { requestLogging } from './middleware/request-logging.ts';
import { campaignProcessRoutes } from './routes/campaign-process.ts';
import { campaignResultsRoutes } from './routes/campaign-results.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { runControlRoutes } from './routes/run-control.ts';
import { requireUserForEventStream, runProgressRoutes } from './routes/run-progress.ts';

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
  readonly submitCampaign: SubmitCampaign;
  /** Form fields consumers declared as campaign options (e.g. `webhook_url`), accepted by the process route. */
  readonly campaignOptions?: readonly string[];
  readonly campaignQueries: CampaignQueries;
  /** The same reads on their own small pool, for the long ones (event streams, exports); default campaignQueries. */
  readonly streamQueries?: CampaignQueries;
  /** Open event streams per user in this process (SSE_MAX_STREAMS_PER_USER). */
  readonly sseMaxStreamsPerUser?: number;
  /** Wakes the run event stream when a run changes (its fallback is polling). */
  readonly runWatcher: RunWatcher;
  /** The providers' shared state, shown on a waiting run's status (e.g. paused: out of credit). */
  readonly providerStatus: ApiStatusReader;
  /** Cancel, pause and resume of a run (`POST /api/campaigns/runs/:runId/cancel|pause|resume`); absent: not served. */
  readonly runControl?: RunControl;
}

/** The one route that accepts `?access_token=`, for browsers' EventSource. */
const EVENT_STREAM_PATH = '/api/campaigns/events/*';

/** A caller's X-Request-Id is kept only when short; hono/request-id also limits it to [A-Za-z0-9_=-]. */
const MAX_REQUEST_ID_LENGTH = 64;

export function createHttpApp(deps: HttpAppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(requestId({ limitLength: MAX_REQUEST_ID_LENGTH }));
  app.use(requestLogging(deps.logger));
  app.use(corsPolicy(deps.corsOrigins));
  app.use('/api/*', except(EVENT_STREAM_PATH, requireUser(deps.tokenVerifier)));
  app.use(EVENT_STREAM_PATH, requireUserForEventStream(deps.tokenVerifier));

  const queries = deps.campaignQueries;
  app.route('/', healthRoutes({ readiness: deps.readiness }));
  app.route('/api/campaigns', campaignRoutes({ previewImport: deps.previewImport, limits: deps.limits, pricing: deps.pricing }));
  app.route('/api/campaigns', campaignProcessRoutes({ submitCampaign: deps.submitCampaign, limits: deps.limits, options: deps.campaignOptions ?? [] }));
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
  app.route('/api', metricsRoutes({ queries }));

  app.notFound(notFound);
  app.onError(errorHandler(deps.isUnavailable));
  return app;
}
