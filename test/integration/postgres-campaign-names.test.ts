/**
 * Migration 0014 on a database with campaigns from before it, on the real PostgreSQL: duplicate
 * names (which the earlier schema allowed) are renamed so that names can be unique per user, and
 * each campaign starts with the settings of its latest run.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, type Migration } from '../../adapters/postgres/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const MIGRATION = '0014_campaign_management.sql';

describe(`migration ${MIGRATION} on existing data`, () => {
  let db: TestDatabase;
  let migration: Migration;
  const alice = randomUUID();
  const bob = randomUUID();

  async function campaign(userId: string, name: string, createdAt: string): Promise<string> {
    const [row] = await db.sql<{ id: string }[]>`
      insert into campaigns (user_id, name, created_at, updated_at) values (${userId}, ${name}, ${createdAt}, ${createdAt}) returning id`;
    return row!.id;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    const migrations = await listMigrations();
    migration = migrations.find((candidate) => candidate.name === MIGRATION)!;
    for (const earlier of migrations.filter((candidate) => candidate.name < MIGRATION)) {
      await db.sql.begin((tx) => tx.unsafe(earlier.sql));
    }
  });
  afterAll(() => db.drop());

  it('renames later duplicates with the first free suffix (the oldest keeps the name), then names are unique per user', async () => {
    const oldest = await campaign(alice, 'Q3 Outreach', '2026-01-01T00:00:00Z');
    const sameCase = await campaign(alice, 'Q3 Outreach', '2026-01-02T00:00:00Z');
    const otherCase = await campaign(alice, ' q3 outreach', '2026-01-03T00:00:00Z');
    const taken = await campaign(alice, 'Q3 Outreach (2)', '2026-01-01T12:00:00Z');
    const long = 'L'.repeat(200);
    const longFirst = await campaign(alice, long, '2026-01-01T00:00:00Z');
    const longSecond = await campaign(alice, long, '2026-01-05T00:00:00Z');
    const bobs = await campaign(bob, 'Q3 Outreach', '2026-01-04T00:00:00Z');

    await db.sql.begin((tx) => tx.unsafe(migration.sql));

    const names = new Map((await db.sql<{ id: string; name: string }[]>`select id, name from campaigns`).map((row) => [row.id, row.name]));
    expect(names.get(oldest)).toBe('Q3 Outreach');
    expect(names.get(taken)).toBe('Q3 Outreach (2)');
    expect(names.get(sameCase)).toBe('Q3 Outreach (3)');
    expect(names.get(otherCase)).toBe('q3 outreach (4)');
    expect(names.get(longFirst)).toBe(long);
    expect(names.get(longSecond)).toBe(`${'L'.repeat(196)} (2)`);
    expect(names.get(bobs)).toBe('Q3 Outreach');
    await expect(db.sql`insert into campaigns (user_id, name) values (${alice}, 'Q3 OUTREACH (3)')`).rejects.toMatchObject({
      code: '23505',
      constraint_name: 'campaigns_user_id_name_key',
    });
  });

  it('gives each campaign the settings of its latest run, keeping updated_at, and running again changes nothing', async () => {
    const user = randomUUID();
    // A fresh database: the previous test applied the migration already, so this one starts over.
    const fresh = await createTestDatabase();
    try {
      for (const earlier of (await listMigrations()).filter((candidate) => candidate.name < MIGRATION)) {
        await fresh.sql.begin((tx) => tx.unsafe(earlier.sql));
      }
      const [with2] = await fresh.sql<{ id: string }[]>`
        insert into campaigns (user_id, name, updated_at) values (${user}, 'Two runs', '2026-02-01T00:00:00Z') returning id`;
      await fresh.sql`insert into campaigns (user_id, name) values (${user}, 'No runs')`;
      const insertRun = (createdAt: string, research: string | null, questions: boolean) => fresh.sql`
        insert into campaign_runs (campaign_id, user_id, created_at, research_prompt, allow_questions)
        values (${with2!.id}, ${user}, ${createdAt}, ${research}, ${questions})`;
      await insertRun('2026-01-01T00:00:00Z', 'Old prompt', false);
      await insertRun('2026-01-02T00:00:00Z', 'Latest prompt', true);

      await fresh.sql.begin((tx) => tx.unsafe(migration.sql));
      const read = () => fresh.sql`
        select name, research_prompt, personalization_prompt, allow_questions, updated_at from campaigns where user_id = ${user} order by name`;
      expect(await read()).toEqual([
        { name: 'No runs', research_prompt: null, personalization_prompt: null, allow_questions: false, updated_at: expect.any(Date) as Date },
        { name: 'Two runs', research_prompt: 'Latest prompt', personalization_prompt: null, allow_questions: true, updated_at: new Date('2026-02-01T00:00:00Z') },
      ]);

      // Settings changed since are not overwritten by a second application.
      await fresh.sql`update campaigns set research_prompt = 'Changed since' where id = ${with2!.id}`;
      await fresh.sql.begin((tx) => tx.unsafe(migration.sql));
      expect((await read())[1]).toMatchObject({ research_prompt: 'Changed since' });
    } finally {
      await fresh.drop();
    }
  });
});
