/**
 * The service's settings, read once from environment variables and validated with valibot.
 * A wrong or missing value stops start-up with one message that names every problem; secret
 * values are never echoed back in that message.
 */
import * as v from 'valibot';
import { DEFAULT_PRICING, SANDBOX_PRICING, type Pricing } from '../../domain/pricing/pricing.ts';
import { DEFAULT_QUOTAS, type QuotaLimits } from '../../domain/quotas/quota.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;


const decimal = (fallback: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.regex(/^\d{1,6}(\.\d{1,4})?$/, 'must be a non-negative decimal number such as 0.04'),
    v.transform(Number),
  );

/** A price in USD; unset means the documented default (domain/pricing/pricing.ts). */
const price = () =>
  optionalNonEmpty(
    v.pipe(v.string(), v.regex(/^\d{1,6}(\.\d{1,9})?$/, 'must be a non-negative amount in USD such as 0.005'), v.transform(Number)),
  );

/** A whole number; unset means the adapter's documented default. */
const wholeNumber = (min: number, max: number) =>
  optionalNonEmpty(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, 'must be a whole number'),
      v.transform(Number),
      v.number(),
      v.minValue(min, `must be between ${min} and ${max}`),
      v.maxValue(max, `must be between ${min} and ${max}`),
    ),
  );

const milliseconds = (fallback: string, min: number) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.regex(/^\d+$/, 'must be a whole number of milliseconds'),
    v.transform(Number),
    v.number(),
    v.minValue(min, `must be at least ${min} ms`),
  );

/** RESEARCH_CACHE_TTL's default: a company's research is reused for a week. */
export const DEFAULT_RESEARCH_CACHE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_MESSAGE = 'must be a duration such as 7d, 12h, 30m or 3600s (a number and one of s, m, h, d), at most 365d; 0 turns it off';

/**
 * A duration of seconds to days written with its unit (`7d`, `12h`, `30m`, `3600s`), for settings
 * too long to read in milliseconds; `0` is none.
 */
const duration = (fallback: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.toLowerCase(),
    v.regex(/^(0|\d{1,9}\s*[smhd])$/, DURATION_MESSAGE),
    v.transform((value) => (value === '0' ? 0 : Number(value.slice(0, -1).trim()) * DURATION_UNITS_MS[value.at(-1)!]!)),
    v.maxValue(365 * DURATION_UNITS_MS.d!, DURATION_MESSAGE),
  );

const url = (protocols: readonly string[]) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.check((value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`),
  );

const optionalNonEmpty = <T extends v.GenericSchema<string, unknown>>(schema: T) =>
  v.optional(v.pipe(v.string(), v.trim(), v.transform((value) => (value === '' ? undefined : value)), v.optional(schema)));

const EnvSchema = v.pipe(
  v.object({
    METRICS_PORT: v.pipe(
      v.optional(v.string(), '9464'),
      v.trim(),
      v.regex(/^\d+$/, 'must be a whole number (0 turns the metrics listener off)'),
      v.transform(Number),
      v.number(),
      v.maxValue(65535, 'must be between 0 and 65535'),
    ),
    PORT: v.pipe(
      v.optional(v.string(), '8080'),
      v.trim(),
      v.regex(/^\d+$/, 'must be a whole number'),
      v.transform(Number),
      v.number(),
      v.minValue(1, 'must be between 1 and 65535'),
      v.maxValue(65535, 'must be between 1 and 65535'),
    ),
    DATABASE_URL: v.optional(url(['postgres:', 'postgresql:']), 'postgres://postgres@127.0.0.1:5432/postgres'),
    NATS_URL: v.optional(url(['nats:', 'tls:', 'ws:', 'wss:']), 'nats://127.0.0.1:4222'),
    SUPABASE_URL: optionalNonEmpty(url(['https:', 'http:'])),
    SUPABASE_JWT_SECRET: optionalNonEmpty(
      v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters (the JWT secret from the Supabase dashboard)')),
    ),
    // The project's public anon key: the web app signs in through Supabase Auth with it (public by design).
    SUPABASE_ANON_KEY: optionalNonEmpty(v.string()),
    // The web app's "local user" sign-in (npm run dev): tokens signed with SUPABASE_JWT_SECRET, for loopback callers only.
    LOCAL_SIGN_IN: v.pipe(
      optionalNonEmpty(v.picklist(['true', 'false'], 'must be true or false')),
      v.transform((value) => value === 'true'),
    ),
    // Comma-separated; a token's `aud` must be one of them. Unset or empty: `authenticated`.
    SUPABASE_JWT_AUDIENCE: v.pipe(
      v.optional(v.string(), ''),
      v.transform((value) => value.split(',').map((aud) => aud.trim()).filter((aud) => aud !== '')),
      v.transform((audiences) => (audiences.length === 0 ? ['authenticated'] : audiences)),
    ),
    ALLOW_ANONYMOUS_USERS: v.pipe(
      optionalNonEmpty(v.picklist(['true', 'false'], 'must be true or false')),
      v.transform((value) => value === 'true'),
    ),
    // Per-user quotas on submissions (domain/quotas); 0 = no limit; unset: DEFAULT_QUOTAS.
    QUOTA_CONCURRENT_RUNS: wholeNumber(0, 10_000),
    QUOTA_LEADS_PER_RUN: wholeNumber(0, 10_000_000),
    QUOTA_LEADS_PER_DAY: wholeNumber(0, 100_000_000),
    QUOTA_SPEND_PER_DAY_USD: optionalNonEmpty(
      v.pipe(v.string(), v.regex(/^\d{1,9}(\.\d{1,2})?$/, 'must be an amount in USD such as 250 or 99.50 (0 = no limit)'), v.transform(Number)),
    ),
    CORS_ORIGINS: v.pipe(
      v.optional(v.string(), ''),
      v.transform((value) =>
        value
          .split(',')
          .map((origin) => origin.trim())
          .filter((origin) => origin !== ''),
      ),
      v.array(
        v.pipe(
          v.string(),
          v.check((origin) => {
            try {
              return new URL(origin).origin === origin;
            } catch {
              return false;
            }
          }, 'must be a comma-separated list of origins such as https://app.example.com (scheme, host and port; no path)'),
        ),
      ),
    ),
    LOG_LEVEL: v.optional(v.picklist(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`), 'info'),
    LOG_FORMAT: v.optional(v.picklist(['json', 'pretty'], 'must be json or pretty'), 'json'),
    // Checked against the roles the composition root knows (loadConfig's `roles`).
    ROLES: v.optional(v.string(), ''),
    PERPLEXITY_API_KEY: optionalNonEmpty(v.string()),
    PERPLEXITY_BASE_URL: optionalNonEmpty(url(['https:', 'http:'])),
    OPENROUTER_API_KEY: optionalNonEmpty(v.string()),
    // `sandbox`: made-up, labelled output with no keys; never a fallback (see loadSystemConfig).
    PROVIDERS: optionalNonEmpty(v.picklist(['sandbox', 'real'], 'must be sandbox or real (or unset: real)')),
    // With PROVIDERS=sandbox: the share of the sandbox writer's lines that invent a specific (faults.ts fabricateRate).
    SANDBOX_FABRICATE_RATE: optionalNonEmpty(
      v.pipe(
        v.string(),
        v.regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, 'must be a share from 0 to 1, such as 0.2'),
        v.transform(Number),
      ),
    ),
    OPENROUTER_BASE_URL: optionalNonEmpty(url(['https:', 'http:'])),
    // Unset: the adapters' defaults (adapters/providers), kept in one place.
    RESEARCH_MODEL: optionalNonEmpty(v.string()),
    PERSONALIZATION_MODEL: optionalNonEmpty(v.string()),
    PROVIDER_TIMEOUT_MS: milliseconds('60000', 1000),
    // Rate limits and resilience (adapters/providers/resilient.ts, adapters/outside-api); unset: the defaults there.
    RESEARCH_RPM: wholeNumber(0, 100_000),
    PERSONALIZATION_RPM: wholeNumber(0, 100_000),
    PROVIDER_INITIAL_CONCURRENCY: wholeNumber(1, 1_000),
    PROVIDER_MAX_CONCURRENCY: wholeNumber(1, 1_000),
    PROVIDER_SLOW_CALL_MS: wholeNumber(1_000, 600_000),
    PROVIDER_PROBE_INTERVAL_MS: wholeNumber(1_000, 3_600_000),
    BREAKER_ERROR_THRESHOLD_PERCENT: wholeNumber(1, 100),
    BREAKER_VOLUME_THRESHOLD: wholeNumber(1, 10_000),
    BREAKER_WINDOW_MS: wholeNumber(1_000, 3_600_000),
    BREAKER_RESET_MS: wholeNumber(1_000, 3_600_000),
    RESEARCH_PRICE_PER_REQUEST_USD: price(),
    RESEARCH_PRICE_PER_M_INPUT_USD: price(),
    RESEARCH_PRICE_PER_M_OUTPUT_USD: price(),
    PERSONALIZATION_PRICE_PER_REQUEST_USD: price(),
    PERSONALIZATION_PRICE_PER_M_INPUT_USD: price(),
    PERSONALIZATION_PRICE_PER_M_OUTPUT_USD: price(),
    // A `|`-separated list (phrases may hold commas); unset: the default list.
    BANNED_PHRASES: optionalNonEmpty(
      v.pipe(
        v.string(),
        v.transform((value) => value.split('|').map((phrase) => phrase.trim()).filter((phrase) => phrase !== '')),
        v.minLength(1, 'must list at least one phrase, separated by |'),
      ),
    ),
    // How long a company's research is shared by its leads (src/app/consumers/research.ts).
    RESEARCH_CACHE_TTL: duration('7d'),
    HOURS_SAVED_PER_LEAD: decimal('0.02'),
    MONEY_SAVED_PER_LEAD: decimal('0.04'),
    NATS_NAMESPACE: optionalNonEmpty(
      v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lower-case letters, digits or dashes')),
    ),
    // Replicas of the streams and buckets (a JetStream cluster of 3 or 5 nodes; see deploy/k8s).
    NATS_REPLICAS: v.optional(v.pipe(v.string(), v.picklist(['1', '3', '5'], 'must be 1, 3 or 5'), v.transform(Number)), '1'),
    CONSUMER_ACK_WAIT_MS: optionalNonEmpty(
      v.pipe(
        v.string(),
        v.regex(/^\d+$/, 'must be a whole number of milliseconds'),
        v.transform(Number),
        v.number(),
        v.minValue(1000, 'must be at least 1000 ms'),
      ),
    ),
    RECONCILER_INTERVAL_MS: milliseconds('30000', 1000),
    RECONCILER_LEASE_MS: milliseconds('300000', 150000),
    NATS_TOPOLOGY_CHECK_MS: milliseconds('2000', 100),
    // Bounded reads (adapters/postgres/client.ts, adapters/http/routes/run-progress.ts).
    DATABASE_STATEMENT_TIMEOUT_MS: milliseconds('30000', 0),
    DATABASE_READ_POOL_SIZE: wholeNumber(1, 100),
    SSE_MAX_STREAMS_PER_USER: wholeNumber(1, 1_000),
  }),
  v.check(
    (env) => (env.PERPLEXITY_API_KEY === undefined) === (env.OPENROUTER_API_KEY === undefined),
    'set both PERPLEXITY_API_KEY and OPENROUTER_API_KEY for real providers, or neither (with PROVIDERS=sandbox) for the sandbox: one real provider and one sandbox would mix real and fake output',
  ),
  v.check(
    (env) => !(env.PROVIDERS === 'sandbox' && (env.PERPLEXITY_API_KEY !== undefined || env.OPENROUTER_API_KEY !== undefined)),
    'PROVIDERS=sandbox is set together with provider keys: unset the keys to run on the sandbox, or unset PROVIDERS (or set it to real) to use them',
  ),
  v.check(
    (env) => env.SANDBOX_FABRICATE_RATE === undefined || env.SANDBOX_FABRICATE_RATE === 0 || env.PROVIDERS === 'sandbox',
    'SANDBOX_FABRICATE_RATE is set but PROVIDERS is not sandbox: it only tells the in-process sandbox how often to invent a specific; unset it, or set PROVIDERS=sandbox',
  ),
  v.check(
    (env) => env.SUPABASE_ANON_KEY === undefined || env.SUPABASE_URL !== undefined,
    'SUPABASE_ANON_KEY is set without SUPABASE_URL: the web app signs in through Supabase Auth at SUPABASE_URL with the anon key, so set both (or neither)',
  ),
  v.check(
    (env) => !env.LOCAL_SIGN_IN || env.SUPABASE_JWT_SECRET !== undefined,
    'LOCAL_SIGN_IN=true needs SUPABASE_JWT_SECRET: the local user\'s tokens are signed with it (npm run dev sets both in .env.development)',
  ),
  v.check(
    (env) => env.SUPABASE_JWT_SECRET !== undefined || env.SUPABASE_URL !== undefined,
    'set SUPABASE_JWT_SECRET (HS256 tokens) or SUPABASE_URL (tokens signed with the project\'s JWKS keys), or both: without them no access token can be verified',
  ),
);

/** Every environment variable the service reads (OpenTelemetry's standard OTEL_* aside). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.pipe[0].entries);

export interface Config {
  readonly port: number;
  /** METRICS_PORT: where /metrics is served in Prometheus's text format, apart from the API; 0: not served. Default 9464. */
  readonly metricsPort?: number;
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly supabaseUrl: string | undefined;
  readonly supabaseJwtSecret: string | undefined;
  /** Accepted token audiences (`aud`) and whether Supabase anonymous sign-ins are accepted. */
  readonly auth: { readonly audiences: readonly string[]; readonly allowAnonymous: boolean };
  /** Per-user limits on submissions; 0 = no limit. */
  readonly quotas: QuotaLimits;
  /** How the web app signs users in: Supabase Auth (with SUPABASE_URL) and, in local development, the local user. */
  readonly webApp: {
    /** SUPABASE_ANON_KEY: the project's public key for supabase-js in the browser; with SUPABASE_URL, the page signs in through Supabase Auth. */
    readonly supabaseAnonKey: string | undefined;
    /** LOCAL_SIGN_IN: the "local user" sign-in, which mints tokens with SUPABASE_JWT_SECRET for loopback callers. */
    readonly localSignIn: boolean;
  };
  readonly corsOrigins: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** JSON lines (production, log collectors) or pino-pretty's readable lines (development). */
  readonly logFormat: 'json' | 'pretty';
  /** What this process runs (see loadConfig's `roles`); all of them when ROLES is unset. */
  readonly roles: readonly string[];
  readonly providers: {
    /** PROVIDERS=sandbox: the labelled sandbox runs in-process instead of real APIs (no keys). */
    readonly sandbox: boolean;
    /** SANDBOX_FABRICATE_RATE: the share of the in-process sandbox's lines that invent a specific (0 unless set). */
    readonly sandboxFabricateRate: number;
    readonly perplexityApiKey: string | undefined;
    /** Unset: the provider's own URL (the adapters know it). */
    readonly perplexityBaseUrl: string | undefined;
    readonly openrouterApiKey: string | undefined;
    readonly openrouterBaseUrl: string | undefined;
    readonly researchModel: string | undefined;
    readonly personalizationModel: string | undefined;
    readonly timeoutMs: number;
  };
  /** Rate limits, adaptive concurrency and circuit breakers of the providers; undefined: defaults. */
  readonly resilience: {
    readonly researchRpm: number | undefined;
    readonly personalizationRpm: number | undefined;
    readonly initialConcurrency: number | undefined;
    readonly maxConcurrency: number | undefined;
    readonly slowCallMs: number | undefined;
    readonly probeIntervalMs: number | undefined;
    readonly breaker: {
      readonly errorThresholdPercentage: number | undefined;
      readonly volumeThreshold: number | undefined;
      readonly rollingCountTimeoutMs: number | undefined;
      readonly resetTimeoutMs: number | undefined;
    };
  };
  /** Phrases an opening line may not use; undefined: the default list (domain/personalization). */
  readonly bannedPhrases: readonly string[] | undefined;
  /** What provider calls cost, for the per-lead and per-run cost and the preview's estimate. */
  readonly pricing: Pricing;
  /**
   * How long a user's research of a company (for one research prompt) is reused by the company's
   * other leads, in any of the user's runs, in milliseconds; 0: every lead is researched on its own.
   */
  readonly researchCacheTtlMs: number;
  /** Saved per personalized lead (at most 4 decimals; the database adds them as numeric). */
  readonly kpi: { readonly hoursPerLead: number; readonly moneyPerLead: number };
  readonly reconciler: { readonly intervalMs: number; readonly leaseMs: number };
  /**
   * Keeps several deployments apart on one NATS server: prefixes subjects and names the stream,
   * consumers and object-store bucket after it. Unset: the default names.
   */
  readonly natsNamespace: string | undefined;
  /** Replicas of the event and dead-letter streams and the buckets, set when the process creates them: 1, 3 or 5. */
  readonly natsReplicas: number;
  /** Overrides every consumer's ack wait: how soon a crashed worker's in-flight messages come back. */
  readonly consumerAckWaitMs: number | undefined;
  /** How often each process checks that the broker still has its streams, consumers and buckets. */
  readonly topologyCheckMs: number;
  /** PostgreSQL's statement_timeout on every connection (0: none). */
  readonly databaseStatementTimeoutMs: number;
  /** Connections of the edge's pool for long reads (event streams, exports); undefined: the default. */
  readonly databaseReadPoolSize: number | undefined;
  /** Open event streams per user and edge process; undefined: the default. */
  readonly sseMaxStreamsPerUser: number | undefined;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n- ${problems.join('\n- ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const SECRET_NAMES = new Set(['SUPABASE_JWT_SECRET', 'DATABASE_URL', 'NATS_URL', 'PERPLEXITY_API_KEY', 'OPENROUTER_API_KEY']);

export interface LoadConfigOptions {
  /**
   * Every role a process may run (the edge, the relay, the reconciler and the consumers: the
   * composition root derives them from the consumers' declarations). ROLES must name some of
   * them; unset, a process runs them all.
   */
  readonly roles: readonly string[];
}

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env, options: LoadConfigOptions = { roles: [] }): Config {
  const result = v.safeParse(EnvSchema, env, { abortPipeEarly: true });
  const problems = result.success
    ? []
    : result.issues.map((issue) => {
        const name = v.getDotPath(issue)?.split('.')[0];
        if (name === undefined) return issue.message;
        // Secrets and URLs that may hold passwords are named, never shown.
        const shown = SECRET_NAMES.has(name) || issue.input === undefined ? '' : ` (got ${JSON.stringify(issue.input)})`;
        return `${name}: ${issue.message}${shown}`;
      });
  const roles = parseRoles(env.ROLES, options.roles);
  if (typeof roles === 'string') problems.push(roles);
  // Read from the environment itself: NODE_ENV is the runtime's, not a setting of the service.
  const localSignInInProduction = env.LOCAL_SIGN_IN?.trim() === 'true' && env.NODE_ENV?.trim() === 'production';
  if (localSignInInProduction) {
    problems.push(
      'LOCAL_SIGN_IN: true with NODE_ENV=production (the Docker image sets it): the local sign-in lets anyone who reaches the edge from this machine, a proxy in front of it included, sign in with no password. It is for npm run dev only: unset it.',
    );
  }
  if (!result.success || typeof roles === 'string' || localSignInInProduction) throw new ConfigError(problems);
  const env_ = result.output;
  return {
    port: env_.PORT,
    metricsPort: env_.METRICS_PORT,
    databaseUrl: env_.DATABASE_URL,
    natsUrl: env_.NATS_URL,
    supabaseUrl: env_.SUPABASE_URL,
    supabaseJwtSecret: env_.SUPABASE_JWT_SECRET,
    auth: { audiences: env_.SUPABASE_JWT_AUDIENCE, allowAnonymous: env_.ALLOW_ANONYMOUS_USERS ?? false },
    quotas: {
      concurrentRuns: env_.QUOTA_CONCURRENT_RUNS ?? DEFAULT_QUOTAS.concurrentRuns,
      leadsPerRun: env_.QUOTA_LEADS_PER_RUN ?? DEFAULT_QUOTAS.leadsPerRun,
      leadsPerDay: env_.QUOTA_LEADS_PER_DAY ?? DEFAULT_QUOTAS.leadsPerDay,
      spendPerDayUsd: env_.QUOTA_SPEND_PER_DAY_USD ?? DEFAULT_QUOTAS.spendPerDayUsd,
    },
    webApp: { supabaseAnonKey: env_.SUPABASE_ANON_KEY, localSignIn: env_.LOCAL_SIGN_IN ?? false },
    corsOrigins: env_.CORS_ORIGINS,
    logLevel: env_.LOG_LEVEL,
    logFormat: env_.LOG_FORMAT,
    roles,
    providers: {
      sandbox: env_.PROVIDERS === 'sandbox',
      sandboxFabricateRate: env_.SANDBOX_FABRICATE_RATE ?? 0,
      perplexityApiKey: env_.PERPLEXITY_API_KEY,
      perplexityBaseUrl: env_.PERPLEXITY_BASE_URL,
      openrouterApiKey: env_.OPENROUTER_API_KEY,
      openrouterBaseUrl: env_.OPENROUTER_BASE_URL,
      researchModel: env_.RESEARCH_MODEL,
      personalizationModel: env_.PERSONALIZATION_MODEL,
      timeoutMs: env_.PROVIDER_TIMEOUT_MS,
    },
    resilience: {
      // The in-process sandbox answers at once and bills nobody: it is not paced by a provider's
      // tier unless the rate is asked for (issue 10: 2,000 made-up lines took 42 minutes at 50 rpm).
      researchRpm: env_.RESEARCH_RPM ?? (env_.PROVIDERS === 'sandbox' ? 0 : undefined),
      personalizationRpm: env_.PERSONALIZATION_RPM ?? (env_.PROVIDERS === 'sandbox' ? 0 : undefined),
      initialConcurrency: env_.PROVIDER_INITIAL_CONCURRENCY,
      maxConcurrency: env_.PROVIDER_MAX_CONCURRENCY,
      slowCallMs: env_.PROVIDER_SLOW_CALL_MS,
      probeIntervalMs: env_.PROVIDER_PROBE_INTERVAL_MS,
      breaker: {
        errorThresholdPercentage: env_.BREAKER_ERROR_THRESHOLD_PERCENT,
        volumeThreshold: env_.BREAKER_VOLUME_THRESHOLD,
        rollingCountTimeoutMs: env_.BREAKER_WINDOW_MS,
        resetTimeoutMs: env_.BREAKER_RESET_MS,
      },
    },
    bannedPhrases: env_.BANNED_PHRASES,
    // The in-process sandbox bills nobody: its calls cost $0 whatever the prices say (issue 10:
    // 2,000 made-up lines cost $19.22 at real list prices). A stub behind the real providers'
    // base URLs is not the sandbox, and is priced as they are.
    pricing: env_.PROVIDERS === 'sandbox' ? SANDBOX_PRICING : {
      research: {
        perRequestUsd: env_.RESEARCH_PRICE_PER_REQUEST_USD ?? DEFAULT_PRICING.research.perRequestUsd,
        perMillionInputTokensUsd: env_.RESEARCH_PRICE_PER_M_INPUT_USD ?? DEFAULT_PRICING.research.perMillionInputTokensUsd,
        perMillionOutputTokensUsd: env_.RESEARCH_PRICE_PER_M_OUTPUT_USD ?? DEFAULT_PRICING.research.perMillionOutputTokensUsd,
      },
      personalization: {
        perRequestUsd: env_.PERSONALIZATION_PRICE_PER_REQUEST_USD ?? DEFAULT_PRICING.personalization.perRequestUsd,
        perMillionInputTokensUsd: env_.PERSONALIZATION_PRICE_PER_M_INPUT_USD ?? DEFAULT_PRICING.personalization.perMillionInputTokensUsd,
        perMillionOutputTokensUsd:
          env_.PERSONALIZATION_PRICE_PER_M_OUTPUT_USD ?? DEFAULT_PRICING.personalization.perMillionOutputTokensUsd,
      },
    },
    researchCacheTtlMs: env_.RESEARCH_CACHE_TTL,
    kpi: { hoursPerLead: env_.HOURS_SAVED_PER_LEAD, moneyPerLead: env_.MONEY_SAVED_PER_LEAD },
    reconciler: { intervalMs: env_.RECONCILER_INTERVAL_MS, leaseMs: env_.RECONCILER_LEASE_MS },
    natsNamespace: env_.NATS_NAMESPACE,
    natsReplicas: env_.NATS_REPLICAS,
    consumerAckWaitMs: env_.CONSUMER_ACK_WAIT_MS,
    topologyCheckMs: env_.NATS_TOPOLOGY_CHECK_MS,
    databaseStatementTimeoutMs: env_.DATABASE_STATEMENT_TIMEOUT_MS,
    databaseReadPoolSize: env_.DATABASE_READ_POOL_SIZE,
    sseMaxStreamsPerUser: env_.SSE_MAX_STREAMS_PER_USER,
  };
}

/** The roles ROLES names (all of `known` when unset), or the problem with it. */
function parseRoles(value: string | undefined, known: readonly string[]): readonly string[] | string {
  const names = [...new Set((value ?? '').split(',').map((item) => item.trim().toLowerCase()))].filter((name) => name !== '');
  if (names.length === 0) return known;
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length === 0) return names;
  return `ROLES: must be a comma-separated list of ${known.join(', ')} (got ${JSON.stringify(value)})`;
}
