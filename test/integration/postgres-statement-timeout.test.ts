/**
 * Every pooled connection carries PostgreSQL's statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS),
 * on the real PostgreSQL: a longer statement is cancelled, migrations run without it, and the
 * export, which reads page by page, outlasts it however slowly it is read.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../adapters/config/env.ts';
import { createSql, DEFAULT_STATEMENT_TIMEOUT_MS, type Sql } from '../../adapters/postgres/client.ts';
import { listMigrations, migrate, MIGRATION_LOCK_KEY } from '../../adapters/postgres/migrate.ts';
import { createPostgresStores } from '../../adapters/postgres/stores/index.ts';
import type { Lead } from '../../domain/leads/lead.ts';
import type { RunToExtract } from '../../ports/extraction-store.port.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { storeDriver } from '../support/store.ts';

const TIMEOUT_MS = 300;
let db: TestDatabase;
let bounded: Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  bounded = createSql(db.url, { max: 2, statementTimeoutMs: TIMEOUT_MS });
});
afterAll(async () => {
  await bounded.end({ timeout: 5 });
  await db.drop();
});

describe('statement_timeout', () => {
  it('cancels a statement that runs longer, and lets a shorter one finish', async () => {
    expect((await bounded<{ statement_timeout: string }[]>`show statement_timeout`)[0]?.statement_timeout).toBe(`${TIMEOUT_MS}ms`);
    await expect(bounded`select pg_sleep(1)`).rejects.toMatchObject({ code: '57014' });
    expect(await bounded`select pg_sleep(0.05), 1 as done`).toMatchObject([{ done: 1 }]);
  });

  it('is 30 s by default, configurable, and 0 turns it off', async () => {
    expect(DEFAULT_STATEMENT_TIMEOUT_MS).toBe(30_000);
    expect((await db.sql<{ statement_timeout: string }[]>`show statement_timeout`)[0]?.statement_timeout).toBe('30s');
    const env = { SUPABASE_JWT_SECRET: 'x'.repeat(32) };
    expect(loadConfig(env).databaseStatementTimeoutMs).toBe(30_000);
    expect(loadConfig({ ...env, DATABASE_STATEMENT_TIMEOUT_MS: '0' }).databaseStatementTimeoutMs).toBe(0);
    expect(() => loadConfig({ ...env, DATABASE_STATEMENT_TIMEOUT_MS: '30s' })).toThrow(/DATABASE_STATEMENT_TIMEOUT_MS/);
  });

  it('does not apply to migrations: one waits for another process\'s migration lock as long as it takes', async () => {
    const holder = await db.sql.reserve();
    try {
      await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
      const migrating = migrate(bounded);
      await sleep(TIMEOUT_MS * 2);
      await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
      await migrating;
    } finally {
      holder.release();
    }
    expect((await bounded<{ n: number }[]>`select count(*)::int as n from schema_migrations`)[0]?.n).toBe((await listMigrations()).length);
  });

  it('lets an export be read more slowly than the timeout: each page is its own short statement', async () => {
    await migrate(bounded);
    const store = storeDriver(createPostgresStores(bounded));
    const userId = randomUUID();
    const { runId } = await store.createRun({ userId, demo: false, fileName: 'leads.csv', campaignName: 'Slow reader' });
    const extraction = (await store.beginExtraction(runId)) as RunToExtract;
    const leads: Lead[] = Array.from({ length: 1_100 }, (_, i) => {
      const email = `slow${i}@example.com`;
      return { row: i + 2, email, company: 'Acme', canonical: { email, company: 'Acme' }, fields: [{ header: 'Email', value: email }] };
    });
    await store.storeLeads(extraction, leads);
    const queries = createPostgresStores(bounded).queries;
    const exported = await queries.exportLeads(userId, extraction.campaignId);
    const rows: number[] = [];
    for await (const row of exported!.rows) {
      if (row.kind === 'lead') rows.push(row.lead.row);
      // Stops longer than the timeout, inside each 500-lead page and between them.
      if (rows.length % 400 === 1) await sleep(TIMEOUT_MS + 100);
    }
    expect(rows).toEqual(leads.map((lead) => lead.row));
  });
});
