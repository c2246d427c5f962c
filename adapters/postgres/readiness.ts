import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import type { Sql } from './client.ts';

/** Ready when PostgreSQL answers `select 1` before the caller's signal aborts. */
export class PostgresReadinessProbe implements ReadinessProbe {
  readonly name = 'postgres';
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async check(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const query = this.#sql`select 1`;
    const aborted = Promise.withResolvers<never>();
    const onAbort = (): void => {
      aborted.reject(signal.reason);
      // Best effort, so a probe that gave up does not hold a pooled connection: a queued query
      // leaves the queue, a running one gets a cancel request. Its outcome no longer matters.
      Promise.resolve(query.cancel() as unknown).catch(() => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Racing (not just cancelling) bounds the wait even when the server never answers.
      await Promise.race([query, aborted.promise]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
