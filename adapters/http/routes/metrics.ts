import { Hono } from 'hono';
import * as v from 'valibot';
import type { CampaignQueries } from '../../../ports/campaign-queries.port.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, jsonResponse } from '../openapi.ts';

export const MetricsBody = v.object({
  leads_personalized: v.pipe(v.number(), v.integer(), v.minValue(0)),
  hours_saved: v.pipe(v.number(), v.description('Hours of manual research and writing saved, rounded to 2 decimals.')),
  money_saved: v.pipe(v.number(), v.description('Money saved, rounded to cents.')),
  updated_at: v.pipe(v.nullable(v.pipe(v.string(), v.isoTimestamp())), v.description('When a lead last counted; null before the first.')),
});

const metricsDoc = describeApiRoute({
  operationId: 'getMetrics',
  tags: ['Metrics'],
  summary: "The caller's KPIs",
  description: 'Leads personalized, hours and money saved; zeros before the first personalized lead.',
  responses: { 200: jsonResponse('The KPIs.', MetricsBody) },
});

export interface MetricsRoutesDeps {
  readonly queries: CampaignQueries;
}

/**
 * `GET /metrics`: the caller's KPIs, zeros before their first personalized lead. Hours and money
 * are exact decimals in the database and JSON numbers here, rounded to cents.
 */
export function metricsRoutes({ queries }: MetricsRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/metrics', metricsDoc, async (c) => {
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
