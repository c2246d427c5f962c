/**
 * Two promises of the pipeline, on the real entry point (src/main.ts) as separate processes, the
 * real NATS and PostgreSQL, and the sandbox providers over HTTP:
 *
 * - A broker that lost everything (every stream, consumer and bucket of the deployment deleted
 *   mid-run, as a NATS server restarted on an empty store loses them) is healed without a
 *   restart: /readyz says not ready until the topology is back, and the run completes with every
 *   lead exactly once and exact KPIs.
 * - No tenant is starved: a 3-lead run submitted behind another user's 20,000-lead backlog
 *   completes within a minute, long before the backlog does.
 */
import { describe, expect, it } from 'vitest';
import { natsNames } from '../../adapters/nats/namespace.ts';
import { deadLetterStreamName } from '../../adapters/nats/topology.ts';
import { apiGet, testUser, type TestUser } from '../support/http.ts';
import { connectTestNats, deleteStreams, eventually } from '../support/nats.ts';
import { useProcessDeployment, type ProcessDeployment, type RunStatus } from '../support/processes.ts';


function statusOf(deployment: ProcessDeployment, user: TestUser, runId: string) {
  return async () => (await (await apiGet(deployment.baseUrl, `/api/campaigns/status/${runId}`, user)).json()) as RunStatus;
}

describe('a broker that lost its whole store mid-run', () => {
  const LEADS = 600;
  const deployed = useProcessDeployment({
    vars: {
      RECONCILER_INTERVAL_MS: '1000',
      // Only /readyz looks for the loss here, so that the test sees it before anything repairs it.
      NATS_TOPOLOGY_CHECK_MS: '60000',
    },
  });

  it('is healed without a restart: /readyz tells the truth, and the run completes with every lead once and exact KPIs', async () => {
    const deployment = deployed.current;
    const user = await testUser();
    const runId = await deployment.submit(user, LEADS, 'loss');
    const status = statusOf(deployment, user, runId);
    await eventually('some leads to settle', async () => (await status()).processed >= LEADS / 10, 30_000);

    const nc = await connectTestNats();
    const names = natsNames(deployment.namespace);
    await deleteStreams(nc, names.streamName, deadLetterStreamName(names.streamName), `OBJ_${names.bucket}`, `KV_${names.apiBucket}`);
    await nc.drain();
    const lostAt = Date.now();

    const notReady = await fetch(`${deployment.baseUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { checks: Record<string, string> }).checks).toEqual({ postgres: 'ok', nats: 'ok', 'nats-topology': 'recovering' });
    await deployment.ready();

    await eventually('the run to complete', async () => (await status()).status === 'completed', 40_000).catch(async (error: unknown) => {
      console.error('DEBUG leads', await deployment.database.sql`select status, counted_run_id is null as uncounted, count(*)::int from leads group by 1, 2`);
      console.error('DEBUG outbox', await deployment.database.sql`select event_type, available_at > now() as later, count(*)::int from outbox group by 1, 2`);
      const nc2 = await connectTestNats();
      const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc2);
      for await (const info of jsm.consumers.list(names.streamName)) console.error('DEBUG consumer', info.name, info.num_pending, info.num_ack_pending, info.num_redelivered, info.delivered.stream_seq);
      console.error('DEBUG stream', (await jsm.streams.info(names.streamName)).state);
      await nc2.drain();
      throw error;
    });
    const recovered = Date.now() - lostAt;
    expect(await status()).toMatchObject({ valid: LEADS, processed: LEADS, personalized: LEADS, failed: 0 });
    const [leads] = await deployment.database.sql<{ total: number; counted: number }[]>`
      select count(*)::int as total, count(*) filter (where counted_run_id = run_id)::int as counted from leads where run_id = ${runId}`;
    expect(leads).toEqual({ total: LEADS, counted: LEADS });
    const metrics = (await (await apiGet(deployment.baseUrl, '/api/metrics', user)).json()) as Record<string, unknown>;
    expect(metrics).toMatchObject({ leads_personalized: LEADS });
    // The stream's loss is acted on a few seconds after it is back, not after the 5-minute lease.
    expect(recovered).toBeLessThan(60_000);
  }, 150_000);
});

describe('a small run behind another user’s backlog', () => {
  const BACKLOG = 20_000;
  const deployed = useProcessDeployment({ providerLatencyMs: 100 });

  it('completes within a minute, long before the backlog does', async () => {
    const deployment = deployed.current;
    const big = await testUser();
    const small = await testUser();
    const bigRun = await deployment.submit(big, BACKLOG, 'big');
    const bigStatus = statusOf(deployment, big, bigRun);
    // The backlog is all extracted (waiting for the providers) before the small run arrives.
    await eventually('the backlog to be extracted', async () => (await bigStatus()).status === 'personalizing', 60_000);

    const submittedAt = Date.now();
    const smallRun = await deployment.submit(small, 3, 'small');
    const smallStatus = statusOf(deployment, small, smallRun);
    await eventually('the small run to complete', async () => (await smallStatus()).status === 'completed', 60_000);
    const waited = Date.now() - submittedAt;

    expect(await smallStatus()).toMatchObject({ processed: 3, personalized: 3 });
    const backlog = await bigStatus();
    expect(backlog.status).toBe('personalizing');
    expect(backlog.processed).toBeLessThan(BACKLOG / 2);
    expect(waited).toBeLessThan(60_000);
  }, 180_000);
});
