import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate } from '../../adapters/postgres/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const run = promisify(execFile);
const projectRoot = join(import.meta.dirname, '..', '..');

/** Everything the migrations create, in a comparable form: a second application must not change it. */
async function schemaSnapshot(db: TestDatabase): Promise<string[]> {
  const rows = await db.sql<{ item: string }[]>`
    select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable as item
      from information_schema.columns where table_schema = 'public'
    union all
    select 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      from pg_constraint where connamespace = 'public'::regnamespace
    union all
    select 'index ' || indexname || ' ' || indexdef from pg_indexes where schemaname = 'public'
    union all
    select 'trigger ' || tgrelid::regclass || ' ' || tgname from pg_trigger where not tgisinternal
    union all
    select 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || array_to_string(roles, ',') || ' ' || qual
      from pg_policies where schemaname = 'public'
    union all
    select 'grant ' || table_name || ' ' || grantee || ' ' || privilege_type
      from information_schema.role_table_grants where table_schema = 'public'
    union all
    select 'function ' || p.oid::regprocedure from pg_proc p where p.pronamespace in ('public'::regnamespace, 'auth'::regnamespace)
    order by 1`;
  return rows.map((row) => row.item);
}

describe('migrations on a fresh database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('apply, then are a no-op for the runner, then every file runs again unchanged without error', async () => {
    const migrations = await listMigrations();

    await migrate(db.sql);
    const recorded = await db.sql<{ name: string; checksum: string }[]>`
      select name, checksum from schema_migrations order by name`;
    expect(recorded).toEqual(migrations.map(({ name, checksum }) => ({ name, checksum })));
    const tables = await db.sql<{ tablename: string; rowsecurity: boolean }[]>`
      select tablename, rowsecurity from pg_tables where schemaname = 'public' order by tablename`;
    expect(tables).toEqual([
      { tablename: 'broker_epochs', rowsecurity: true },
      { tablename: 'campaign_runs', rowsecurity: true },
      { tablename: 'campaigns', rowsecurity: true },
      { tablename: 'client_metrics', rowsecurity: true },
      { tablename: 'idempotency_keys', rowsecurity: true },
      { tablename: 'leads', rowsecurity: true },
      { tablename: 'outbox', rowsecurity: true },
      { tablename: 'paid_call_claims', rowsecurity: true },
      { tablename: 'prompt_templates', rowsecurity: true },
      { tablename: 'research_cache', rowsecurity: true },
      { tablename: 'run_deliveries', rowsecurity: true },
      { tablename: 'schema_migrations', rowsecurity: true },
      { tablename: 'suppressions', rowsecurity: true },
    ]);
    const before = await schemaSnapshot(db);

    const bookkeeping = () => db.sql`select name, checksum, applied_at from schema_migrations order by name`;
    const firstRun = await bookkeeping();
    await migrate(db.sql);
    expect(await bookkeeping()).toEqual(firstRun);

    // Bypass the bookkeeping: the SQL itself must be safe to run twice.
    for (const migration of migrations) {
      await db.sql.begin((tx) => tx.unsafe(migration.sql));
    }
    expect(await schemaSnapshot(db)).toEqual(before);
  });

  it('refuses to run when an applied migration file has changed since', async () => {
    const [first] = await listMigrations();
    if (!first) throw new Error('no migrations');
    await migrate(db.sql);
    await db.sql`update schema_migrations set checksum = ${'0'.repeat(64)} where name = ${first.name}`;
    try {
      await expect(migrate(db.sql)).rejects.toThrow(`migration ${first.name} was changed after it was applied`);
    } finally {
      await db.sql`update schema_migrations set checksum = ${first.checksum} where name = ${first.name}`;
    }
    await expect(migrate(db.sql)).resolves.toBeUndefined();
  });
});

describe('on a database that already has Supabase’s auth schema', () => {
  it('leaves auth.uid() and the schema as Supabase made them', async () => {
    const db = await createTestDatabase();
    try {
      // Stand-in for Supabase's own function: a body of its own that the migrations must not replace.
      await db.sql.unsafe(`
        create schema auth;
        create function auth.uid() returns uuid language sql stable
          as $$ select '00000000-0000-4000-8000-000000000001'::uuid $$;`);
      const definition = () => db.sql`select pg_get_functiondef('auth.uid()'::regprocedure) as body`;
      const before = await definition();
      await migrate(db.sql);
      expect(await definition()).toEqual(before);
      const [grants] = await db.sql`
        select has_schema_privilege('authenticated', 'auth', 'usage') as authenticated_usage`;
      expect(grants).toEqual({ authenticated_usage: false });
    } finally {
      await db.drop();
    }
  });
});

describe('concurrent runners', () => {
  it('both succeed on a fresh database and apply each migration once', async () => {
    const db = await createTestDatabase();
    try {
      const migrations = await listMigrations();
      await Promise.all([migrate(db.sql), migrate(db.sql)]);
      const rows = await db.sql<{ name: string }[]>`select name from schema_migrations order by name`;
      expect(rows.map((row) => row.name)).toEqual(migrations.map((m) => m.name));
    } finally {
      await db.drop();
    }
  });
});

describe('npm run migrate (src/migrate.ts)', () => {
  const script = join(projectRoot, 'src', 'migrate.ts');

  it('migrates the database at DATABASE_URL and exits 0', async () => {
    const db = await createTestDatabase();
    try {
      const { stdout } = await run(process.execPath, [script], {
        cwd: projectRoot,
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'info' },
      });
      expect(stdout).toContain('database schema up to date');
      const rows = await db.sql`select name from schema_migrations`;
      expect(rows.length).toBe((await listMigrations()).length);
    } finally {
      await db.drop();
    }
  });

  it('exits 1 when the database is unreachable, without logging the connection string', async () => {
    const secret = 'not-a-real-password-4f1c';
    const failure = await run(process.execPath, [script], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: `postgres://postgres:${secret}@127.0.0.1:1/postgres` },
    }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toContain('migration failed');
    expect(`${failure?.stdout}${failure?.stderr}`).not.toContain(secret);
  });
});
