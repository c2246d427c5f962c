/**
 * A real Prometheus (Debian's `prometheus` package, /usr/bin/prometheus) on a free port of the
 * test's own, with its own data directory, scraping the targets the test gives every second and
 * evaluating the shipped alert rules. Queried through its HTTP API as an operator's Grafana would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../scripts/free-port.ts';
import { eventually } from './nats.ts';

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? 'prometheus';
export const ALERT_RULES = fileURLToPath(new URL('../../deploy/prometheus/alerts.yml', import.meta.url));

export function hasPrometheus(): boolean {
  return spawnSync(PROMETHEUS_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** One series of an instant query's answer. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusServer {
  readonly url: string;
  /** An instant query (PromQL); rejects with Prometheus's own error when it does not parse or evaluate. */
  query(promql: string): Promise<PromSample[]>;
  /** GET an API path (`/api/v1/rules`, ...) and return its `data`. */
  api<T>(path: string): Promise<T>;
  /** Resolves once every target has been scraped and answered. */
  targetsUp(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPrometheus(options: { readonly targets: readonly string[]; readonly ruleFiles?: readonly string[] }): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'aga-prometheus-'));
  const port = await freePort();
  // YAML is a superset of JSON: the configuration is written as JSON.
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '900ms' },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'aga', static_configs: [{ targets: options.targets }] }],
  };
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
  const child: ChildProcess = spawn(
    PROMETHEUS_BINARY,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.errorType ?? res.status}: ${body.error ?? 'no error text'}`);
    return body.data;
  };

  try {
    await eventually('Prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
    }, 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    url,
    api,
    async query(promql) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] | [number, string] }>(
        `/api/v1/query?query=${encodeURIComponent(promql)}`,
      );
      if (data.resultType === 'scalar') {
        const [, value] = data.result as [number, string];
        return [{ metric: {}, value: Number(value) }];
      }
      return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
    },
    async targetsUp(count, timeoutMs = 20_000) {
      await eventually(`${count} targets to be scraped`, async () => {
        const data = await api<{ activeTargets: { health: string }[] }>('/api/v1/targets');
        return data.activeTargets.length === count && data.activeTargets.every((target) => target.health === 'up');
      }, timeoutMs);
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killed = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killed);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
