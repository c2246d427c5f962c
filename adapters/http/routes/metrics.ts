import { Hono } from 'hono';
import type { CampaignQueries } from '../../../ports/campaign-queries.port.ts';
import type { AppEnv } from '../context.ts';

export interface MetricsRoutesDeps {
  readonly queries: CampaignQueries;
}

/**
 * `GET /metrics`: the caller's KPIs, zeros before their first personalized lead. Hours and money
 * are exact decimals in the database and JSON numbers here, rounded to cents.
 */
export function metricsRoutes({ queries }: MetricsRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/metrics', async (c) => {
    const metrics = await queries.metrics(c.get('userId'));
    return c.json({
      leads_personalized: metrics.leads_personalized,
      hours_saved: toCents(metrics.hours_saved),
      money_saved: toCents(metrics.money_saved),
      updated_at: metrics.updated_at,
    });
  });

  return routes;
}

function toCents(decimal: string): number {
  return Math.round(Number(decimal) * 100) / 100;
}
