import { Hono } from 'hono';
import * as v from 'valibot';
import { RecoveringError, type ReadinessProbe } from '../../../ports/readiness.port.ts';
import type { AppEnv } from '../context.ts';
import { describePublicRoute, jsonResponse, problems } from '../openapi.ts';
import { problem } from '../problem.ts';

/** A probe slower than this counts as down: orchestrators poll readiness every few seconds. */
export const READINESS_TIMEOUT_MS = 2_000;

const CHECK_RESULTS = ['ok', 'unreachable', 'timeout', 'recovering'] as const;
type CheckResult = (typeof CHECK_RESULTS)[number];

export const HealthBody = v.object({ status: v.literal('ok') });

export const ReadyBody = v.object({
  status: v.literal('ready'),
  checks: v.pipe(v.record(v.string(), v.picklist(CHECK_RESULTS)), v.description('Each dependency by name (postgres, nats, ...) and how it answered.')),
});

const healthDoc = describePublicRoute({
  operationId: 'getHealth',
  tags: ['Health'],
  summary: 'The process is up',
  description: 'Consults no dependency, so that an outage of one does not get the process restarted.',
  responses: { 200: jsonResponse('The process is up.', HealthBody) },
});

const readyDoc = describePublicRoute({
  operationId: 'getReadiness',
  tags: ['Health'],
  summary: 'Every dependency answers',
  description: 'PostgreSQL and NATS (JetStream) answer, and the broker has every stream, consumer and bucket this process needs; checked in parallel, each within 2 seconds.',
  responses: {
    200: jsonResponse('Ready.', ReadyBody),
    ...problems({ 503: 'Not ready: `checks` names each dependency and how it answered (unreachable, timeout, or recovering while a lost topology is provisioned again).' }),
  },
});

export interface HealthRoutesDeps {
  readonly readiness: readonly ReadinessProbe[];
}

/**
 * `GET /healthz`: the process is up (no dependency is consulted, so a broker outage does not get
 * the process restarted). `GET /readyz`: every dependency answers, checked in parallel.
 */
export function healthRoutes({ readiness }: HealthRoutesDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/healthz', healthDoc, (c) => c.json({ status: 'ok' }));

  routes.get('/readyz', readyDoc, async (c) => {
    const signal = AbortSignal.timeout(READINESS_TIMEOUT_MS);
    const results = await Promise.all(
      readiness.map(async (probe) => {
        const result = await runProbe(probe, signal);
        if (result.error !== undefined) {
          // Server side only: the client learns which dependency, not why.
          c.get('logger').warn({ probe: probe.name, err: result.error }, 'readiness check failed');
        }
        return [probe.name, result.status] as const;
      }),
    );
    const checks = Object.fromEntries(results);
    const failing = results.filter(([, status]) => status !== 'ok');
    if (failing.length === 0) return c.json({ status: 'ready', checks });
    const detail = `Not ready: ${failing.map(([name, status]) => `${name} ${status}`).join(', ')}.`;
    return problem(c, 503, detail, { members: { checks } });
  });

  return routes;
}

/** Runs one probe, bounded by `signal` even when the probe ignores it (also the `aga.process.ready` gauge's reading). */
export async function runProbe(probe: ReadinessProbe, signal: AbortSignal): Promise<{ status: CheckResult; error?: unknown }> {
  const timedOut = new Promise<never>((_, reject) => {
    const giveUp = () => reject(new Error(`no answer within ${READINESS_TIMEOUT_MS} ms`));
    if (signal.aborted) giveUp();
    else signal.addEventListener('abort', giveUp, { once: true });
  });
  try {
    await Promise.race([probe.check(signal), timedOut]);
    return { status: 'ok' };
  } catch (error) {
    return { status: signal.aborted ? 'timeout' : error instanceof RecoveringError ? 'recovering' : 'unreachable', error };
  }
}
