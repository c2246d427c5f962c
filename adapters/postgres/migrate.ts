import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logging/logger.ts';
import type { Sql } from './client.ts';

export interface Migration {
  /** File name, e.g. `0001_supabase_compat.sql`; migrations apply in name order. */
  readonly name: string;
  readonly sql: string;
  /** sha256 of the file with line endings normalized, so a CRLF checkout does not count as a change. */
  readonly checksum: string;
}

const MIGRATIONS_DIRECTORY = join(import.meta.dirname, 'migrations');
const MIGRATION_FILE_NAME = /^\d{4}_[a-z0-9_]+\.sql$/;

/**
 * Key of the advisory lock every migration transaction takes first, so two processes starting at
 * once (replicas, or a replica and `npm run migrate`) apply each file exactly once. Advisory locks
 * are per database; the value is arbitrary but must never change.
 */
export const MIGRATION_LOCK_KEY = 7_401_330_260_113;

/**
 * Bookkeeping, kept by the runner itself: it must exist before the first migration runs.
 * Row-level security without a policy keeps Supabase's API roles (which get default privileges
 * on every new public table) from reading or forging it; the owner is not restricted.
 */
const CREATE_BOOKKEEPING_TABLE = `
  create table if not exists public.schema_migrations (
    name text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
  );
  alter table public.schema_migrations enable row level security;`;

/**
 * The migration files shipped with this module, in the order they apply. A misnamed `.sql` file
 * is an error rather than silently skipped.
 */
export async function listMigrations(): Promise<Migration[]> {
  const names = (await readdir(MIGRATIONS_DIRECTORY)).filter((name) => name.endsWith('.sql')).sort();
  const misnamed = names.find((name) => !MIGRATION_FILE_NAME.test(name));
  if (misnamed !== undefined) {
    throw new Error(`migration file ${misnamed} is not named like 0001_snake_case_name.sql`);
  }
  return Promise.all(
    names.map(async (name) => {
      const sql = (await readFile(join(MIGRATIONS_DIRECTORY, name), 'utf8')).replaceAll('\r\n', '\n');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction
 * under an advisory lock, and records its checksum. Throws, before applying anything, when an
 * applied migration's file has changed since: ship a new migration instead of editing one.
 */
export async function migrate(sql: Sql, logger?: Logger): Promise<void> {
  const migrations = await listMigrations();

  const applied = await sql.begin(async (tx) => {
    await tx`set local statement_timeout = 0`;
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx.unsafe(CREATE_BOOKKEEPING_TABLE);
    return tx<{ name: string; checksum: string }[]>`select name, checksum from public.schema_migrations`;
  });
  const checksums = new Map(applied.map((row) => [row.name, row.checksum]));
  for (const migration of migrations) {
    assertUnchanged(migration, checksums.get(migration.name));
  }

  let count = 0;
  for (const migration of migrations) {
    if (checksums.has(migration.name)) continue;
    const appliedNow = await sql.begin(async (tx) => {
      // No statement timeout here: a migration may rewrite or index a large table, and a process
      // waits for the lock as long as another one's migration takes.
      await tx`set local statement_timeout = 0`;
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      // Another process may have applied it while this one waited for the lock.
      const [row] = await tx<{ checksum: string }[]>`
        select checksum from public.schema_migrations where name = ${migration.name}`;
      if (row) {
        assertUnchanged(migration, row.checksum);
        return false;
      }
      await tx.unsafe(migration.sql);
      await tx`insert into public.schema_migrations (name, checksum) values (${migration.name}, ${migration.checksum})`;
      return true;
    });
    if (appliedNow) {
      count += 1;
      logger?.info({ migration: migration.name }, 'migration applied');
    }
  }
  logger?.info({ applied: count, total: migrations.length }, 'database schema up to date');
}

function assertUnchanged(migration: Migration, appliedChecksum: string | undefined): void {
  if (appliedChecksum !== undefined && appliedChecksum !== migration.checksum) {
    throw new Error(
      `migration ${migration.name} was changed after it was applied (recorded checksum ${appliedChecksum}, ` +
        `file checksum ${migration.checksum}); leave applied migrations as they are and add a new one`,
    );
  }
}
