/**
 * docker-compose.yml on a laptop: every port it publishes on the host can be moved with a variable,
 * and none defaults to a port a developer's own NATS or PostgreSQL (or another well-known local
 * service) usually holds. Reads the file as written (`docker-compose config` would resolve the
 * variables away).
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/** Ports local services of a developer's machine usually hold (NATS, PostgreSQL, OTLP, Prometheus, Grafana, the metrics port). */
const LOCAL_SERVICE_PORTS = new Set([4222, 5432, 6222, 8222, 4317, 4318, 9090, 3000, 9464]);

const HOST_PORT = /^(?:127\.0\.0\.1:)?\$\{(?<variable>[A-Z][A-Z0-9_]*_HOST_PORT):-(?<fallback>\d+)\}:(?<container>\d+)$/;

describe('docker-compose.yml host ports', () => {
  it('publishes each port as ${NAME_HOST_PORT:-default}:container, no default clashing with local NATS or PostgreSQL, no two alike', async () => {
    const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
      services: Record<string, { ports?: string[] }>;
    };
    const published = Object.entries(compose.services).flatMap(([service, { ports = [] }]) => ports.map((port) => ({ service, port })));
    expect(published.length).toBeGreaterThan(0);
    const defaults = new Map<number, string>();
    const variables = new Set<string>();
    for (const { service, port } of published) {
      const match = HOST_PORT.exec(port);
      expect(match, `${service} publishes ${port}: write it as \${NAME_HOST_PORT:-default}:container`).not.toBeNull();
      const variable = match!.groups!.variable!;
      const fallback = Number(match!.groups!.fallback);
      expect(LOCAL_SERVICE_PORTS.has(fallback), `${service}'s default host port ${fallback} clashes with a local service`).toBe(false);
      expect(defaults.get(fallback), `${service} and ${defaults.get(fallback)} both default to ${fallback}`).toBeUndefined();
      expect(variables.has(variable), `${variable} is used twice`).toBe(false);
      defaults.set(fallback, service);
      variables.add(variable);
    }
  });
});
