/**
 * The completion webhook end to end (see system.ts): a campaign submitted with `webhook_url`, the
 * pipeline on the real NATS and PostgreSQL, the relay, the webhook consumer, and a real HTTP
 * receiver on 127.0.0.1. The signature is checked here with an independent computation.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/nats.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/webhooks.ts';
import { startE2ESystem, TEST_WEBHOOK_SECRET, type E2ESystem } from './system.ts';

interface Status {
  status: string;
  valid: number;
  personalized: number;
  needs_review: number;
  failed: number;
  skipped: number;
  suppressed: number;
  cost_usd: number;
  completed_at: string | null;
  webhook?: { delivered_at: string | null; attempts: number; last_error: string | null; failed_at: string | null };
}

/** Standard Webhooks: v1,base64(HMAC-SHA256(base64-decoded secret, "id.timestamp.body")). */
function expectedSignature(request: ReceivedRequest): string {
  const key = Buffer.from(TEST_WEBHOOK_SECRET.slice('whsec_'.length), 'base64');
  const signed = `${String(request.headers['webhook-id'])}.${String(request.headers['webhook-timestamp'])}.${request.body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}

describe('the completion webhook', () => {
  let system: E2ESystem;
  let receiver: Receiver;
  let user: TestUser;

  beforeAll(async () => {
    system = await startE2ESystem();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await system?.close();
  });
  beforeEach(async () => {
    receiver.reset();
    user = await testUser();
  });

  async function submit(fields: Record<string, string>, rows = 2) {
    const lines = Array.from({ length: rows }, (_, index) => `lead${index}@hook.example,Hook Co ${index}`);
    return postProcess(system.baseUrl, { token: user.token, content: ['Email,Company', ...lines].join('\n'), fields });
  }

  async function status(runId: string): Promise<Status> {
    return (await (await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user)).json()) as Status;
  }

  it('POSTs the run, signed, once it completes, and shows the delivery on the run', async () => {
    const res = await submit({ campaign_name: 'Hooked', webhook_url: `${receiver.origin}/hooks/aga?token=abc` });
    expect(res.status).toBe(202);
    const { run_id: runId, campaign_id: campaignId } = (await res.json()) as { run_id: string; campaign_id: string };

    await eventually('the delivery', () => receiver.received.length === 1, 15_000);
    await eventually('the delivery recorded', async () => (await status(runId)).webhook?.delivered_at != null);
    const [request] = receiver.received as [ReceivedRequest];
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/hooks/aga?token=abc');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['webhook-id']).toBe(`run_completed_${runId}`);
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(request.headers['webhook-signature']).toBe(expectedSignature(request));

    const run = await status(runId);
    expect(run).toMatchObject({ status: 'completed', webhook: { attempts: 1, last_error: null, failed_at: null } });
    expect(JSON.parse(request.body)).toEqual({
      type: 'run.completed',
      run_id: runId,
      campaign_id: campaignId,
      status: 'completed',
      counts: { valid: run.valid, personalized: run.personalized, needs_review: run.needs_review, failed: run.failed, skipped: run.skipped, suppressed: run.suppressed, cancelled: 0 },
      cost_usd: run.cost_usd,
      results_url: `https://api.example.test/api/campaigns/results/${campaignId}`,
      export_url: `https://api.example.test/api/campaigns/export/${campaignId}`,
      completed_at: run.completed_at,
    });
    expect(run.personalized).toBe(2);

    // Kept on the campaign: a later run without the field is delivered too.
    receiver.reset();
    const again = await submit({ campaign_id: campaignId });
    const rerun = ((await again.json()) as { run_id: string }).run_id;
    await eventually('the second run delivered', () => receiver.received.some((received) => received.headers['webhook-id'] === `run_completed_${rerun}`), 15_000);
  });

  it('retries a failing receiver with one webhook-id, and shows the attempts and the last error', async () => {
    receiver.answer({ status: 503 });
    const res = await submit({ campaign_name: 'Flaky receiver', webhook_url: `${receiver.origin}/flaky` });
    const { run_id: runId } = (await res.json()) as { run_id: string };
    await eventually('two failed attempts', () => receiver.received.length >= 2, 15_000);
    await eventually('the failures on the status', async () => (await status(runId)).webhook?.last_error === 'webhook 503: unavailable');
    receiver.answer({ status: 204 });
    await eventually('the delivery', async () => (await status(runId)).webhook?.delivered_at != null, 15_000);

    const ids = new Set(receiver.received.map((request) => request.headers['webhook-id']));
    expect(ids).toEqual(new Set([`run_completed_${runId}`]));
    for (const request of receiver.received) expect(request.headers['webhook-signature']).toBe(expectedSignature(request));
    const delivered = await status(runId);
    expect(delivered.webhook).toMatchObject({ attempts: receiver.received.length, last_error: null, failed_at: null });
    // Delivered: nothing more is sent.
    await system.idle();
    expect(receiver.received.length).toBe(delivered.webhook?.attempts);
  });

  it('gives a receiver that keeps failing up after the last delivery, and says so', async () => {
    receiver.answer({ status: 410 });
    const res = await submit({ campaign_name: 'Gone receiver', webhook_url: `${receiver.origin}/gone` }, 1);
    const { run_id: runId } = (await res.json()) as { run_id: string };
    // The test settings give four deliveries.
    await eventually('the delivery given up', async () => (await status(runId)).webhook?.failed_at != null, 15_000);
    expect((await status(runId)).webhook).toMatchObject({ attempts: 4, delivered_at: null, last_error: expect.stringMatching(/^webhook 410: /) as string });
    expect(receiver.received).toHaveLength(4);
  });

  it('refuses a webhook_url that is not http(s) with a 400 that says why, recording nothing', async () => {
    const [before] = await system.sql<{ count: number }[]>`select count(*)::int as count from campaign_runs`;
    for (const [url, message] of [
      ['ftp://hooks.example/x', 'webhook_url must use http or https'],
      ['https://user:pass@hooks.example/x', 'webhook_url must not contain a user name or password'],
      ['not a url', 'webhook_url is not a valid URL'],
    ] as const) {
      const res = await submit({ campaign_name: 'Bad hook', webhook_url: url });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toBe(message);
    }
    const [after] = await system.sql<{ count: number }[]>`select count(*)::int as count from campaign_runs`;
    expect(after).toEqual(before);
  });
});
