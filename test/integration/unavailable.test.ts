/**
 * Which errors mean a dependency is down or recovering (503 with Retry-After at the edge), from
 * the real clients against the real PostgreSQL and NATS, or a port nobody listens on: and a mistake
 * (bad SQL, a bad subject) is not one of them. Then the edge's answer when the broker lost the
 * bucket a submission stores its file in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startupHint } from '../../src/compose.ts';
import { isNatsUnavailable } from '../../adapters/nats/unavailable.ts';
import { createSql } from '../../adapters/postgres/client.ts';
import { isPostgresUnavailable } from '../../adapters/postgres/unavailable.ts';
import { closedPort, postProcess, startTestServer, testUser, type TestServer } from '../support/http.ts';
import { connectTestNats, deleteStreams } from '../support/nats.ts';
import { expectProblem } from '../http/helpers.ts';
import { adminDatabaseUrl } from '../support/database.ts';

async function rejection(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('isPostgresUnavailable', () => {
  it('is true for a database nobody listens for, false for a mistake in SQL', async () => {
    const down = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { max: 1, connectTimeoutSeconds: 1 });
    expect(isPostgresUnavailable(await rejection(() => down`select 1`))).toBe(true);
    await down.end({ timeout: 1 });

    const up = createSql(adminDatabaseUrl(), { max: 1 });
    expect(isPostgresUnavailable(await rejection(() => up`select * from no_such_table_here`))).toBe(false);
    expect(isPostgresUnavailable(await rejection(() => up`select pg_terminate_backend(pg_backend_pid())`))).toBe(true);
    await up.end({ timeout: 1 });
  });
});

describe('isNatsUnavailable', () => {
  it('is true for a lost stream and a closed connection, false for a bad subject', async () => {
    const nc = await connectTestNats();
    const jsm = await jetstreamManager(nc);
    expect(isNatsUnavailable(await rejection(() => jsm.streams.info('NO_SUCH_STREAM_HERE')))).toBe(true);
    expect(isNatsUnavailable(await rejection(() => nc.request('no.one.listens.here', 'x', { timeout: 500 })))).toBe(true);
    expect(isNatsUnavailable(await rejection(() => Promise.resolve().then(() => nc.publish('bad subject', 'x'))))).toBe(false);
    await nc.close();
    expect(isNatsUnavailable(await rejection(() => nc.request('a.b', 'x')))).toBe(true);
  });
});

describe('startupHint', () => {
  it('names the setting and the fix, with the host but never the password, when a service cannot be reached', async () => {
    const port = await closedPort();
    const databaseUrl = `postgres://app:s3cret@127.0.0.1:${port}/app`;
    const down = createSql(databaseUrl, { max: 1, connectTimeoutSeconds: 1 });
    const refused = await rejection(() => down`select 1`);
    await down.end({ timeout: 1 });
    const hint = startupHint(refused, { databaseUrl, natsUrl: 'nats://127.0.0.1:4222' });
    expect(hint).toBe(`Cannot reach PostgreSQL at 127.0.0.1:${port} (DATABASE_URL): start it, or set DATABASE_URL to a database that is running.`);

    const natsRefused = await rejection(() => connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false }));
    expect(startupHint(natsRefused, { databaseUrl, natsUrl: `nats://127.0.0.1:${port}` })).toMatch(/^Cannot reach NATS at 127\.0\.0\.1:\d+ \(NATS_URL\)/);
    expect(startupHint(new Error('something else'), { databaseUrl, natsUrl: 'nats://x' })).toBeUndefined();
  });
});

describe('a submission while the broker has lost the file bucket', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('gets 503 with Retry-After, not 500, and records nothing', async () => {
    const user = await testUser();
    const nc = await connectTestNats();
    await deleteStreams(nc, `OBJ_${server.fileBucket}`);
    await nc.close();
    const response = await postProcess(server.baseUrl, { token: user.token, content: 'email,company\na@acme.example,Acme\n', fields: { campaign_name: 'Outage' } });
    expect(response.headers.get('retry-after')).toBe('5');
    const problem = await expectProblem(response, 503);
    expect(problem.detail).toMatch(/Try again in a few seconds/);
    const [runs] = await server.sql<{ runs: number }[]>`select count(*)::int as runs from campaign_runs where user_id = ${user.id}`;
    expect(runs).toEqual({ runs: 0 });
  });
});
