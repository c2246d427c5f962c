import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPortPostgresProbe, realReadinessProbes, startTestServer, type Probes, type TestServer } from '../support/http.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { expectProblem, readJson } from './helpers.ts';
import { createSql } from '../../adapters/postgres/client.ts';
import { PostgresReadinessProbe } from '../../adapters/postgres/readiness.ts';

describe('health endpoints', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('GET /healthz answers 200 without a token', async () => {
    const res = await fetch(`${server.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the real PostgreSQL and NATS answer', async () => {
    const res = await fetch(`${server.baseUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', nats: 'ok' } });
  });

  it('echoes a safe X-Request-Id and replaces an unsafe one', async () => {
    const kept = await fetch(`${server.baseUrl}/healthz`, { headers: { 'X-Request-Id': 'trace-abc_123' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-abc_123');

    for (const unsafe of ['has space', 'a'.repeat(65), 'semi;colon', '<script>']) {
      const res = await fetch(`${server.baseUrl}/healthz`, { headers: { 'X-Request-Id': unsafe } });
      const id = res.headers.get('x-request-id');
      expect(id).not.toBe(unsafe);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers an unknown route with a 404 problem', async () => {
    const res = await fetch(`${server.baseUrl}/nope?x=1`);
    const body = await expectProblem(res, 404);
    expect(body).toMatchObject({ title: 'Not Found', instance: '/nope' });
  });
});

describe('readiness with a dependency down', () => {
  let server: TestServer;
  let real: Probes;
  let down: Probes;

  beforeAll(async () => {
    real = await realReadinessProbes(createLogger({ level: 'silent' }));
    down = await closedPortPostgresProbe();
    const nats = real.probes.find((probe) => probe.name === 'nats');
    if (!nats) throw new Error('no nats probe');
    server = await startTestServer({ readiness: [...down.probes, nats] });
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([real.close(), down.close()]);
  });

  it('GET /readyz answers 503 naming the failing dependency, without connection details', async () => {
    const res = await fetch(`${server.baseUrl}/readyz`);
    const text = await res.clone().text();
    const body = await expectProblem(res, 503);
    expect(body).toMatchObject({ title: 'Service Unavailable', checks: { postgres: 'unreachable', nats: 'ok' } });
    expect(body.detail).toContain('postgres');
    expect(text).not.toMatch(/127\.0\.0\.1|postgres:\/\/|ECONNREFUSED/);
  });

  it('GET /healthz still answers 200: liveness does not depend on PostgreSQL', async () => {
    const res = await fetch(`${server.baseUrl}/healthz`);
    expect(res.status).toBe(200);
  });
});

describe('readiness with a dependency that never answers', () => {
  let server: TestServer;
  let silent: Server;
  const sockets: Socket[] = [];
  let sql: ReturnType<typeof createSql>;

  beforeAll(async () => {
    // Accepts TCP connections and never says a word: the probe must give up on its own.
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    sql = createSql(`postgres://postgres@127.0.0.1:${address.port}/postgres`, { max: 1, connectTimeoutSeconds: 30 });
    server = await startTestServer({ readiness: [new PostgresReadinessProbe(sql)] });
  });
  afterAll(async () => {
    await server.close();
    for (const socket of sockets) socket.destroy();
    await sql.end({ timeout: 0 });
    await new Promise((resolve) => silent.close(resolve));
  });

  it('GET /readyz answers 503 "timeout" after about 2 seconds', async () => {
    const started = Date.now();
    const res = await fetch(`${server.baseUrl}/readyz`);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    expect(await readJson(res)).toMatchObject({ checks: { postgres: 'timeout' } });
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(5_000);
  });
});
