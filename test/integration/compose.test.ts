/**
 * No Docker engine runs here, but Debian's docker-compose can resolve and print the compose file
 * without one: this checks that it parses and that it runs every role with every setting the
 * service needs. .ci/run installs docker-compose; elsewhere the test is skipped when it is absent.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../../adapters/config/env.ts';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import { roleNames } from '../../src/app/kernel/assemble.ts';

function hasDockerCompose(): boolean {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = hasDockerCompose();

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  command?: string[];
  volumes?: (string | { type: string; source?: string; target: string })[];
}

describe.skipIf(!available && process.env.CI !== 'true')('docker-compose.yml', () => {
  const resolved = () => {
    const output = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      encoding: 'utf8',
      env: { ...process.env, SUPABASE_JWT_SECRET: 'compose-test-secret-compose-test-secret' },
    });
    return parse(output) as { services: Record<string, ComposeService> };
  };

  it('parses and names the infrastructure services', () => {
    const { services } = resolved();
    expect(Object.keys(services).sort()).toEqual(['edge', 'grafana', 'jaeger', 'nats', 'nats-exporter', 'otel-collector', 'postgres', 'prometheus', 'reconciler', 'workers']);
    expect(services.nats?.command?.join(' ')).toContain('/etc/nats/nats.conf');
  });

  it('provisions Prometheus with the shipped configuration and rules, and Grafana with the dashboards', () => {
    const { services } = resolved();
    // docker-compose 1.x prints `source:target:mode`, 2.x an object: `source:target` either way.
    const mounts = (name: string) =>
      (services[name]?.volumes ?? []).map((volume) => (typeof volume === 'string' ? volume.split(':').slice(0, 2).join(':') : `${volume.source ?? ''}:${volume.target}`));
    expect(mounts('prometheus')).toContainEqual(expect.stringMatching(/\/deploy\/prometheus:\/etc\/prometheus$/));
    expect(services.prometheus?.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(mounts('grafana')).toContainEqual(expect.stringMatching(/\/deploy\/grafana\/provisioning:\/etc\/grafana\/provisioning$/));
    expect(mounts('grafana')).toContainEqual(expect.stringMatching(/\/deploy\/grafana\/dashboards:\/etc\/grafana\/dashboards$/));
    // The exporter reads NATS's monitoring port, which deploy/nats.conf opens.
    expect(services['nats-exporter']?.command?.at(-1)).toBe('http://nats:8222');
  });

  it('runs every role, each app service with every setting the service reads', () => {
    const { services } = resolved();
    const appServices = ['edge', 'workers', 'reconciler'];
    const roles = new Set<string>();
    for (const name of appServices) {
      const environment = services[name]?.environment ?? {};
      const missing = CONFIG_VARIABLES.filter(
        (variable) => !(variable in environment) && !OPTIONAL_IN_COMPOSE.has(variable),
      );
      expect(missing, `${name} lacks ${missing.join(', ')}`).toEqual([]);
      expect(environment.OTEL_EXPORTER_OTLP_ENDPOINT).toMatch(/^http:\/\/otel-collector:4318$/);
      expect(environment.DATABASE_URL).toMatch(/@postgres:5432\//);
      expect(environment.NATS_URL).toBe('nats://nats:4222');
      for (const role of (environment.ROLES ?? '').split(',')) roles.add(role.trim());
    }
    expect([...roles].sort()).toEqual(roleNames(CONSUMERS).sort());
  });
});

/** Settings whose defaults are right inside the compose network, so the file need not name them. */
const OPTIONAL_IN_COMPOSE = new Set([
  'PORT',
  'PERPLEXITY_BASE_URL',
  'OPENROUTER_BASE_URL',
  'PROVIDER_TIMEOUT_MS',
  'HOURS_SAVED_PER_LEAD',
  'MONEY_SAVED_PER_LEAD',
  'RECONCILER_INTERVAL_MS',
  'RECONCILER_LEASE_MS',
  'NATS_NAMESPACE',
  'NATS_REPLICAS',
  'BANNED_PHRASES',
  'PROVIDER_INITIAL_CONCURRENCY',
  'PROVIDER_MAX_CONCURRENCY',
  'PROVIDER_SLOW_CALL_MS',
  'PROVIDER_PROBE_INTERVAL_MS',
  'BREAKER_ERROR_THRESHOLD_PERCENT',
  'BREAKER_VOLUME_THRESHOLD',
  'BREAKER_WINDOW_MS',
  'BREAKER_RESET_MS',
  'RESEARCH_PRICE_PER_REQUEST_USD',
  'RESEARCH_PRICE_PER_M_INPUT_USD',
  'RESEARCH_PRICE_PER_M_OUTPUT_USD',
  'PERSONALIZATION_PRICE_PER_REQUEST_USD',
  'PERSONALIZATION_PRICE_PER_M_INPUT_USD',
  'PERSONALIZATION_PRICE_PER_M_OUTPUT_USD',
  'CONSUMER_ACK_WAIT_MS',
  'DATABASE_STATEMENT_TIMEOUT_MS',
  'DATABASE_READ_POOL_SIZE',
  'SSE_MAX_STREAMS_PER_USER',
  'NATS_TOPOLOGY_CHECK_MS',
  'LOG_FORMAT',
  // The local user's sign-in is for `npm run dev` only, never a deployment.
  'LOCAL_SIGN_IN',
]);
