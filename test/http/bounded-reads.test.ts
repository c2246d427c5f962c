/**
 * A run's reads while NATS is away, and the long reads on their own pool: the edge's run watcher
 * and providers' status reader are the real adapters on a NATS connection that is closed, and
 * event streams and exports read on a two-connection pool with a short statement timeout, as
 * src/compose.ts wires them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { NatsApiStatusReader, STATUS_UNKNOWN_REASON } from '../../adapters/nats/api-status.ts';
import { connectNats } from '../../adapters/nats/connection.ts';
import { NatsRunNotifications } from '../../adapters/nats/run-notifications.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { PROVIDER_APIS } from '../../adapters/providers/apis.ts';
import { apiGet, openEventStream, seedRun, settleLead, startTestServer, testUser, type ServerSentEvent, type TestServer, type TestUser } from '../support/http.ts';
import { deleteStreams, testNames } from '../support/nats.ts';
import { readJson } from './helpers.ts';

const CSV = ['email,company', 'ann@example.com,Acme', 'bob@example.com,Beta'].join('\n');

describe('reads while NATS cannot be reached', () => {
  let server: TestServer;
  let alice: TestUser;
  const providerBucket = `${testNames().bucket}-down`;

  beforeAll(async () => {
    const logger = createLogger({ level: 'silent' });
    const down = await connectNats({ url: inject('natsUrl'), name: 'http-tests-nats-down', logger });
    const providerStatus = await NatsApiStatusReader.open(down, { bucket: providerBucket, apis: PROVIDER_APIS });
    const runWatcher = new NatsRunNotifications(down, { prefix: testNames().prefix });
    await down.close();
    server = await startTestServer({ runWatcher, providerStatus, readPool: { max: 2, statementTimeoutMs: 300 } });
    alice = await testUser();
  });
  afterAll(async () => {
    await deleteStreams(server.nc, `KV_${providerBucket}`);
    await server.close();
  });

  it('answers a live run\'s status from PostgreSQL, the providers\' state unknown, at once', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });

    const started = Date.now();
    const res = await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice);
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body).toMatchObject({ run_id: run.runId, status: 'personalizing', processed: 1, personalized: 1 });
    expect(body.notices).toEqual(
      PROVIDER_APIS.map((api) => ({ code: 'provider_status_unknown', api, message: `${api} status unknown: ${STATUS_UNKNOWN_REASON}` })),
    );
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('answers the results, the export (on the long reads\' pool) and the KPIs', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    await settleLead(server, run.runId, run.leadIds.get('bob@example.com')!, { message: 'Hi Bob' });
    const results = await apiGet(server.baseUrl, `/api/campaigns/results/${run.campaignId}`, alice);
    expect(results.status).toBe(200);
    expect((await readJson<{ leads: unknown[] }>(results)).leads).toHaveLength(2);
    const exported = await apiGet(server.baseUrl, `/api/campaigns/export/${run.campaignId}`, alice);
    expect(exported.status).toBe(200);
    const csv = await exported.text();
    expect(csv.split('\r\n').filter((line) => line !== '')).toHaveLength(3);
    expect(csv).toContain('Hi Bob');
    expect((await apiGet(server.baseUrl, '/api/metrics', alice)).status).toBe(200);
  });

  it('keeps the event stream going by polling the database', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: CSV });
    const stream = await openEventStream(`${server.baseUrl}/api/campaigns/events/${run.runId}`, { Authorization: `Bearer ${alice.token}` });
    try {
      expect(stream.response.status).toBe(200);
      const summary = await stream.next();
      expect(summary?.event).toBe('summary');
      expect((JSON.parse(summary?.data ?? '{}') as { notices: string[] }).notices).toHaveLength(PROVIDER_APIS.length);

      for (const leadId of run.leadIds.values()) await settleLead(server, run.runId, leadId, { message: 'Hi' });
      const events: ServerSentEvent[] = [];
      for (let event = await stream.next(10_000); event !== null; event = await stream.next(10_000)) events.push(event);
      expect(events.filter((event) => event.event === 'lead')).toHaveLength(2);
      expect(events.at(-1)?.event).toBe('end');
    } finally {
      stream.close();
    }
  });
});
