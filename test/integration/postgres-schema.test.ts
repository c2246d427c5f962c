import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeadStatus, RunStatus } from '../../domain/campaigns/run.ts';
import { normalizeEmail } from '../../domain/leads/email.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/** Every status of the domain, as records so that the compiler notices a status added there. */
const LEAD_STATUSES = Object.keys({
  pending: true,
  researched: true,
  personalized: true,
  needs_review: true,
  failed: true,
  suppressed: true,
  cancelled: true,
} satisfies Record<LeadStatus, true>);
const RUN_STATUSES = Object.keys({
  queued: true,
  extracting: true,
  personalizing: true,
  paused: true,
  completed: true,
  failed: true,
  cancelled: true,
} satisfies Record<RunStatus, true>);

let db: TestDatabase;
const userId = randomUUID();
let campaignId: string;
let runId: string;

async function insertLead(email: string, overrides: { campaignId?: string; runId?: string; userId?: string } = {}) {
  return db.sql`
    insert into leads (campaign_id, run_id, user_id, row_number, email, company, fields)
    values (${overrides.campaignId ?? campaignId}, ${overrides.runId ?? runId}, ${overrides.userId ?? userId},
            2, ${email}, 'Acme', ${db.sql.json([['Email', email]])})`;
}

async function newCampaignWithRun(owner: string): Promise<{ campaignId: string; runId: string }> {
  const [campaign] = await db.sql<{ id: string }[]>`
    insert into campaigns (user_id, name) values (${owner}, ${`Q3 outbound ${randomUUID()}`}) returning id`;
  const [run] = await db.sql<{ id: string }[]>`
    insert into campaign_runs (campaign_id, user_id) values (${campaign!.id}, ${owner}) returning id`;
  return { campaignId: campaign!.id, runId: run!.id };
}

beforeAll(async () => {
  db = await createTestDatabase({ migrate: true });
  ({ campaignId, runId } = await newCampaignWithRun(userId));
});

afterAll(async () => {
  await db.drop();
});

describe('leads', () => {
  it('are unique per campaign by normalized email', async () => {
    await insertLead('ada@example.com');
    await expect(insertLead('ada@example.com')).rejects.toMatchObject({
      code: '23505',
      constraint_name: 'leads_campaign_id_email_key',
    });
    const other = await newCampaignWithRun(userId);
    await expect(insertLead('ada@example.com', other)).resolves.toBeDefined();
  });

  it.each([' ada@example.com', 'Ada@Example.com', 'ada@example.com\t', 'ada@example.com\n', 'ada @example.com', ''])(
    'reject an email that is not normalized (lower-cased, no whitespace): %j',
    async (email) => {
      await expect(insertLead(email)).rejects.toMatchObject({ code: '23514', constraint_name: 'leads_email_normalized' });
    },
  );

  it.each(['Ada.Lovelace@Example.COM', ' Zoë@Exämple.de ', 'Åsa Berg <ÅSA@Bolag.se>'])(
    'accept every address the import normalizes: %j',
    async (raw) => {
      const email = normalizeEmail(raw);
      if (email === null) throw new Error(`the import rejects ${raw}`);
      await expect(insertLead(email)).resolves.toBeDefined();
    },
  );

  it('belong to a run of the same campaign, owned by the same user', async () => {
    const stranger = await newCampaignWithRun(randomUUID());
    await expect(insertLead('x@example.com', { runId: stranger.runId })).rejects.toMatchObject({
      code: '23503',
      constraint_name: 'leads_run_fkey',
    });
    await expect(insertLead('y@example.com', { userId: randomUUID() })).rejects.toMatchObject({
      code: '23503',
      constraint_name: 'leads_campaign_fkey',
    });
  });

  it('accept only known statuses', async () => {
    await insertLead('status@example.com');
    await expect(db.sql`update leads set status = 'done' where email = 'status@example.com'`).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'leads_status_check',
    });
    // Every status of the domain, whichever of 0015 (cancelled) and 0018 (suppressed) re-created the check last.
    for (const status of LEAD_STATUSES) await db.sql`update leads set status = ${status}, counted_run_id = null where email = 'status@example.com'`;
    // Cancelled (0015) and suppressed leads are final: they may be counted for their run.
    for (const status of ['cancelled', 'suppressed']) {
      await db.sql`update leads set status = ${status}, counted_run_id = run_id where email = 'status@example.com'`;
    }
  });

  it('keep the original columns in order, repeated headers included', async () => {
    const fields = [['Last Name', 'Lovelace'], ['Email', 'order@example.com'], ['Notes', 'a'], ['Notes', 'b']];
    await db.sql`
      insert into leads (campaign_id, run_id, user_id, row_number, email, company, fields)
      values (${campaignId}, ${runId}, ${userId}, 7, 'order@example.com', 'Acme', ${db.sql.json(fields)})`;
    const [lead] = await db.sql`select fields from leads where email = 'order@example.com'`;
    expect(lead?.fields).toEqual(fields);
  });

  it('go when their campaign is deleted', async () => {
    const doomed = await newCampaignWithRun(userId);
    await insertLead('gone@example.com', doomed);
    await db.sql`delete from campaigns where id = ${doomed.campaignId}`;
    const left = await db.sql`
      select 1 from leads where campaign_id = ${doomed.campaignId}
      union all select 1 from campaign_runs where campaign_id = ${doomed.campaignId}`;
    expect(left).toHaveLength(0);
  });
});

describe('campaign runs', () => {
  it('accept only known statuses and non-negative counters', async () => {
    for (const status of [...RUN_STATUSES, 'queued']) await db.sql`update campaign_runs set status = ${status} where id = ${runId}`;
    await expect(db.sql`update campaign_runs set cancelled = -1 where id = ${runId}`).rejects.toMatchObject({
      constraint_name: 'campaign_runs_cancelled_nonnegative',
    });
    await expect(db.sql`update campaign_runs set status = 'done' where id = ${runId}`).rejects.toMatchObject({
      constraint_name: 'campaign_runs_status_check',
    });
    await expect(db.sql`update campaign_runs set failed = -1 where id = ${runId}`).rejects.toMatchObject({
      constraint_name: 'campaign_runs_counters_nonnegative',
    });
  });

  it('must name the campaign owner as their user', async () => {
    await expect(
      db.sql`insert into campaign_runs (campaign_id, user_id) values (${campaignId}, ${randomUUID()})`,
    ).rejects.toMatchObject({ code: '23503', constraint_name: 'campaign_runs_campaign_fkey' });
  });
});

describe('campaigns', () => {
  it('have names unique per user, compared without case and surrounding spaces', async () => {
    const owner = randomUUID();
    await db.sql`insert into campaigns (user_id, name) values (${owner}, 'Spring Outreach')`;
    await expect(db.sql`insert into campaigns (user_id, name) values (${owner}, ${'  spring OUTREACH '})`).rejects.toMatchObject({
      code: '23505',
      constraint_name: 'campaigns_user_id_name_key',
    });
    await expect(db.sql`insert into campaigns (user_id, name) values (${randomUUID()}, 'Spring Outreach')`).resolves.toBeDefined();
    await expect(db.sql`insert into campaigns (user_id, name) values (${owner}, 'Spring Outreach 2')`).resolves.toBeDefined();
  });

  it.each(['', '   ', 'x'.repeat(201)])('reject a blank or overlong name (%#)', async (name) => {
    await expect(db.sql`insert into campaigns (user_id, name) values (${userId}, ${name})`).rejects.toMatchObject({
      constraint_name: 'campaigns_name_length',
    });
  });

  it('get updated_at moved forward by every update', async () => {
    const [before] = await db.sql<{ updated_at: Date }[]>`select updated_at from campaigns where id = ${campaignId}`;
    // now() is the transaction's start time: a later transaction gets a later one.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const [after] = await db.sql<{ updated_at: Date }[]>`
      update campaigns set completed_count = completed_count + 1 where id = ${campaignId} returning updated_at`;
    expect(after!.updated_at.getTime()).toBeGreaterThan(before!.updated_at.getTime());
  });
});

describe('client metrics', () => {
  it('keep exact cents: 0.04 added three times is 0.12, returned as a string', async () => {
    const owner = randomUUID();
    await db.sql`insert into client_metrics (user_id) values (${owner})`;
    for (let i = 0; i < 3; i += 1) {
      await db.sql`
        update client_metrics
        set money_saved = money_saved + ${'0.04'}, hours_saved = hours_saved + ${'0.1'},
            leads_personalized = leads_personalized + 1
        where user_id = ${owner}`;
    }
    const [metrics] = await db.sql`
      select money_saved, hours_saved, leads_personalized, money_saved = 0.12 as exact
      from client_metrics where user_id = ${owner}`;
    expect(metrics).toEqual({ money_saved: '0.12', hours_saved: '0.30', leads_personalized: '3', exact: true });
  });

  it('refuse negative totals', async () => {
    await expect(
      db.sql`insert into client_metrics (user_id, money_saved) values (${randomUUID()}, ${'-0.01'})`,
    ).rejects.toMatchObject({ constraint_name: 'client_metrics_nonnegative' });
  });
});
