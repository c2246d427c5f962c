/**
 * The service's settings, read once from environment variables and validated with valibot.
 * A wrong or missing value stops start-up with one message that names every problem; secret
 * values are never echoed back in that message.
 */
import * as v from 'valibot';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
  }),
  v.check(
    (env) => env.SUPABASE_JWT_SECRET !== undefined || env.SUPABASE_URL !== undefined,
    'set SUPABASE_JWT_SECRET (HS256 tokens) or SUPABASE_URL (tokens signed with the project\'s JWKS keys), or both: without them no access token can be verified',
  ),
);

export interface Config {
  readonly port: number;
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly supabaseUrl: string | undefined;
  readonly supabaseJwtSecret: string | undefined;
  readonly corsOrigins: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n- ${problems.join('\n- ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const SECRET_NAMES = new Set(['SUPABASE_JWT_SECRET', 'DATABASE_URL', 'NATS_URL']);

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const result = v.safeParse(EnvSchema, env, { abortPipeEarly: true });
  if (!result.success) {
    const problems = result.issues.map((issue) => {
      const name = v.getDotPath(issue)?.split('.')[0];
      if (name === undefined) return issue.message;
      // Secrets and URLs that may hold passwords are named, never shown.
      const shown = SECRET_NAMES.has(name) || issue.input === undefined ? '' : ` (got ${JSON.stringify(issue.input)})`;
      return `${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  const env_ = result.output;
  return {
    port: env_.PORT,
    databaseUrl: env_.DATABASE_URL,
    natsUrl: env_.NATS_URL,
    supabaseUrl: env_.SUPABASE_URL,
    supabaseJwtSecret: env_.SUPABASE_JWT_SECRET,
    corsOrigins: env_.CORS_ORIGINS,
    logLevel: env_.LOG_LEVEL,
  };
}
