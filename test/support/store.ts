/**
 * Fixtures shared by the store's integration tests: a store on its own migrated database for the
 * test file, and leads of a two-column file (Email, Company).
 */
import { afterAll, beforeAll } from 'vitest';
import { PostgresCampaignStore } from '../../adapters/postgres/campaign-store.ts';
import type { ColumnMapping, Lead } from '../../domain/leads/lead.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestStore {
  readonly db: TestDatabase;
  readonly store: PostgresCampaignStore;
}

/**
 * Registers the file's beforeAll/afterAll: a fresh migrated database and a store on it, dropped
 * after the file. Read the returned object's fields inside tests (they are set in beforeAll).
 */
export function useTestStore(): TestStore {
  const handle = {} as { db: TestDatabase; store: PostgresCampaignStore };
  beforeAll(async () => {
    handle.db = await createTestDatabase({ migrate: true });
    handle.store = new PostgresCampaignStore(handle.db.sql);
  });
  afterAll(async () => {
    await handle.db.drop();
  });
  return handle;
}

/** The column mapping of the two-column test file. */
export const COLUMNS: readonly ColumnMapping[] = [
  { original: 'Email', canonical: 'email' },
  { original: 'Company', canonical: 'company' },
];

/** A lead of the two-column test file, as the import produces it. */
export function lead(email: string, row: number, company = 'Acme'): Lead {
  return {
    row,
    email,
    company,
    canonical: { email, company },
    fields: [
      { header: 'Email', value: email },
      { header: 'Company', value: company },
    ],
  };
}
