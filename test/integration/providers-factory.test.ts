/**
 * createProviders: the sandbox when no key is set (and said loudly), the configured endpoints
 * when both are, and a refusal to start with one key only.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createProviders, NO_PROVIDER_KEYS, ProviderConfigError, SANDBOX_WARNING } from '../../adapters/providers/index.ts';
import { INVENTIONS } from '../../adapters/sandbox/answers.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { startTestSandbox, testLead, TEST_PROVIDER_KEY } from '../support/sandbox.ts';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

const signal = () => new AbortController().signal;

describe('createProviders without keys', () => {
  it('refuses to start unless the sandbox is asked for: a missing secret never produces made-up lines', async () => {
    const { lines, logger } = capturingLogger();
    await expect(createProviders({ perplexityApiKey: '', openrouterApiKey: '  ' }, logger)).rejects.toThrow(NO_PROVIDER_KEYS);
    await expect(createProviders({ sandbox: false }, logger)).rejects.toThrow(ProviderConfigError);
    expect(lines.some((line) => line.msg === SANDBOX_WARNING)).toBe(false);
  });

  it('with the sandbox asked for, starts it in-process, says so loudly, and both adapters use it over HTTP', async () => {
    const { lines, logger } = capturingLogger();
    const providers = await createProviders({ sandbox: true, perplexityApiKey: '', openrouterApiKey: '  ' }, logger);
    try {
      expect(providers.usingSandbox).toBe(true);
      expect(providers.sandbox?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const warning = lines.find((line) => line.msg === SANDBOX_WARNING);
      expect(warning).toMatchObject({ level: 'warn', sandbox_url: providers.sandbox?.url });
      expect(SANDBOX_WARNING).toContain('SANDBOX PROVIDERS');

      const lead = testLead();
      const research = await providers.research.research({ lead }, signal());
      const draft = await providers.writer.write({ lead, research }, signal());
      expect(research).toMatchObject({ model: 'sandbox/research-1' });
      expect(research.text.startsWith('[sandbox research]')).toBe(true);
      expect(draft).toMatchObject({ model: 'sandbox/writer-1' });
    } finally {
      await providers.close();
    }
    // Closed: nothing listens any more.
    await expect(fetch(`${providers.sandbox?.url ?? ''}/responses`, { method: 'POST' })).rejects.toThrow();
  });

  it('with SANDBOX_FABRICATE_RATE, the in-process sandbox writes lines that invent a specific', async () => {
    const { lines, logger } = capturingLogger();
    const providers = await createProviders({ sandbox: true, sandboxFabricateRate: 1 }, logger);
    try {
      expect(lines.find((line) => line.msg === SANDBOX_WARNING)).toMatchObject({ fabricate_rate: 1 });
      const lead = testLead();
      const research = await providers.research.research({ lead }, signal());
      const draft = await providers.writer.write({ lead, research }, signal());
      expect(INVENTIONS.some((invention) => draft.message.includes(invention)), draft.message).toBe(true);
    } finally {
      await providers.close();
    }
    await expect(createProviders({ sandbox: true, sandboxFabricateRate: 2 }, logger)).rejects.toThrow(/SANDBOX_FABRICATE_RATE must be a share from 0 to 1/);
  });

  it('refuses a base URL without keys rather than ignore it', async () => {
    const { logger } = capturingLogger();
    await expect(createProviders({ sandbox: true, perplexityBaseUrl: 'http://127.0.0.1:4010/v1' }, logger)).rejects.toThrow(
      /PERPLEXITY_BASE_URL set without PERPLEXITY_API_KEY and OPENROUTER_API_KEY/,
    );
  });
});

describe('createProviders with one key only', () => {
  it.each([
    [{ perplexityApiKey: 'pplx-secret-1234' }, 'PERPLEXITY_API_KEY is set but OPENROUTER_API_KEY is not'],
    [{ openrouterApiKey: 'sk-or-secret-1234' }, 'OPENROUTER_API_KEY is set but PERPLEXITY_API_KEY is not'],
  ])('fails start-up with a message naming both variables and no value', async (config, expected) => {
    const { lines, logger } = capturingLogger();
    const error = await createProviders(config, logger).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ProviderConfigError);
    const message = (error as Error).message;
    expect(message).toContain(expected);
    expect(message).not.toMatch(/secret-1234/);
    expect(lines).toEqual([]);
  });
});

describe('createProviders with both keys', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    // Stands in for the real APIs: it accepts only the configured key.
    sandbox = await startTestSandbox({ apiKey: TEST_PROVIDER_KEY });
  });
  afterAll(() => sandbox.close());

  it('uses the configured endpoints, models and keys, never the sandbox, and never logs a key', async () => {
    const { lines, logger } = capturingLogger();
    const providers = await createProviders(
      {
        perplexityApiKey: TEST_PROVIDER_KEY,
        perplexityBaseUrl: sandbox.url,
        openrouterApiKey: TEST_PROVIDER_KEY,
        openrouterBaseUrl: sandbox.url,
        researchModel: 'perplexity/sonar-pro',
        personalizationModel: 'anthropic/claude-opus-4.6',
        timeoutMs: 5_000,
      },
      logger,
    );
    expect(providers.usingSandbox).toBe(false);
    expect(providers.sandbox).toBeUndefined();

    const lead = testLead();
    await providers.writer.write({ lead, research: await providers.research.research({ lead }, signal()) }, signal());
    expect(sandbox.stats.lastRequests.map((record) => record.body?.model)).toEqual(['perplexity/sonar-pro', 'anthropic/claude-opus-4.6']);

    expect(lines.find((line) => line.msg === SANDBOX_WARNING)).toBeUndefined();
    expect(lines.find((line) => line.msg === 'providers configured')).toMatchObject({
      research: { base_url: sandbox.url, model: 'perplexity/sonar-pro' },
      writer: { base_url: sandbox.url, model: 'anthropic/claude-opus-4.6' },
    });
    expect(JSON.stringify(lines)).not.toContain(TEST_PROVIDER_KEY);
    await providers.close();
  });

  it('a failing real provider fails the call; it never falls back to sandbox output', async () => {
    const { logger } = capturingLogger();
    const providers = await createProviders(
      { perplexityApiKey: 'pplx-rejected-key', perplexityBaseUrl: sandbox.url, openrouterApiKey: 'sk-or-rejected-key', openrouterBaseUrl: sandbox.url },
      logger,
    );
    // A rejected key is the account's failure, named after the pipeline's API: the wrapper pauses `research` for it.
    await expect(providers.research.research({ lead: testLead() }, signal())).rejects.toMatchObject({ failure: 'unauthorized', api: 'research', status: 401 });
    await expect(providers.writer.write({ lead: testLead(), research: { text: 'x', citations: [], model: 'm' } }, signal())).rejects.toMatchObject({
      failure: 'unauthorized',
      api: 'personalization',
    });
    await providers.close();
  });
});
