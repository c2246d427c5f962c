/**
 * A throw-away database per integration test file, on the real PostgreSQL the global setup
 * found, so test files run in parallel without seeing each other's rows or schema.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { createSql, DEFAULT_DATABASE_URL, type Sql } from '../../adapters/postgres/client.ts';
import { migrate } from '../../adapters/postgres/migrate.ts';

export interface TestDatabase {
  /** Connection string of the new database. */
  readonly url: string;
  readonly sql: Sql;
  /** Closes `sql`, ends any other connection to the database, and drops it. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Apply the migrations before returning (default false: a bare database). */
  readonly migrate?: boolean;
}

/** The admin connection string: the one global setup provides, else DATABASE_URL, else the local default. */
export function adminDatabaseUrl(): string {
  return inject('databaseUrl') ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
}

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const adminUrl = adminDatabaseUrl();
  const name = `aga_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await asAdmin(adminUrl, (admin) => admin`create database ${admin(name)}`);

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), { max: 4 });
  const database: TestDatabase = {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      // WITH (FORCE) ends connections a test left open (PostgreSQL 13+).
      await asAdmin(adminUrl, (admin) => admin`drop database if exists ${admin(name)} with (force)`);
    },
  };
  if (options.migrate) {
    try {
      await migrate(sql);
    } catch (error) {
      await database.drop();
      throw error;
    }
  }
  return database;
}

async function asAdmin(adminUrl: string, run: (admin: postgres.Sql) => Promise<unknown>): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await run(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}
