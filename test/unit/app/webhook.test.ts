/** The completion webhook's handler and declaration against the in-memory doubles. */
import { describe, expect, it } from 'vitest';
import type { RunCompleted } from '../../../domain/campaigns/events.ts';
import { PermanentFailure } from '../../../ports/event-consumer.port.ts';
import { ApiPaused, OutsideApiError } from '../../../ports/outside-api.port.ts';
import { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';
import { DeliverRunWebhook, webhook, webhookBody, webhookId, type WebhookSettings } from '../../../src/app/consumers/webhook.ts';
import { readVariables } from '../../../src/app/kernel/variables.ts';
import { parseWebhookSecret } from '../../../adapters/webhooks/signature.ts';
import { commitDecision, handlerContext, inMemoryPipeline, personalizingRun, pipelinePorts, type InMemoryPipeline } from '../../support/fakes/index.ts';

const SETTINGS: WebhookSettings = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', allowPrivateNetworks: false, publicBaseUrl: 'https://api.example.com/' };

/** A run of one failed lead, ended, in a campaign with these options. */
async function endedRun(p: InMemoryPipeline, options: Record<string, string> = { webhook_url: 'https://hooks.example.com/aga' }): Promise<RunCompleted> {
  const { run, pending } = await personalizingRun(p, ['a@example.com'], { options });
  await p.uow.commit(p.store.saveFailed(pending[0]!, run.runId, 'gave up'));
  await p.uow.commit(p.store.countOutcome(pending[0]!, run.runId, { hoursPerLead: 0, moneyPerLead: 0 }));
  const completion = await p.uow.commit(p.store.completeIfSettled(run.runId));
  expect(completion).not.toBeNull();
  return { type: 'run.completed', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId, status: 'failed' };
}

function handler(p: InMemoryPipeline, settings = SETTINGS) {
  return new DeliverRunWebhook(pipelinePorts(p), settings);
}

describe('DeliverRunWebhook', () => {
  it("POSTs the ended run to the campaign's webhook_url with its one id, and records the delivery", async () => {
    const p = inMemoryPipeline();
    const event = await endedRun(p);
    await commitDecision(p.uow, await handler(p).handle(event, handlerContext()));

    expect(p.webhooks.attempts).toHaveLength(1);
    const [{ url, message }] = p.webhooks.attempts as [(typeof p.webhooks.attempts)[number]];
    expect(url).toBe('https://hooks.example.com/aga');
    expect(message.id).toBe(`run_completed_${event.run_id}`);
    const run = (await p.store.completedRun(event.run_id))!;
    expect(JSON.parse(message.body)).toEqual({
      type: 'run.completed',
      run_id: event.run_id,
      campaign_id: event.campaign_id,
      status: 'failed',
      counts: { valid: 1, personalized: 0, needs_review: 0, failed: 1, skipped: 0, suppressed: 0, cancelled: 0 },
      cost_usd: 0,
      results_url: `https://api.example.com/api/campaigns/results/${event.campaign_id}`,
      export_url: `https://api.example.com/api/campaigns/export/${event.campaign_id}`,
      completed_at: run.completedAt,
    });
    expect(await p.store.deliveries.delivery(event.run_id, 'webhook')).toMatchObject({ attempts: 1, lastError: null, deliveredAt: expect.any(String) as string });
  });

  it('sends nothing again once delivered (a redelivered event), and nothing for a campaign without a URL', async () => {
    const p = inMemoryPipeline();
    const event = await endedRun(p);
    await commitDecision(p.uow, await handler(p).handle(event, handlerContext()));
    expect(await handler(p).handle(event, handlerContext({ deliveryCount: 2 }))).toBeNull();

    const quiet = await endedRun(p, {});
    expect(await handler(p).handle(quiet, handlerContext())).toBeNull();
    expect(p.webhooks.attempts).toHaveLength(1);
    expect(await p.store.deliveries.delivery(quiet.run_id, 'webhook')).toBeNull();
  });

  it('records each failed attempt with its reason and rethrows it; the id stays the same on the retry', async () => {
    const p = inMemoryPipeline();
    const event = await endedRun(p);
    p.webhooks.failures.push(new OutsideApiError('webhook', 'unavailable', 'webhook 503: unavailable', { status: 503 }));
    p.webhooks.failures.push(new ApiPaused('webhook', 'unavailable', 'webhook: circuit open', 15_000));
    await expect(handler(p).handle(event, handlerContext())).rejects.toThrow('webhook 503: unavailable');
    await expect(handler(p).handle(event, handlerContext({ deliveryCount: 2 }))).rejects.toThrow('circuit open');
    expect(await p.store.deliveries.delivery(event.run_id, 'webhook')).toEqual({
      attempts: 2,
      lastError: 'webhook: circuit open (not sent)',
      deliveredAt: null,
      failedAt: null,
    });
    await commitDecision(p.uow, await handler(p).handle(event, handlerContext({ deliveryCount: 3 })));
    expect(new Set(p.webhooks.attempts.map((attempt) => attempt.message.id))).toEqual(new Set([webhookId(event.run_id)]));
    expect(await p.store.deliveries.delivery(event.run_id, 'webhook')).toMatchObject({ attempts: 3, lastError: null });
  });

  it('gives a delivery up for good, shown as failed, and sends nothing after that', async () => {
    const p = inMemoryPipeline();
    const event = await endedRun(p);
    await commitDecision(p.uow, await handler(p).giveUp(event, 'webhook 410: rejected (gone)', handlerContext({ deliveryCount: 10 })));
    expect(await p.store.deliveries.delivery(event.run_id, 'webhook')).toMatchObject({ lastError: 'webhook 410: rejected (gone)', failedAt: expect.any(String) as string });
    expect(await handler(p).handle(event, handlerContext())).toBeNull();
    expect(p.webhooks.attempts).toEqual([]);
  });
});

describe('the webhook declaration', () => {
  it('retries every failure on its backoff (a 4xx and an open circuit included), so a dead receiver ends', () => {
    const classify = webhook.classify!;
    expect(classify(new OutsideApiError('webhook', 'rejected', 'webhook 404: rejected'))).toEqual({ action: 'retry' });
    expect(classify(new ApiPaused('webhook', 'unavailable', 'webhook: circuit open', 15_000))).toEqual({ action: 'retry' });
    expect(classify(new PermanentFailure('broken'))).toEqual({ action: 'give_up' });
    // Ten deliveries, the ninth more than an hour after the first.
    const waits = webhook.settings.backoffMs.slice(0, webhook.settings.maxDeliver - 2);
    expect(webhook.settings.maxDeliver).toBe(10);
    expect(waits.reduce((sum, ms) => sum + ms, 0)).toBeGreaterThan(60 * 60_000);
  });

  it('is enabled by a well-formed WEBHOOK_SECRET, and refuses a malformed one without showing it', () => {
    const read = (env: Record<string, string>) => readVariables(webhook.variables!, env);
    expect(webhook.enabled!(read({}).settings)).toBe(false);
    expect(webhook.enabled!(read({ WEBHOOK_SECRET: SETTINGS.secret! }).settings)).toBe(true);
    const bad = read({ WEBHOOK_SECRET: 'whsec_short', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'maybe' });
    expect(bad.problems).toEqual([
      'WEBHOOK_SECRET: must be whsec_ followed by the base64 of 24 to 64 random bytes',
      'WEBHOOK_ALLOW_PRIVATE_NETWORKS: must be true or false',
    ]);
    expect(read({ WEBHOOK_SECRET: 'plain-secret-value-0123456789abcdef' }).problems.join()).not.toContain('plain-secret');
  });

  it("accepts exactly the secrets the sender's own parser accepts", () => {
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) % 256));
    const candidates = [
      `whsec_${bytes(24).toString('base64')}`,
      `whsec_${bytes(25).toString('base64')}`,
      `whsec_${bytes(25).toString('base64').replace(/=+$/, '')}`,
      `whsec_${bytes(64).toString('base64')}`,
      `whsec_${bytes(65).toString('base64')}`,
      `whsec_${bytes(23).toString('base64')}`,
      `whsec_${bytes(25).toString('base64').replace(/.==$/, (tail) => `${String.fromCharCode(tail.charCodeAt(0) + 1)}==`)}`,
      `whsec_${bytes(25).toString('base64')}=`,
      `whsec_${bytes(24).toString('base64').slice(0, -1)}!`,
      bytes(24).toString('base64'),
    ];
    for (const secret of candidates) {
      let parses = true;
      try {
        parseWebhookSecret(secret);
      } catch {
        parses = false;
      }
      expect({ secret, accepted: readVariables(webhook.variables!, { WEBHOOK_SECRET: secret }).problems.length === 0 }).toEqual({ secret, accepted: parses });
    }
  });

  it('checks webhook_url with the sender, turning its refusal into a 400 the user reads', async () => {
    const p = inMemoryPipeline();
    const [option] = webhook.campaignOptions!;
    expect(option!.field).toBe('webhook_url');
    const ports = pipelinePorts(p);
    await expect(option!.check('https://hooks.example.com/x', ports, { ...SETTINGS })).resolves.toBe('https://hooks.example.com/x');
    await expect(option!.check('ftp://hooks.example.com/x', ports, { ...SETTINGS })).rejects.toEqual(new InvalidCampaignOption('webhook_url must use http or https'));
  });

  it('gives paths, not absolute URLs, without PUBLIC_BASE_URL', () => {
    const body = webhookBody(
      { runId: 'r', campaignId: 'c', userId: 'u', status: 'completed', counts: { valid: 0, personalized: 0, needs_review: 0, failed: 0, skipped: 0, suppressed: 0, cancelled: 0 }, costUsd: '0.123400', completedAt: 'now', options: {} },
      undefined,
    );
    expect(body).toMatchObject({ results_url: '/api/campaigns/results/c', export_url: '/api/campaigns/export/c', cost_usd: 0.1234 });
  });
});
