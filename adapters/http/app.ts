/**
 * The HTTP edge: cross-cutting middleware, then one plugin per group of routes.
 *
 * A plugin is a function that takes only the inbound ports its routes need and returns a Hono
 * instance (see routes/health.ts, routes/campaigns.ts). To add one: write routes/<name>.ts,
 * add the ports it needs to HttpAppDeps, and mount it below with `app.route(<prefix>, ...)`.
 * Anything under /api/ requires a signed-in user.
 */
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { PreviewImport } from '../../ports/preview-import.port.ts';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import type { TokenVerifier } from '../../ports/token-verifier.port.ts';
import type { Logger } from '../logging/logger.ts';
import type { AppEnv } from './context.ts';
import { notFound, onError } from './errors.ts';
import { requireUser } from './middleware/auth.ts';
import { corsPolicy } from './middleware/cors.ts';
import { requestLogging } from './middleware/request-logging.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { healthRoutes } from './routes/health.ts';

export interface HttpAppDeps {
  readonly logger: Logger;
  /** Exact browser origins allowed by CORS, e.g. https://app.example.com. */
  readonly corsOrigins: readonly string[];
  readonly tokenVerifier: TokenVerifier;
  readonly readiness: readonly ReadinessProbe[];
  readonly previewImport: PreviewImport;
  readonly limits: ImportLimits;
}

/** A caller's X-Request-Id is kept only when short; hono/request-id also limits it to [A-Za-z0-9_=-]. */
const MAX_REQUEST_ID_LENGTH = 64;

export function createHttpApp(deps: HttpAppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(requestId({ limitLength: MAX_REQUEST_ID_LENGTH }));
  app.use(requestLogging(deps.logger));
  app.use(corsPolicy(deps.corsOrigins));
  app.use('/api/*', requireUser(deps.tokenVerifier));

  app.route('/', healthRoutes({ readiness: deps.readiness }));
  app.route('/api/campaigns', campaignRoutes({ previewImport: deps.previewImport, limits: deps.limits }));

  app.notFound(notFound);
  app.onError(onError);
  return app;
}
