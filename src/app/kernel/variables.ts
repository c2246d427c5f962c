/**
 * The configuration a consumer declares for itself: environment variables with their meaning,
 * parsed and checked at start-up with every other setting (adapters/config/env.ts reports them
 * all at once), documented in `.env.example` and the README from the same declaration.
 * Plain functions, no validation library: the use cases import no SDK.
 */

export interface Variable<T> {
  /** The environment variable, e.g. `WEBHOOK_SECRET`. */
  readonly name: string;
  /** One line for people: what it does, and its default. */
  readonly description: string;
  /** Its value is never shown (in errors, logs or documentation). */
  readonly secret?: boolean;
  /** The value from the environment (undefined when unset or blank); throws `SettingError` for a bad one. */
  parse(raw: string | undefined): T;
}

/** A value a variable cannot take; the message names what is expected, never a secret's value. */
export class SettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingError';
  }
}

/** A consumer's variables, by the name of the setting each one fills. */
export type Variables<S> = { readonly [K in keyof S]: Variable<S[K]> };

/** Free text; undefined when unset. */
export function text(name: string, description: string, options: { secret?: boolean; check?: (value: string) => string | undefined } = {}): Variable<string | undefined> {
  return {
    name,
    description,
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    parse(raw) {
      const value = raw?.trim();
      if (value === undefined || value === '') return undefined;
      const problem = options.check?.(value);
      if (problem !== undefined) throw new SettingError(problem);
      return value;
    },
  };
}

/** true/false (also 1/0, yes/no, on/off); `fallback` when unset. */
export function flag(name: string, description: string, fallback: boolean): Variable<boolean> {
  return {
    name,
    description,
    parse(raw) {
      const value = raw?.trim().toLowerCase();
      if (value === undefined || value === '') return fallback;
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      throw new SettingError('must be true or false');
    },
  };
}

/** An http(s) URL; undefined when unset. */
export function httpUrl(name: string, description: string): Variable<string | undefined> {
  return text(name, description, {
    check(value) {
      try {
        const url = new URL(value);
        return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'must be an http:// or https:// URL';
      } catch {
        return 'must be an http:// or https:// URL';
      }
    },
  });
}

/** Parses each variable from `env`; every problem, named by its variable, in `problems`. */
export function readVariables<S>(variables: Variables<S>, env: Readonly<Record<string, string | undefined>>): { settings: S; problems: string[] } {
  const settings: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, variable] of Object.entries<Variable<unknown>>(variables as Record<string, Variable<unknown>>)) {
    try {
      settings[key] = variable.parse(env[variable.name]);
    } catch (error) {
      if (!(error instanceof SettingError)) throw error;
      problems.push(`${variable.name}: ${error.message}`);
    }
  }
  return { settings: settings as S, problems };
}
