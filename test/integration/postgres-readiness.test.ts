import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql } from '../../adapters/postgres/client.ts';
import { PostgresReadinessProbe } from '../../adapters/postgres/readiness.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { closedPort } from '../support/http.ts';


describe('PostgresReadinessProbe', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('passes on the real database', async () => {
    const probe = new PostgresReadinessProbe(db.sql);
    expect(probe.name).toBe('postgres');
    await expect(probe.check(AbortSignal.timeout(2_000))).resolves.toBeUndefined();
  });

  it('rejects when nothing listens on the port, without the password in the error', async () => {
    const secret = 'probe-secret-9b2e';
    const sql = createSql(`postgres://postgres:${secret}@127.0.0.1:${await closedPort()}/postgres`);
    try {
      const error = await new PostgresReadinessProbe(sql).check(AbortSignal.timeout(2_000)).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message)).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(new PostgresReadinessProbe(db.sql).check(controller.signal)).rejects.toThrow('shutting down');
  });

  describe('against a server that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it('rejects with the signal’s reason when the signal times out first', async () => {
      const { port } = silent.address() as { port: number };
      const sql = createSql(`postgres://postgres@127.0.0.1:${port}/postgres`, { connectTimeoutSeconds: 30 });
      try {
        const started = Date.now();
        await expect(new PostgresReadinessProbe(sql).check(AbortSignal.timeout(200))).rejects.toMatchObject({
          name: 'TimeoutError',
        });
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        await sql.end({ timeout: 0 });
      }
    });
  });
});
