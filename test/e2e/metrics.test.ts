/**
 * Metrics (issue 11, item 1), on the real entry point (src/main.ts) with the real PostgreSQL, NATS
 * and the provider sandbox over HTTP: a small campaign runs, then /metrics on METRICS_PORT (never
 * the API's port) is read in Prometheus's text format, and the pipeline's counters and histograms
 * have moved: messages consumed per consumer, leads settled by outcome and user class, provider
 * calls with their durations, tokens and cost, run durations; and no label value is an id or an email.
 */
import { describe, expect, it } from 'vitest';
import { apiGet, testUser } from '../support/http.ts';
import { eventually } from '../support/nats.ts';
import { freePort, processDeployment, type RunStatus } from '../support/processes.ts';
import { parsePrometheusText, sumOf, type Sample } from '../support/prometheus-text.ts';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const EMAIL = /[^\s@]+@[^\s@]+\.[^\s@]+/;

describe('metrics at /metrics on METRICS_PORT', () => {
  it('count a campaign as it runs: consumers, settled leads, provider calls, tokens, cost and runs; never an id', async () => {
    const metricsPort = await freePort();
    const deployment = await processDeployment({ vars: { METRICS_PORT: String(metricsPort) } });
    try {
      deployment.start('');
      await deployment.ready();
      const scrape = async (): Promise<Sample[]> => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
        const text = await res.text();
        return parsePrometheusText(text);
      };

      const user = await testUser();
      const leads = 3;
      const runId = await deployment.submit(user, leads, 'mtr');
      await eventually('the run to complete', async () => {
        const res = await apiGet(deployment.baseUrl, `/api/campaigns/status/${runId}`, user);
        return ((await res.json()) as RunStatus).status === 'completed';
      }, 30_000);

      let samples: Sample[] = [];
      // By consumer: its durable, or its durables of one event type each (`projection-lead-personalized`).
      const consumed = (consumer: string) =>
        samples
          .filter((s) => s.name === 'messaging_client_consumed_messages_total' && s.labels.messaging_system === 'nats')
          .filter((s) => s.labels.messaging_consumer_group_name === consumer || s.labels.messaging_consumer_group_name?.startsWith(`${consumer}-`))
          .reduce((total, s) => total + s.value, 0);
      // The projection's last delivery is recorded as its handler returns, just after the run completes.
      await eventually('the last deliveries to be recorded', async () => {
        samples = await scrape();
        return consumed('projection') >= leads;
      }, 10_000);

      // Each consumer of a lead's stages took each lead's message once (no failure in this run).
      expect(consumed('extraction')).toBe(1);
      expect(consumed('research')).toBe(leads);
      expect(consumed('personalization')).toBe(leads);
      expect(consumed('projection')).toBe(leads);
      expect(samples.some((s) => s.name.startsWith('messaging_client_consumed') && s.labels['error_type'] !== undefined)).toBe(false);
      expect(sumOf(samples, 'messaging_process_duration_count', { 'messaging_consumer_group_name': 'research' })).toBe(leads);
      expect(sumOf(samples, 'messaging_process_duration_sum', { 'messaging_consumer_group_name': 'research' })).toBeGreaterThan(0);
      const subjects = samples.filter((s) => s.name === 'messaging_client_consumed_messages_total').map((s) => s.labels['messaging_destination_name']);
      expect(subjects.every((subject) => subject !== undefined && subject.startsWith(deployment.namespace))).toBe(true);

      expect(sumOf(samples, 'aga_leads_settled_total', { outcome: 'personalized', 'user_class': 'standard' })).toBe(leads);
      expect(sumOf(samples, 'aga_run_duration_count', { status: 'completed', 'user_class': 'standard' })).toBe(1);

      // One research and one writer call per lead, each answered.
      for (const api of ['research', 'personalization']) {
        expect(sumOf(samples, 'aga_provider_calls_total', { api, outcome: 'ok' })).toBe(leads);
        expect(sumOf(samples, 'aga_provider_duration_count', { api, outcome: 'ok' })).toBe(leads);
        expect(sumOf(samples, 'aga_provider_duration_sum', { api })).toBeGreaterThan(0);
        expect(sumOf(samples, 'aga_provider_rate_limit_wait_count', { api })).toBe(leads);
        expect(sumOf(samples, 'gen_ai_client_token_usage_count', { api, 'gen_ai_token_type': 'input' })).toBe(leads);
        expect(sumOf(samples, 'gen_ai_client_token_usage_sum', { api, 'gen_ai_token_type': 'output' })).toBeGreaterThan(0);
      }
      const cost = samples.filter((s) => s.name.startsWith('aga_provider_cost'));
      expect(cost.reduce((total, s) => total + s.value, 0)).toBeGreaterThan(0);
      expect(cost.every((s) => s.labels['gen_ai_request_model'] !== undefined && s.labels['gen_ai_request_model'] !== '')).toBe(true);

      // The gauges read at collection: the breaker closed, nothing paused, every consumer's lag known.
      expect(sumOf(samples, 'aga_provider_circuit_state', { api: 'research' })).toBe(0);
      expect(samples.some((s) => s.name === 'aga_provider_paused' && s.labels.api === 'personalization' && s.value === 0)).toBe(true);
      expect(samples.some((s) => s.name === 'messaging_consumer_lag' && s.labels['messaging_consumer_group_name'] === 'research')).toBe(true);
      expect(samples.some((s) => s.name === 'messaging_consumer_ack_pending' && s.labels['messaging_consumer_group_name'] === 'projection-lead-personalized')).toBe(true);
      expect(samples.some((s) => s.name === 'aga_outbox_backlog')).toBe(true);
      expect(sumOf(samples, 'aga_dead_letters')).toBe(0);

      // Bounded labels: no run, lead or user id, no email, anywhere.
      const values = samples.flatMap((sample) => Object.values(sample.labels));
      expect(values.filter((value) => UUID.test(value) || EMAIL.test(value))).toEqual([]);
      expect(values.join('\n')).not.toContain(runId);

      // The API's port does not serve them.
      const onApi = await fetch(`${deployment.baseUrl}/metrics`);
      expect([401, 404]).toContain(onApi.status);
    } finally {
      await deployment.close();
    }
  }, 90_000);
});
