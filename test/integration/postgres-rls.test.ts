/**
 * Row-level security as a Supabase client meets it: PostgREST switches to role `authenticated`
 * and puts the verified JWT's claims in `request.jwt.claims` for the transaction.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionSql as Tx } from 'postgres';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const userA = randomUUID();
const userB = randomUUID();
const TABLES = ['campaigns', 'campaign_runs', 'leads', 'client_metrics', 'run_deliveries', 'prompt_templates', 'suppressions'] as const;

let db: TestDatabase;

/** Inserts, as the table owner, one campaign with a run, two leads and metrics for `userId`. */
async function seedUser(userId: string, label: string): Promise<void> {
  const [campaign] = await db.sql<{ id: string }[]>`
    insert into campaigns (user_id, name) values (${userId}, ${`${label} campaign`}) returning id`;
  const [run] = await db.sql<{ id: string }[]>`
    insert into campaign_runs (campaign_id, user_id, status) values (${campaign!.id}, ${userId}, 'completed') returning id`;
  for (const [index, email] of [`one@${label}.example`, `two@${label}.example`].entries()) {
    await db.sql`
      insert into leads (campaign_id, run_id, user_id, row_number, email, company, fields)
      values (${campaign!.id}, ${run!.id}, ${userId}, ${index + 2}, ${email}, ${label},
              ${db.sql.json([['Email', email], ['Company', label]])})`;
  }
  await db.sql`insert into client_metrics (user_id, leads_personalized) values (${userId}, 2)`;
  await db.sql`insert into run_deliveries (run_id, user_id, consumer, attempts) values (${run!.id}, ${userId}, 'webhook', 1)`;
  await db.sql`insert into prompt_templates (user_id, name, personalization_prompt) values (${userId}, ${`${label} intro`}, 'Hi {{first_name}}')`;
  await db.sql`insert into suppressions (user_id, value, kind) values (${userId}, ${`${label}.example`}, 'domain')`;
  await db.sql`
    insert into outbox (event_type, msg_id, run_id, payload)
    values ('run.completed', ${`run.completed:${run!.id}`}, ${run!.id}, ${db.sql.json({ type: 'run.completed', run_id: run!.id })})`;
}

/** Runs `work` the way PostgREST serves a request: role switched and claims set for one transaction, then rolled back. */
async function asRequest<T>(role: 'authenticated' | 'anon', sub: string | null, work: (tx: Tx) => Promise<T>): Promise<T> {
  let result: T | undefined;
  const rollback = new Error('rollback');
  await db.sql
    .begin(async (tx) => {
      const claims = JSON.stringify(sub === null ? { role } : { sub, role });
      await tx`select set_config('request.jwt.claims', ${claims}, true)`;
      await tx.unsafe(`set local role ${role}`);
      result = await work(tx);
      throw rollback;
    })
    .catch((error: unknown) => {
      if (error !== rollback) throw error;
    });
  return result as T;
}

async function visibleUserIds(tx: Tx, table: (typeof TABLES)[number]): Promise<string[]> {
  const rows = await tx<{ user_id: string }[]>`select user_id from ${tx(table)}`;
  return [...new Set(rows.map((row) => row.user_id))];
}

beforeAll(async () => {
  db = await createTestDatabase({ migrate: true });
  await seedUser(userA, 'alpha');
  await seedUser(userB, 'bravo');
});

afterAll(async () => {
  await db.drop();
});

describe('row-level security', () => {
  it('the owner connection (the service) sees every user', async () => {
    for (const table of TABLES) {
      const rows = await db.sql<{ user_id: string }[]>`select distinct user_id from ${db.sql(table)}`;
      expect(rows.map((row) => row.user_id).sort()).toEqual([userA, userB].sort());
    }
  });

  it.each(TABLES)('authenticated as user A sees only A’s rows in %s', async (table) => {
    expect(await asRequest('authenticated', userA, (tx) => visibleUserIds(tx, table))).toEqual([userA]);
    expect(await asRequest('authenticated', userB, (tx) => visibleUserIds(tx, table))).toEqual([userB]);
  });

  it('A cannot reach B’s rows even by naming them', async () => {
    const [bCampaign] = await db.sql<{ id: string }[]>`select id from campaigns where user_id = ${userB}`;
    const found = await asRequest('authenticated', userA, async (tx) => ({
      campaign: await tx`select id from campaigns where id = ${bCampaign!.id}`,
      leads: await tx`select id from leads where campaign_id = ${bCampaign!.id}`,
      runs: await tx`select id from campaign_runs where campaign_id = ${bCampaign!.id}`,
      metrics: await tx`select user_id from client_metrics where user_id = ${userB}`,
    }));
    expect(found.campaign).toHaveLength(0);
    expect(found.leads).toHaveLength(0);
    expect(found.runs).toHaveLength(0);
    expect(found.metrics).toHaveLength(0);
  });

  it('sees A’s lead rows in full, original columns included', async () => {
    const leads = await asRequest('authenticated', userA, (tx) =>
      tx<{ email: string; fields: unknown }[]>`select email, fields from leads order by row_number`,
    );
    expect(leads).toEqual([
      { email: 'one@alpha.example', fields: [['Email', 'one@alpha.example'], ['Company', 'alpha']] },
      { email: 'two@alpha.example', fields: [['Email', 'two@alpha.example'], ['Company', 'alpha']] },
    ]);
  });

  it('authenticated without a sub claim sees nothing', async () => {
    for (const table of TABLES) {
      expect(await asRequest('authenticated', null, (tx) => visibleUserIds(tx, table))).toEqual([]);
    }
  });

  it.each(TABLES)('anon is refused %s', async (table) => {
    await expect(asRequest('anon', userA, (tx) => tx`select 1 from ${tx(table)}`)).rejects.toMatchObject({
      code: '42501', // insufficient_privilege
    });
  });

  it.each(['anon', 'authenticated'] as const)('%s cannot read or empty the idempotency keys (the backend\'s own)', async (role) => {
    await expect(asRequest(role, userA, (tx) => tx`select 1 from idempotency_keys`)).rejects.toMatchObject({ code: '42501' });
    await expect(asRequest(role, userA, (tx) => tx`truncate idempotency_keys`)).rejects.toMatchObject({ code: '42501' });
  });

  it.each(['anon', 'authenticated'] as const)('%s cannot read or empty the outbox (the backend\'s own)', async (role) => {
    await expect(asRequest(role, userA, (tx) => tx`select 1 from outbox`)).rejects.toMatchObject({ code: '42501' });
    await expect(asRequest(role, userA, (tx) => tx`truncate outbox`)).rejects.toMatchObject({ code: '42501' });
  });

  it('authenticated cannot insert, update or delete, not even its own rows', async () => {
    const [aCampaign] = await db.sql<{ id: string }[]>`select id from campaigns where user_id = ${userA}`;
    const attempts: ((tx: Tx) => Promise<unknown>)[] = [
      (tx) => tx`insert into campaigns (user_id, name) values (${userA}, 'mine')`,
      (tx) => tx`update campaigns set name = 'renamed' where id = ${aCampaign!.id}`,
      (tx) => tx`delete from leads where user_id = ${userA}`,
      (tx) => tx`insert into client_metrics (user_id) values (${randomUUID()})`,
      (tx) => tx`update client_metrics set money_saved = 1000000 where user_id = ${userA}`,
      (tx) => tx`truncate leads`,
      (tx) => tx`update run_deliveries set delivered_at = now() where user_id = ${userA}`,
      (tx) => tx`truncate run_deliveries`,
      (tx) => tx`update prompt_templates set name = 'renamed' where user_id = ${userA}`,
      (tx) => tx`insert into prompt_templates (user_id, name, personalization_prompt) values (${userA}, 'mine', 'x')`,
      (tx) => tx`insert into suppressions (user_id, value, kind) values (${userA}, 'mine.example', 'domain')`,
      (tx) => tx`delete from suppressions where user_id = ${userA}`,
      (tx) => tx`truncate suppressions`,
    ];
    for (const attempt of attempts) {
      await expect(asRequest('authenticated', userA, attempt)).rejects.toMatchObject({ code: '42501' });
    }
    const [campaign] = await db.sql<{ name: string }[]>`select name from campaigns where id = ${aCampaign!.id}`;
    expect(campaign?.name).toBe('alpha campaign');
  });
});
