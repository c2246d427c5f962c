/**
 * The wiring the composition root uses: both sandbox providers wrapped over one NATS KV bucket,
 * their gates (also found by API name), the status the edge reads, and a configuration out of
 * range refused without leaving a watch behind; and createOutsideApis for any API by its spec.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { createOutsideApis } from '../../adapters/outside-api/index.ts';
import { createResilientProviders } from '../../adapters/providers/resilient.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { connectTestNats, deleteStreams, RecordingLog, testNames } from '../support/nats.ts';
import { adaptersFor, startTestSandbox, testLead } from '../support/sandbox.ts';

const bucket = testNames().bucket;
let sandbox: Sandbox;
let nc: NatsConnection;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  nc = await connectTestNats();
});

afterAll(async () => {
  await deleteStreams(nc, `KV_${bucket}`);
  await nc.close();
  await sandbox.close();
});

describe('createResilientProviders', () => {
  it('wraps both providers, hands out open gates and reports both providers ok', async () => {
    const providers = await createResilientProviders(nc, adaptersFor(sandbox), {
      bucket,
      log: new RecordingLog(),
      config: { researchRpm: 600, personalizationRpm: 0 },
    });
    try {
      const signal = new AbortController().signal;
      const lead = testLead();
      const research = await providers.research.research({ lead }, signal);
      const draft = await providers.writer.write({ lead, research }, signal);
      expect(research.text).toContain('Acme Robotics');
      expect(draft.message.length).toBeGreaterThan(0);
      expect(sandbox.stats.requests).toEqual({ responses: 1, chatCompletions: 1 });

      expect(await providers.gates.research.wait(signal)).toBe(Infinity);
      expect(await providers.gates.personalization.wait(signal)).toBe(Infinity);
      expect(providers.apis.get('research').gate).toBe(providers.gates.research);
      expect(providers.apis.get('personalization')).toMatchObject({ name: 'personalization', maxConcurrency: 64 });
      expect(await providers.status.current()).toEqual([
        { api: 'research', state: 'ok', reason: null, since: null, rpm: null, pacedUntil: null, heldUntil: null },
        { api: 'personalization', state: 'ok', reason: null, since: null, rpm: null, pacedUntil: null, heldUntil: null },
      ]);
    } finally {
      providers.close();
    }
  });

  it('refuses a configuration out of range', async () => {
    await expect(
      createResilientProviders(nc, adaptersFor(sandbox), { bucket, log: new RecordingLog(), config: { initialConcurrency: 10, maxConcurrency: 4 } }),
    ).rejects.toThrow('1 <= initialConcurrency <= maxConcurrency');
  });
});

describe('createOutsideApis', () => {
  it('gives any API by its spec a call path, a gate and a status, and refuses unknown names', async () => {
    const apis = await createOutsideApis(
      nc,
      [
        { name: 'webhook', timeoutMs: 1_000, breakerScope: 'key', maxConcurrency: 16 },
        { name: 'crm', timeoutMs: 1_000, rpm: 6_000 },
      ],
      { bucket, log: new RecordingLog() },
    );
    try {
      const signal = new AbortController().signal;
      const webhook = apis.get('webhook');
      expect(await webhook.call(() => Promise.resolve('sent'), signal, { key: 'hooks.example.com' })).toBe('sent');
      expect(await apis.get('crm').call(() => Promise.resolve(42), signal)).toBe(42);
      expect(webhook.maxConcurrency).toBe(16);
      expect(await webhook.gate.wait(signal)).toBe(Infinity);
      expect(await apis.status.current()).toEqual([
        { api: 'webhook', state: 'ok', reason: null, since: null, rpm: null, pacedUntil: null, heldUntil: null },
        { api: 'crm', state: 'ok', reason: null, since: null, rpm: null, pacedUntil: null, heldUntil: null },
      ]);
      expect(() => apis.get('research')).toThrow('no outside API named "research"');
    } finally {
      apis.close();
    }
  });

  it('refuses names that cannot key the shared state, and the same name twice', async () => {
    const log = new RecordingLog();
    await expect(createOutsideApis(nc, [{ name: 'web.hook', timeoutMs: 1_000 }], { bucket, log })).rejects.toThrow(RangeError);
    await expect(createOutsideApis(nc, [{ name: 'a', timeoutMs: 1_000 }, { name: 'a', timeoutMs: 2_000 }], { bucket, log })).rejects.toThrow('named "a"');
    await expect(createOutsideApis(nc, [{ name: 'a', timeoutMs: 0 }], { bucket, log })).rejects.toThrow('timeoutMs');
  });
});
