/**
 * A real Prometheus scrapes the running system (issue 11, item 3): the service as OS processes
 * (src/main.ts, an edge and the workers, each with its own METRICS_PORT) on the real PostgreSQL,
 * NATS and the provider sandbox over HTTP; Debian's prometheus on a free port scrapes both every
 * second and evaluates the shipped alert rules. A campaign runs, then PromQL through Prometheus's
 * HTTP API says what an operator would read: leads by outcome, messages per consumer, provider
 * calls and latency, tokens, run durations, every process ready, the rules loaded, healthy, naming
 * metrics that exist, and none firing.
 *
 * .ci/run installs the prometheus package; elsewhere the test is skipped when the binary is missing.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiGet, testUser } from '../support/http.ts';
import { eventually } from '../support/nats.ts';
import { freePort, processDeployment, type RunStatus } from '../support/processes.ts';
import { ALERT_RULES, hasPrometheus, startPrometheus, type PrometheusServer } from '../support/prometheus-server.ts';

const WORKER_ROLES = 'relay,reconciler,extraction,research,personalization,projection';

/** The metric names a PromQL expression reads (ours, the conventions' and `up`). */
function metricNames(promql: string): string[] {
  // Label names appear in `by (...)`, `without (...)` and `{...}`: left out.
  const selectors = promql.replace(/\b(?:by|without)\s*\([^)]*\)/g, ' ').replace(/\{[^}]*\}/g, '{}');
  return [...selectors.matchAll(/\b((?:aga|messaging|gen_ai)_[a-z_]+|up)\b(?=\s*[{[)\s]|$)/g)].map((match) => match[1]!);
}

/** The value of a query answering one series (or the sum of its series); `undefined` for no series. */
async function value(prometheus: PrometheusServer, promql: string): Promise<number | undefined> {
  const samples = await prometheus.query(promql);
  return samples.length === 0 ? undefined : samples.reduce((total, sample) => total + sample.value, 0);
}

describe.skipIf(!hasPrometheus() && process.env.CI !== 'true')('a real Prometheus scraping the running system', () => {
  it('sees a campaign move the pipeline\'s counters and histograms, every process ready, and the alert rules healthy and quiet', async () => {
    const edgeMetrics = await freePort();
    const workerMetrics = await freePort();
    const deployment = await processDeployment();
    let prometheus: PrometheusServer | undefined;
    try {
      deployment.start('edge', { METRICS_PORT: String(edgeMetrics) });
      deployment.start(WORKER_ROLES, { METRICS_PORT: String(workerMetrics) });
      await deployment.ready();
      prometheus = await startPrometheus({ targets: [`127.0.0.1:${edgeMetrics}`, `127.0.0.1:${workerMetrics}`], ruleFiles: [ALERT_RULES] });
      const prom = prometheus;
      await prom.targetsUp(2);
      expect(await prom.query('up{job="aga"} == 1')).toHaveLength(2);

      // Before the campaign: nothing settled, nothing called.
      expect(await value(prom, 'sum(aga_leads_settled_total)')).toBeUndefined();
      expect(await value(prom, 'sum(aga_provider_calls_total)')).toBeUndefined();

      const user = await testUser();
      const runCampaign = async (count: number, tag: string) => {
        const runId = await deployment.submit(user, count, tag);
        await eventually('the run to complete', async () => {
          const res = await apiGet(deployment.baseUrl, `/api/campaigns/status/${runId}`, user);
          return ((await res.json()) as RunStatus).status === 'completed';
        }, 30_000);
      };
      // Prometheus scrapes every second: a run's last counts arrive within a few scrapes.
      const scraped = async (leadCount: number, runCount: number) => {
        await eventually(`Prometheus to have scraped ${runCount} runs`, async () =>
          (await value(prom, 'sum(aga_leads_settled_total{outcome="personalized"})')) === leadCount
          && (await value(prom, 'sum(messaging_client_consumed_messages_total{messaging_consumer_group_name=~"projection.*"})')) === leadCount
          && (await value(prom, 'sum(aga_run_duration_count)')) === runCount, 15_000);
      };
      // Two campaigns, as on a system already running: a series appears with its first value, and
      // rate() sees only what it gains after that, so the dashboard's per-minute panels show the
      // second campaign.
      await runCampaign(2, 'proma');
      await scraped(2, 1);
      await runCampaign(4, 'promb');
      const leads = 6;
      const runs = 2;
      await scraped(leads, runs);

      // Leads by outcome and user class, counted once across both processes.
      expect(await prom.query('sum by (outcome, user_class) (aga_leads_settled_total)')).toEqual([{ metric: { outcome: 'personalized', user_class: 'standard' }, value: leads }]);

      // Messages per consumer, all handled without error, each under its subject in this deployment's namespace.
      const consumed = await prom.query('sum by (messaging_consumer_group_name) (messaging_client_consumed_messages_total)');
      const byConsumer = (name: string) => consumed.filter((s) => s.metric.messaging_consumer_group_name === name || s.metric.messaging_consumer_group_name?.startsWith(`${name}-`)).reduce((t, s) => t + s.value, 0);
      expect(byConsumer('extraction')).toBe(runs);
      expect(byConsumer('research')).toBe(leads);
      expect(byConsumer('personalization')).toBe(leads);
      expect(await value(prom, 'sum(messaging_client_consumed_messages_total{error_type!=""})')).toBeUndefined();
      const subjects = await prom.query('count by (messaging_destination_name) (messaging_client_consumed_messages_total)');
      expect(subjects.every((s) => s.metric.messaging_destination_name?.startsWith(deployment.namespace))).toBe(true);
      // Only the workers consume; the edge publishes through the outbox.
      expect(await prom.query(`messaging_client_consumed_messages_total{instance="127.0.0.1:${edgeMetrics}"}`)).toEqual([]);

      // Handling time and provider latency as an operator reads them: quantiles over the histograms.
      // Each sandbox call takes at least 100 ms, so a call's median lies above 0.1 s.
      const researchMedian = await value(prom, 'histogram_quantile(0.5, sum by (le) (aga_provider_duration_bucket{api="research"}))');
      expect(researchMedian).toBeGreaterThan(0.1);
      expect(researchMedian).toBeLessThan(10);
      expect(await value(prom, 'histogram_quantile(0.9, sum by (le) (messaging_process_duration_bucket{messaging_consumer_group_name="research"}))')).toBeGreaterThan(0.1);
      // One research call per lead; one writer call per lead, plus one rewrite for a draft a quality gate refused.
      const calls = { research: leads, personalization: await value(prom, 'sum(aga_provider_calls_total{api="personalization", outcome="ok"})') ?? 0 };
      expect(await value(prom, 'sum(aga_provider_calls_total{api="research", outcome="ok"})')).toBe(leads);
      expect(calls.personalization).toBeGreaterThanOrEqual(leads);
      expect(calls.personalization).toBeLessThanOrEqual(2 * leads);
      for (const api of ['research', 'personalization'] as const) {
        expect(await value(prom, `sum(aga_provider_calls_total{api="${api}", outcome!="ok"})`), api).toBeUndefined();
        expect(await value(prom, `sum(aga_provider_rate_limit_wait_count{api="${api}"})`), api).toBe(calls[api]);
        expect(await value(prom, `sum(gen_ai_client_token_usage_count{api="${api}", gen_ai_token_type="input"})`), api).toBe(calls[api]);
        expect(await value(prom, `sum(gen_ai_client_token_usage_sum{api="${api}", gen_ai_token_type="output"})`), api).toBeGreaterThan(0);
      }
      expect(await value(prom, 'sum(aga_run_duration_sum{status="completed"})')).toBeGreaterThan(0);

      // The gauges: breakers closed, nothing paused, lag known per consumer and drained, every dependency of both processes answering.
      expect(await value(prom, 'max(aga_provider_circuit_state)')).toBe(0);
      expect(await value(prom, 'max(aga_provider_paused)')).toBe(0);
      await eventually('the consumers\' lag to drain', async () => (await value(prom, 'max(messaging_consumer_lag)')) === 0, 15_000);
      const ready = await prom.query('min by (instance) (aga_process_ready)');
      expect(ready.map((s) => s.value)).toEqual([1, 1]);
      expect(await value(prom, 'count(aga_process_ready)')).toBe(6);
      expect(await value(prom, 'max(aga_dead_letters)')).toBe(0);

      // The shipped alert rules: loaded, evaluated without error, naming only metrics this system
      // exports (so a renamed metric cannot silently disarm an alert), and none firing or pending.
      const rules = await prom.api<{ groups: { rules: { name: string; query: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
      const loaded = rules.groups.flatMap((group) => group.rules);
      const shipped = (parse(await readFile(ALERT_RULES, 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert));
      expect(loaded.map((rule) => rule.name).sort()).toEqual([...shipped].sort());
      await eventually('every rule to be evaluated', async () => {
        const now = await prom.api<{ groups: { rules: { health: string }[] }[] }>('/api/v1/rules');
        return now.groups.flatMap((group) => group.rules).every((rule) => rule.health === 'ok');
      }, 10_000);
      const exported = new Set(await prom.api<string[]>('/api/v1/label/__name__/values'));
      for (const rule of loaded) {
        const names = metricNames(rule.query);
        expect(names.length, rule.name).toBeGreaterThan(0);
        for (const name of names) expect(exported, `${rule.name} names ${name}, which nothing exports`).toContain(name);
      }
      expect(await prom.api<{ alerts: unknown[] }>('/api/v1/alerts')).toEqual({ alerts: [] });

      // Every query of the Grafana pipeline dashboard, as Grafana would send it: it evaluates, names
      // only metrics the system exports, and the main panels show this run.
      const dashboard = JSON.parse(await readFile(new URL('../../deploy/grafana/dashboards/aga-pipeline.json', import.meta.url), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
      const panelQueries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr.replaceAll('$__rate_interval', '1m') })));
      expect(panelQueries.length).toBeGreaterThan(15);
      const answers = new Map<string, number>();
      for (const { panel, expr } of panelQueries) {
        const samples = await prom.query(expr).catch((error: unknown) => {
          throw new Error(`panel "${panel}": ${String(error)}`);
        });
        answers.set(panel, samples.filter((sample) => Number.isFinite(sample.value)).length);
        for (const name of metricNames(expr)) expect(exported, `panel "${panel}" names ${name}, which nothing exports`).toContain(name);
      }
      for (const panel of ['Leads settled per minute, by outcome', 'Messages handled per minute, by stage', 'Lag per consumer', 'Provider latency p50 / p95', 'Provider calls per minute, by outcome', 'Tokens per minute, by model', 'Breaker state', 'Paused providers', 'Spend per hour (USD)', 'Dead letters', 'Processes up and ready']) {
        expect(answers.get(panel), `panel "${panel}" shows nothing`).toBeGreaterThan(0);
      }
    } finally {
      await prometheus?.close();
      await deployment.close();
    }
  }, 120_000);
});
