/**
 * The wiring the composition root uses: both sandbox providers wrapped over one NATS KV bucket,
 * their gates, the status the edge reads, and a configuration out of range refused without
 * leaving a watch behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { createResilientProviders } from '../../adapters/providers/resilience/index.ts';
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
      expect(await providers.status.current()).toEqual([
        { provider: 'research', state: 'ok', reason: null, since: null },
        { provider: 'personalization', state: 'ok', reason: null, since: null },
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
