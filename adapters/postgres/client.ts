import postgres from 'postgres';

/** A pooled PostgreSQL client (porsager's `postgres`): a tagged template that runs queries. */
export type Sql = postgres.Sql;

/** Where the service and `npm run migrate` connect when DATABASE_URL is not set. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface SqlOptions {
  /** Pool size; the default suits one service process. */
  readonly max?: number;
  /** Seconds an unused connection stays open. */
  readonly idleTimeoutSeconds?: number;
  /** Seconds to wait for a new connection before the query fails. */
  readonly connectTimeoutSeconds?: number;
  /** PostgreSQL's statement_timeout on every connection, in ms (0: none); DEFAULT_STATEMENT_TIMEOUT_MS when unset. */
  readonly statementTimeoutMs?: number;
}

/**
 * How long one statement may run before PostgreSQL cancels it (SQLSTATE 57014): a runaway query
 * must not hold a connection, and the locks it took, for ever. The pipeline's statements take
 * milliseconds (an extraction batch of 1,000 leads well under a second); migrations run without
 * it (see migrate.ts); the export reads page by page, so a slow download is not one long statement.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

/**
 * Opens (lazily) a connection pool to `databaseUrl`.
 *
 * Type parsing is the driver's default on purpose: `numeric` and `bigint` columns come back as
 * strings, so money keeps its exact cents and large counters never lose precision in a JS
 * number; callers convert where they know the range. Server notices ("relation already exists,
 * skipping" from idempotent migrations) are dropped instead of going to the console.
 * The URL may hold a password: it is passed to the driver only, never logged or put in an error.
 */
export function createSql(databaseUrl: string, options: SqlOptions = {}): Sql {
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    onnotice: () => {},
    connection: { application_name: 'ai-growth-accelerator', statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS },
  });
}
