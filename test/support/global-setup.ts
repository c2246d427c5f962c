/**
 * Finds the real PostgreSQL and NATS JetStream the tests talk to, in this order:
 *   1. DATABASE_URL / NATS_URL when set;
 *   2. the local defaults (127.0.0.1:5432, 127.0.0.1:4222) when reachable;
 *   3. throw-away containers through testcontainers when a Docker engine exists.
 * The URLs reach the test files through vitest's provide/inject.
 */
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin connection to a real PostgreSQL; integration tests create their own database on it. */
    databaseUrl: string;
    /** A real NATS server with JetStream enabled. */
    natsUrl: string;
  }
}

const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_NATS_URL = 'nats://127.0.0.1:4222';

function reachable(url: string, defaultPort: number, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function dockerAvailable(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

interface Started {
  url: string;
  stop?: () => Promise<unknown>;
}

/** Only reached on a machine with a Docker engine and without local services. */
async function startContainer(kind: 'postgres' | 'nats'): Promise<Started> {
  const { GenericContainer, Wait } = await import('testcontainers');
  if (kind === 'postgres') {
    const container = await new GenericContainer('postgres:15-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    return {
      url: `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
      stop: () => container.stop(),
    };
  }
  const container = await new GenericContainer('nats:2.10-alpine')
    .withCommand(['-js'])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  return { url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`, stop: () => container.stop() };
}

async function resolveService(
  kind: 'postgres' | 'nats',
  envUrl: string | undefined,
  localUrl: string,
  defaultPort: number,
): Promise<Started> {
  if (envUrl) return { url: envUrl };
  if (await reachable(localUrl, defaultPort)) return { url: localUrl };
  if (dockerAvailable()) return startContainer(kind);
  const variable = kind === 'postgres' ? 'DATABASE_URL' : 'NATS_URL';
  throw new Error(
    `No ${kind} for the tests: ${localUrl} is not reachable, ${variable} is not set, and no Docker engine is available. ` +
      'Start the local service (see README, "Running the tests") or set ' +
      variable +
      '.',
  );
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [postgres, nats] = await Promise.all([
    resolveService('postgres', process.env.DATABASE_URL, LOCAL_DATABASE_URL, 5432),
    resolveService('nats', process.env.NATS_URL, LOCAL_NATS_URL, 4222),
  ]);
  project.provide('databaseUrl', postgres.url);
  project.provide('natsUrl', nats.url);
  return async () => {
    await Promise.all([postgres.stop?.(), nats.stop?.()]);
  };
}
