/**
 * The submission store's quota check across edges: several processes, each with its own
 * connection pool, submit for one user at once; the per-user advisory lock, not the in-process
 * queue, is what keeps them under the limit.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../../adapters/postgres/client.ts';
import { createPostgresStores, type PostgresStores } from '../../adapters/postgres/stores/index.ts';
import { NO_QUOTAS, QuotaExceededError } from '../../domain/quotas/quota.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

describe('PostgresSubmissionStore quotas across edges', () => {
  let db: TestDatabase;
  const pools: Sql[] = [];
  let edges: PostgresStores[];

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: true });
    for (let i = 0; i < 5; i += 1) pools.push(createSql(db.url, { max: 4 }));
    edges = pools.map((sql) => createPostgresStores(sql));
  });
  afterAll(async () => {
    await Promise.all(pools.map((sql) => sql.end({ timeout: 1 })));
    await db.drop();
  });

  it('creates exactly 3 runs of 50 submitted at once through 5 edges with QUOTA_CONCURRENT_RUNS=3', async () => {
    const userId = randomUUID();
    const quotas = { ...NO_QUOTAS, concurrentRuns: 3 };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => {
        const edge = edges[i % edges.length]!;
        return edge.uow.commit(edge.submission.createRun({ userId, campaignName: `c${i}`, demo: false, fileName: 'a.csv', leads: 1, quotas }));
      }),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(3);
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(refused).toHaveLength(47);
    for (const outcome of refused) expect(outcome.reason).toBeInstanceOf(QuotaExceededError);
    const [row] = await db.sql<{ runs: number; campaigns: number }[]>`
      select (select count(*)::int from campaign_runs where user_id = ${userId}) as runs,
             (select count(*)::int from campaigns where user_id = ${userId}) as campaigns`;
    expect(row).toEqual({ runs: 3, campaigns: 3 }); // a refused run's new campaign is not kept either
  });
});
