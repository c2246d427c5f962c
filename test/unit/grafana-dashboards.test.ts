/**
 * The Grafana dashboards of deploy/grafana, as compose provisions them: each is valid JSON with a
 * unique uid, every panel and query names the provisioned Prometheus data source (no unresolved
 * `${DS_...}` import placeholder, which provisioning would leave broken), panels fit Grafana's
 * 24-column grid without overlapping, and the pipeline dashboard has a panel for each thing the
 * operator needs at a glance. The queries themselves run against a real Prometheus in
 * test/e2e/prometheus.test.ts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const GRAFANA = new URL('../../deploy/grafana/', import.meta.url);

export interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type: string; readonly uid: string } | null;
  readonly gridPos: { readonly h: number; readonly w: number; readonly x: number; readonly y: number };
  readonly targets?: readonly { readonly expr?: string; readonly datasource?: { readonly uid: string } | null }[];
  readonly panels?: readonly DashboardPanel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly DashboardPanel[];
}

async function dashboards(): Promise<Map<string, { text: string; dashboard: Dashboard }>> {
  const dir = new URL('dashboards/', GRAFANA);
  const files = (await readdir(dir)).filter((file) => file.endsWith('.json'));
  const entries = await Promise.all(files.map(async (file) => {
    const text = await readFile(new URL(file, dir), 'utf8');
    return [file, { text, dashboard: JSON.parse(text) as Dashboard }] as const;
  }));
  return new Map(entries);
}

const allPanels = (panels: readonly DashboardPanel[]): DashboardPanel[] => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);

describe('deploy/grafana', () => {
  it('provisions one Prometheus data source and the dashboards directory compose mounts', async () => {
    const sources = parse(await readFile(new URL('provisioning/datasources/prometheus.yml', GRAFANA), 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
    expect(sources.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' })]);
    const providers = parse(await readFile(new URL('provisioning/dashboards/dashboards.yml', GRAFANA), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
    expect(providers.providers.map((provider) => provider.options.path)).toEqual(['/etc/grafana/dashboards']);
    const compose = await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    expect(compose).toContain('./deploy/grafana/dashboards:/etc/grafana/dashboards:ro');
  });

  it('has the pipeline and the NATS JetStream dashboards, each naming the provisioned data source on every panel and query', async () => {
    const found = await dashboards();
    expect([...found.keys()].sort()).toEqual(['aga-pipeline.json', 'nats-jetstream.json']);
    const uids = new Set<string>();
    for (const [file, { text, dashboard }] of found) {
      expect(text, file).not.toMatch(/\$\{DS_/);
      expect(uids.has(dashboard.uid), `${file}: uid ${dashboard.uid} twice`).toBe(false);
      uids.add(dashboard.uid);
      const panels = allPanels(dashboard.panels).filter((panel) => panel.type !== 'row');
      expect(panels.length, file).toBeGreaterThan(5);
      expect(new Set(panels.map((panel) => panel.id)).size, `${file}: panel ids repeat`).toBe(panels.length);
      for (const panel of panels) {
        expect(panel.datasource?.uid, `${file}: ${panel.title}`).toBe('prometheus');
        for (const target of panel.targets ?? []) {
          if (target.datasource != null) expect(target.datasource.uid, `${file}: ${panel.title}`).toBe('prometheus');
        }
      }
    }
  });

  it('lays the pipeline dashboard out on the 24-column grid without overlaps', async () => {
    const { dashboard } = (await dashboards()).get('aga-pipeline.json')!;
    const boxes = dashboard.panels.map((panel) => ({ title: panel.title, ...panel.gridPos }));
    for (const box of boxes) expect(box.x + box.w, box.title).toBeLessThanOrEqual(24);
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });

  it('shows the pipeline at a glance: leads per minute by stage, lag, provider latency and errors, 429s, breaker and pause, spend, dead letters', async () => {
    const { dashboard } = (await dashboards()).get('aga-pipeline.json')!;
    const queries = allPanels(dashboard.panels).flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ''));
    const shown = (pattern: RegExp) => queries.some((query) => pattern.test(query));
    expect(shown(/rate\(aga_leads_settled_total/)).toBe(true);
    expect(shown(/sum by \(messaging_consumer_group_name\) \(rate\(messaging_client_consumed_messages_total/)).toBe(true);
    expect(shown(/messaging_consumer_lag/)).toBe(true);
    expect(shown(/histogram_quantile\(.*aga_provider_duration_bucket/)).toBe(true);
    expect(shown(/aga_provider_calls_total\{outcome!~"ok\|rate_limited"\}/)).toBe(true);
    expect(shown(/aga_provider_calls_total\{outcome="rate_limited"\}/)).toBe(true);
    expect(shown(/aga_provider_circuit_state/)).toBe(true);
    expect(shown(/aga_provider_paused/)).toBe(true);
    expect(shown(/rate\(aga_provider_cost_total\[\$__rate_interval\]\)\) \* 3600/)).toBe(true);
    expect(shown(/aga_dead_letters/)).toBe(true);
  });
});
