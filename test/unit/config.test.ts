import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../adapters/config/env.ts';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import { roleNames } from '../../src/app/kernel/assemble.ts';
import { loadSystemConfig } from '../../src/compose.ts';

/** The roles the pipeline's declarations give. */
const ROLES = roleNames(CONSUMERS);

const SECRET = 'a-test-secret-that-is-long-enough-1234567890';

describe('loadConfig', () => {
  it('fills the documented defaults for a fresh machine', () => {
    const config = loadConfig({ SUPABASE_JWT_SECRET: SECRET });
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      natsUrl: 'nats://127.0.0.1:4222',
      corsOrigins: [],
      logLevel: 'info',
      supabaseUrl: undefined,
    });
  });

  it('NATS_REPLICAS: 1 by default, 3 or 5 on a cluster, and nothing else (JetStream needs a majority)', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).natsReplicas).toBe(1);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, NATS_REPLICAS: '3' }).natsReplicas).toBe(3);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, NATS_REPLICAS: '2' })).toThrow(/NATS_REPLICAS: must be 1, 3 or 5/);
  });

  it('parses every variable', () => {
    const config = loadConfig({
      PORT: '9090',
      DATABASE_URL: 'postgresql://app:pw@db.example.com:6543/postgres',
      NATS_URL: 'nats://nats.internal:4222',
      SUPABASE_URL: 'https://abc.supabase.co',
      CORS_ORIGINS: ' https://app.example.com , http://localhost:5173 ',
      LOG_LEVEL: 'debug',
    });
    expect(config.port).toBe(9090);
    expect(config.supabaseUrl).toBe('https://abc.supabase.co');
    expect(config.supabaseJwtSecret).toBeUndefined();
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(config.logLevel).toBe('debug');
  });

  it('paces the in-process sandbox by no provider tier unless a rate is set', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).resilience).toMatchObject({ researchRpm: undefined, personalizationRpm: undefined });
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox' }).resilience).toMatchObject({ researchRpm: 0, personalizationRpm: 0 });
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox', RESEARCH_RPM: '50' }).resilience).toMatchObject({ researchRpm: 50, personalizationRpm: 0 });
  });

  it('reads SANDBOX_FABRICATE_RATE as a share, for the sandbox only', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox' }).providers.sandboxFabricateRate).toBe(0);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox', SANDBOX_FABRICATE_RATE: '0.25' }).providers.sandboxFabricateRate).toBe(0.25);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox', SANDBOX_FABRICATE_RATE: '1' }).providers.sandboxFabricateRate).toBe(1);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox', SANDBOX_FABRICATE_RATE: '1.5' })).toThrow(/SANDBOX_FABRICATE_RATE: must be a share from 0 to 1/);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, SANDBOX_FABRICATE_RATE: '0.5' })).toThrow(/SANDBOX_FABRICATE_RATE is set but PROVIDERS is not sandbox/);
    // 0 (as a copied .env might say) asks for nothing, so it is no conflict.
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, SANDBOX_FABRICATE_RATE: '0' }).providers.sandboxFabricateRate).toBe(0);
  });

  it('writes JSON log lines unless LOG_FORMAT asks for readable ones', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).logFormat).toBe('json');
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOG_FORMAT: 'text' })).toThrow(/LOG_FORMAT: must be json or pretty/);
  });

  it('reads the accepted token audiences and anonymous sign-ins, authenticated users only by default', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).auth).toEqual({ audiences: ['authenticated'], allowAnonymous: false });
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, SUPABASE_JWT_AUDIENCE: '', ALLOW_ANONYMOUS_USERS: '' }).auth).toEqual({
      audiences: ['authenticated'],
      allowAnonymous: false,
    });
    const config = loadConfig({ SUPABASE_JWT_SECRET: SECRET, SUPABASE_JWT_AUDIENCE: ' authenticated , aga-api ', ALLOW_ANONYMOUS_USERS: 'true' });
    expect(config.auth).toEqual({ audiences: ['authenticated', 'aga-api'], allowAnonymous: true });
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, ALLOW_ANONYMOUS_USERS: 'yes' })).toThrow(/ALLOW_ANONYMOUS_USERS: must be true or false/);
  });

  it('reads the quotas, with documented defaults, 0 meaning no limit', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).quotas).toEqual({ concurrentRuns: 5, leadsPerRun: 100_000, leadsPerDay: 200_000, spendPerDayUsd: 4_000 });
    const config = loadConfig({
      SUPABASE_JWT_SECRET: SECRET,
      QUOTA_CONCURRENT_RUNS: '0',
      QUOTA_LEADS_PER_RUN: '100',
      QUOTA_LEADS_PER_DAY: '',
      QUOTA_SPEND_PER_DAY_USD: '99.50',
    });
    expect(config.quotas).toEqual({ concurrentRuns: 0, leadsPerRun: 100, leadsPerDay: 200_000, spendPerDayUsd: 99.5 });
    let error: unknown;
    try {
      loadConfig({ SUPABASE_JWT_SECRET: SECRET, QUOTA_CONCURRENT_RUNS: '-1', QUOTA_SPEND_PER_DAY_USD: '$5' });
    } catch (caught) {
      error = caught;
    }
    expect((error as ConfigError).problems).toEqual([
      'QUOTA_CONCURRENT_RUNS: must be a whole number (got "-1")',
      'QUOTA_SPEND_PER_DAY_USD: must be an amount in USD such as 250 or 99.50 (0 = no limit) (got "$5")',
    ]);
  });

  it('names every problem in one error and never shows secret values', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://root:hunter2@db/app',
        SUPABASE_JWT_SECRET: 'too-short-secret',
        CORS_ORIGINS: 'https://app.example.com/path',
        LOG_LEVEL: 'chatty',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'PORT',
      'DATABASE_URL',
      'SUPABASE_JWT_SECRET',
      'CORS_ORIGINS',
      'LOG_LEVEL',
    ]);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('too-short-secret');
    expect(message).toContain('"chatty"');
  });

  it('requires a way to verify access tokens', () => {
    expect(() => loadConfig({})).toThrow(/SUPABASE_JWT_SECRET .* or SUPABASE_URL/);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: '   ' })).toThrow(ConfigError);
  });

  it("reads the web app's sign-in: Supabase Auth needs its URL with the anon key, the local user the JWT secret", () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).webApp).toEqual({ supabaseAnonKey: undefined, localSignIn: false });
    expect(loadConfig({ SUPABASE_URL: 'https://abc.supabase.co', SUPABASE_ANON_KEY: 'anon-key', LOCAL_SIGN_IN: 'false' }).webApp).toEqual({ supabaseAnonKey: 'anon-key', localSignIn: false });
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOCAL_SIGN_IN: 'true' }).webApp.localSignIn).toBe(true);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, SUPABASE_ANON_KEY: 'anon-key' })).toThrow(/SUPABASE_ANON_KEY is set without SUPABASE_URL/);
    expect(() => loadConfig({ SUPABASE_URL: 'https://abc.supabase.co', LOCAL_SIGN_IN: 'true' })).toThrow(/LOCAL_SIGN_IN=true needs SUPABASE_JWT_SECRET/);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOCAL_SIGN_IN: 'yes' })).toThrow(/LOCAL_SIGN_IN: must be true or false/);
  });

  it('refuses the local sign-in in production (NODE_ENV=production, as the Docker image sets it)', () => {
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOCAL_SIGN_IN: 'true', NODE_ENV: 'production' })).toThrow(/LOCAL_SIGN_IN: true with NODE_ENV=production/);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOCAL_SIGN_IN: 'false', NODE_ENV: 'production' }).webApp.localSignIn).toBe(false);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, LOCAL_SIGN_IN: 'true', NODE_ENV: 'development' }).webApp.localSignIn).toBe(true);
  });

  it('rejects out-of-range ports', () => {
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, PORT: '70000' })).toThrow(/PORT: must be between 1 and 65535/);
  });
});

describe('loadConfig: pipeline settings', () => {
  it('refuses to run research or personalization with no provider keys unless PROVIDERS=sandbox', () => {
    expect(() => loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET })).toThrow(/PROVIDERS: no provider keys: set PERPLEXITY_API_KEY and OPENROUTER_API_KEY, or PROVIDERS=sandbox/);
    expect(() => loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, ROLES: 'research' })).toThrow(/no provider keys/);
    expect(() => loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'real' })).toThrow(/no provider keys/);
    // Processes that call no provider need no key.
    expect(loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, ROLES: 'edge,relay,projection,reconciler' }).config.providers.sandbox).toBe(false);
    expect(loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox' }).config.providers.sandbox).toBe(true);
    const keys = { PERPLEXITY_API_KEY: 'pplx-secret-key', OPENROUTER_API_KEY: 'sk-or-secret-key' };
    expect(loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, ...keys }).config.providers.sandbox).toBe(false);
    let message = '';
    try {
      loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox', ...keys });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/PROVIDERS=sandbox is set together with provider keys/);
    expect(message).not.toContain('secret-key');
    expect(() => loadSystemConfig({ SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'fake' })).toThrow(/PROVIDERS: must be sandbox or real/);
    // Reported together with the other problems, not after they are fixed.
    let all = '';
    try {
      loadSystemConfig({ PORT: 'abc' });
    } catch (error) {
      all = (error as Error).message;
    }
    expect(all).toMatch(/PORT: must be a whole number/);
    expect(all).toMatch(/PROVIDERS: no provider keys/);
  });

  it('runs every role by default', () => {
    const config = loadConfig({ SUPABASE_JWT_SECRET: SECRET }, { roles: ROLES });
    expect(config.roles).toEqual(ROLES);
    expect(config.providers).toMatchObject({
      perplexityApiKey: undefined,
      openrouterApiKey: undefined,
      perplexityBaseUrl: undefined,
      openrouterBaseUrl: undefined,
      researchModel: undefined,
    });
    expect(config.kpi).toEqual({ hoursPerLead: 0.02, moneyPerLead: 0.04 });
  });

  it('takes a subset of roles, and rejects unknown ones', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, ROLES: 'Research, personalization,research' }, { roles: ROLES }).roles).toEqual([
      'research',
      'personalization',
    ]);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, ROLES: 'edge,mailer' }, { roles: ROLES })).toThrow(
      'ROLES: must be a comma-separated list of edge, relay, reconciler, extraction, research, personalization, projection',
    );
  });

  it('refuses one real provider key without the other, and never shows a key', () => {
    let message = '';
    try {
      loadConfig({ SUPABASE_JWT_SECRET: SECRET, PERPLEXITY_API_KEY: 'pplx-secret-key' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/set both PERPLEXITY_API_KEY and OPENROUTER_API_KEY/);
    expect(message).not.toContain('pplx-secret-key');
  });

  it('reads banned phrases as a |-separated list and prices as decimals', () => {
    const config = loadConfig({
      SUPABASE_JWT_SECRET: SECRET,
      BANNED_PHRASES: ' touch base | hope this finds you well, friend |',
      RESEARCH_PRICE_PER_REQUEST_USD: '0.012',
    });
    expect(config.bannedPhrases).toEqual(['touch base', 'hope this finds you well, friend']);
    expect(config.pricing.research.perRequestUsd).toBe(0.012);
    expect(config.pricing.personalization.perMillionOutputTokensUsd).toBe(15);
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, PERSONALIZATION_PRICE_PER_M_INPUT_USD: '-3' })).toThrow(
      /PERSONALIZATION_PRICE_PER_M_INPUT_USD: must be a non-negative amount/,
    );
  });

  it('reads RESEARCH_CACHE_TTL as a duration with its unit, a week by default, 0 turning sharing off', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).researchCacheTtlMs).toBe(7 * 86_400_000);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, RESEARCH_CACHE_TTL: '12h' }).researchCacheTtlMs).toBe(12 * 3_600_000);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, RESEARCH_CACHE_TTL: ' 30M ' }).researchCacheTtlMs).toBe(30 * 60_000);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, RESEARCH_CACHE_TTL: '3600s' }).researchCacheTtlMs).toBe(3_600_000);
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET, RESEARCH_CACHE_TTL: '0' }).researchCacheTtlMs).toBe(0);
    for (const bad of ['7', '7 days', '-1d', '1w', '366d']) {
      expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, RESEARCH_CACHE_TTL: bad })).toThrow(/RESEARCH_CACHE_TTL: must be a duration such as 7d/);
    }
  });

  it('rejects a reconciler lease inside the broker de-duplication window', () => {
    expect(() => loadConfig({ SUPABASE_JWT_SECRET: SECRET, RECONCILER_LEASE_MS: '60000' })).toThrow(/RECONCILER_LEASE_MS/);
  });
});

describe('.env.example', () => {
  it('is a valid configuration once a token secret is filled in', async () => {
    const { readFile } = await import('node:fs/promises');
    const { parseEnv } = await import('node:util');
    const example = parseEnv(await readFile(new URL('../../.env.example', import.meta.url), 'utf8'));
    const { config } = loadSystemConfig({ ...example, SUPABASE_JWT_SECRET: SECRET, PROVIDERS: 'sandbox' });
    expect(config.roles).toEqual(roleNames(CONSUMERS));
    expect(config.consumerAckWaitMs).toBeUndefined();
    expect(config.natsNamespace).toBeUndefined();
    expect(config.natsReplicas).toBe(1);
  });

  it('sets nothing empty: copied to .env, it hides no value of .env.development (npm run dev, npm run token)', async () => {
    const { readFile } = await import('node:fs/promises');
    const { parseEnv } = await import('node:util');
    const example = parseEnv(await readFile(new URL('../../.env.example', import.meta.url), 'utf8'));
    expect(Object.entries(example).filter(([, value]) => value === '').map(([name]) => name)).toEqual([]);
    expect(example.SUPABASE_JWT_SECRET).toBeUndefined();
  });

  it('documents every variable the service reads', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
    const documented = new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]));
    expect(CONFIG_VARIABLES.filter((name) => !documented.has(name))).toEqual([]);
  });
});
