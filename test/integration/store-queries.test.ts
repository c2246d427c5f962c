/**
 * The campaign store's reads on the real PostgreSQL: run status, result pages, the settled-lead
 * feed of the live stream, the export and the KPIs, each scoped to its user.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_KPI_RATES } from '../../domain/campaigns/run.ts';
import type { ColumnMapping, ImportReport, ImportRow, Lead } from '../../domain/leads/lead.ts';
import { createPostgresStores } from '../../adapters/postgres/stores/index.ts';
import { InvalidCursorError, PROGRESS_START, type ExportRow } from '../../ports/campaign-queries.port.ts';
import type { RunToExtract } from '../../ports/extraction-store.port.ts';
import type { Draft, Research } from '../../ports/providers.port.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { storeDriver, type StoreDriver } from '../support/store.ts';

let db: TestDatabase;
let store: StoreDriver;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: true });
  store = storeDriver(createPostgresStores(db.sql));
});

afterAll(async () => {
  await db.drop();
});

const RESEARCH: Research = { text: 'Acme builds rockets.', citations: [{ url: 'https://acme.example' }], model: 'sandbox/research' };
const DRAFT: Draft = { message: 'Loved the launch.', basis: 'rockets', model: 'sandbox/writer' };

/** A lead whose original columns are `headers`, each cell named after its header. */
function lead(email: string, row: number, headers: readonly string[]): Lead {
  return {
    row,
    email,
    company: 'Acme',
    canonical: { email, company: 'Acme' },
    fields: headers.map((header) => ({ header, value: header === 'Email' ? email : `${header} of ${email}` })),
  };
}

function report(valid: number, columns: readonly ColumnMapping[]): ImportReport {
  return { total_rows: valid, valid, duplicates: 0, rejected: [], columns, demo_excluded: 0 };
}

/**
 * A personalizing run of `emails`, its file having `headers`; returns the run and its lead ids in
 * row order. The leads are rows 2, 3, … unless `rows` numbers them; `importRows` are the file's
 * rows that are not leads.
 */
async function run(
  userId: string,
  headers: readonly string[],
  emails: readonly string[],
  campaignId?: string,
  { rows, importRows }: { rows?: readonly number[]; importRows?: readonly ImportRow[] } = {},
) {
  const { runId } = await store.createRun({
    userId,
    demo: false,
    fileName: 'leads.csv',
    ...(campaignId === undefined ? { campaignName: 'Outbound' } : { campaignId }),
  });
  const extraction = (await store.beginExtraction(runId)) as RunToExtract;
  const { pending, skipped } = await store.storeLeads(extraction, emails.map((email, index) => lead(email, rows?.[index] ?? index + 2, headers)));
  const columns = headers.map((original) => ({ original, canonical: null }));
  await store.finishExtraction(runId, { report: report(emails.length, columns), columns, skipped, ...(importRows === undefined ? {} : { rows: importRows }) });
  return { ...extraction, leadIds: pending };
}

async function personalizeAndCount(leadId: string, runId: string): Promise<void> {
  await store.saveResearch(leadId, runId, RESEARCH);
  await store.savePersonalized(leadId, runId, DRAFT);
  await store.countOutcome(leadId, runId, DEFAULT_KPI_RATES);
}

async function failAndCount(leadId: string, runId: string, reason = 'gave up'): Promise<void> {
  await store.saveFailed(leadId, runId, reason);
  await store.countOutcome(leadId, runId, DEFAULT_KPI_RATES);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const anIsoTimestamp: unknown = expect.stringMatching(ISO);

describe('runStatus', () => {
  it("shows the user's run with its counters", async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['a@example.com', 'b@example.com', 'c@example.com']);
    await personalizeAndCount(r.leadIds[0]!, r.runId);
    await failAndCount(r.leadIds[1]!, r.runId);
    const view = await store.runStatus(userId, r.runId);
    expect(view).toEqual({
      run_id: r.runId,
      campaign_id: r.campaignId,
      status: 'personalizing',
      total_rows: 3,
      valid: 3,
      duplicates: 0,
      rejected_rows: 0,
      skipped: 0,
      processed: 2,
      personalized: 1,
      needs_review: 0,
      failed: 1,
      suppressed: 0,
      cancelled: 0,
      cost_usd: 0,
      research_cache_hits: 0,
      error_message: null,
      created_at: anIsoTimestamp,
      updated_at: anIsoTimestamp,
      completed_at: null,
      sandbox: false,
      cancelled_at: null,
      paused_at: null,
      deliveries: {},
    });
    await failAndCount(r.leadIds[2]!, r.runId);
    await store.completeIfSettled(r.runId);
    expect((await store.runStatus(userId, r.runId))?.completed_at).toMatch(ISO);
  });

  it("shows the run's deliveries by consumer, and reads a completed run with its campaign's options", async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['only@example.com']);
    expect(await store.completedRun(r.runId)).toBeNull(); // still running
    await failAndCount(r.leadIds[0]!, r.runId);
    await store.completeIfSettled(r.runId);

    const ended = { runId: r.runId, userId };
    expect(await store.delivery(r.runId, 'webhook')).toBeNull();
    await store.recordDeliveryAttempt(ended, 'webhook', 'webhook 503: unavailable');
    await store.recordDeliveryAttempt(ended, 'webhook', null);
    await store.recordDeliveryGivenUp(ended, 'webhook', 'too late'); // delivered already: no effect
    expect(await store.delivery(r.runId, 'webhook')).toEqual({ attempts: 2, lastError: null, deliveredAt: expect.stringMatching(ISO) as string, failedAt: null });
    await store.recordDeliveryGivenUp(ended, 'crm', 'crm 400: rejected');

    const view = await store.runStatus(userId, r.runId);
    expect(view?.deliveries).toEqual({
      webhook: { attempts: 2, last_error: null, delivered_at: expect.stringMatching(ISO) as string, failed_at: null },
      crm: { attempts: 0, last_error: 'crm 400: rejected', delivered_at: null, failed_at: expect.stringMatching(ISO) as string },
    });
    expect(await store.runStatus(randomUUID(), r.runId)).toBeNull();

    const completed = await store.completedRun(r.runId);
    expect(completed).toEqual({
      runId: r.runId,
      campaignId: r.campaignId,
      userId,
      status: 'failed',
      counts: { valid: 1, personalized: 0, needs_review: 0, failed: 1, skipped: 0, suppressed: 0, cancelled: 0 },
      costUsd: '0.000000',
      completedAt: expect.stringMatching(ISO) as string,
      options: {},
    });
  });

  it('is null for an unknown or malformed id', async () => {
    expect(await store.runStatus(randomUUID(), randomUUID())).toBeNull();
    expect(await store.runStatus(randomUUID(), 'runs/../x')).toBeNull();
  });
});

describe('leads', () => {
  it('pages through every lead of the campaign exactly once', async () => {
    const userId = randomUUID();
    const emails = Array.from({ length: 7 }, (_, index) => `page${index}@example.com`);
    const r = await run(userId, ['Email'], emails);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.leads(userId, r.campaignId, { limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      if (page === null) throw new Error('campaign not found');
      seen.push(...page.leads.map((view) => view.id));
      cursor = page.next_cursor ?? undefined;
      pages += 1;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(new Set(r.leadIds));
  });

  it('filters by status and shows what the pipeline wrote', async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email', 'Notes'], ['ok@example.com', 'ko@example.com', 'wait@example.com']);
    await personalizeAndCount(r.leadIds[0]!, r.runId);
    await failAndCount(r.leadIds[1]!, r.runId, 'research failed after 6 attempts');

    const personalized = await store.leads(userId, r.campaignId, { statuses: ['personalized'], limit: 10 });
    expect(personalized).toEqual({
      leads: [
        {
          id: r.leadIds[0],
          run_id: r.runId,
          row: 2,
          email: 'ok@example.com',
          company: 'Acme',
          canonical: { email: 'ok@example.com', company: 'Acme' },
          fields: [['Email', 'ok@example.com'], ['Notes', 'Notes of ok@example.com']],
          status: 'personalized',
          research: RESEARCH.text,
          citations: RESEARCH.citations,
          research_cached: false,
          message: DRAFT.message,
          outputs: {},
          message_basis: DRAFT.basis,
          error: null,
          attempts: 2, // research's and personalization's, each counted by its save
          model: DRAFT.model,
          research_model: RESEARCH.model,
          cost_usd: 0,
          sandbox: false,
          updated_at: anIsoTimestamp,
          settled_at: anIsoTimestamp,
        },
      ],
      next_cursor: null,
    });
    const failed = await store.leads(userId, r.campaignId, { statuses: ['failed'], limit: 10 });
    expect(failed?.leads.map((view) => [view.email, view.error])).toEqual([['ko@example.com', 'research failed after 6 attempts']]);
    const pending = await store.leads(userId, r.campaignId, { statuses: ['pending'], limit: 10 });
    expect(pending?.leads.map((view) => [view.email, view.citations, view.settled_at])).toEqual([['wait@example.com', [], null]]);
    const settled = await store.leads(userId, r.campaignId, { statuses: ['failed', 'personalized'], limit: 10 });
    expect(settled?.leads.map((view) => view.email)).toEqual(['ok@example.com', 'ko@example.com']);
  });

  it('lists in row order (row, then id), each page after the last lead of the one before, within a status or a run', async () => {
    const userId = randomUUID();
    // Stored in another order than their rows, so that an order by id or by insertion would show.
    const first = await run(userId, ['Email'], ['r9@example.com', 'r4@example.com', 'r7@example.com', 'r2@example.com'], undefined, { rows: [9, 4, 7, 2] });
    const second = await run(userId, ['Email'], ['s3@example.com', 's8@example.com'], first.campaignId, { rows: [3, 8] });
    await failAndCount(first.leadIds[1]!, first.runId); // r4
    await failAndCount(second.leadIds[1]!, second.runId); // s8

    const all = async (page: { statuses?: ('failed' | 'pending')[]; runId?: string }) => {
      const seen: [string, number][] = [];
      let cursor: string | undefined;
      do {
        const answer = await store.leads(userId, first.campaignId, { ...page, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...(answer?.leads ?? []).map((view) => [view.email.slice(0, 2), view.row] as [string, number]));
        cursor = answer?.next_cursor ?? undefined;
      } while (cursor !== undefined);
      return seen;
    };
    expect(await all({})).toEqual([['r2', 2], ['s3', 3], ['r4', 4], ['r7', 7], ['s8', 8], ['r9', 9]]);
    expect(await all({ statuses: ['failed'] })).toEqual([['r4', 4], ['s8', 8]]);
    expect(await all({ statuses: ['pending'], runId: first.runId })).toEqual([['r2', 2], ['r7', 7], ['r9', 9]]);
    expect(await all({ runId: second.runId })).toEqual([['s3', 3], ['s8', 8]]);
    expect(await all({ runId: randomUUID() })).toEqual([]);
    expect(await all({ runId: 'not-a-run' })).toEqual([]);
  });

  it('refuses a cursor it did not hand out', async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['c@example.com']);
    const idOnly = Buffer.from(r.leadIds[0]!).toString('base64url'); // the cursor of the listing by id, before 0019
    for (const cursor of ['not base64!', Buffer.from('not-a-uuid').toString('base64url'), '', idOnly, Buffer.from(`99999999999:${r.leadIds[0]}`).toString('base64url')]) {
      await expect(store.leads(userId, r.campaignId, { cursor, limit: 5 })).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });
});

describe('settledLeads', () => {
  it('feeds settled leads once each, in the order they settled, each with its progress id', async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['s1@example.com', 's2@example.com', 's3@example.com']);
    const [first, second, third] = r.leadIds as [string, string, string];
    expect(await store.settledLeads(userId, r.runId, null, 10)).toEqual({ leads: [], cursor: null });
    await personalizeAndCount(first, r.runId);
    await failAndCount(second, r.runId);

    // Listed once no older transaction in the cluster is still open: at once, or nearly.
    const one = await eventually(async () => {
      const page = await store.settledLeads(userId, r.runId, null, 1);
      return page.leads.length > 0 ? page : undefined;
    });
    expect(one.leads.map((view) => view.id)).toEqual([first]);
    expect(one.cursor).toBe(one.leads[0]?.progress);
    const two = await eventually(async () => {
      const page = await store.settledLeads(userId, r.runId, one.cursor, 10);
      return page.leads.length > 0 ? page : undefined;
    });
    expect(two.leads.map((view) => [view.id, view.status])).toEqual([[second, 'failed']]);
    expect(await store.settledLeads(userId, r.runId, two.cursor, 10)).toEqual({ leads: [], cursor: two.cursor });

    await failAndCount(third, r.runId);
    expect(await store.completeIfSettled(r.runId)).not.toBeNull();
    const three = await store.settledLeads(userId, r.runId, two.cursor, 10);
    expect(three.leads.map((view) => view.id)).toEqual([third]);
    expect(progressOrder([one.cursor!, two.cursor!, three.cursor!])).toEqual([one.cursor, two.cursor, three.cursor]);
  });

  it('never lets a cursor pass a lead whose settling transaction commits after a later one', async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['early@example.com', 'late@example.com']);
    const [early, late] = r.leadIds as [string, string];
    // `early` settles first, in a transaction that stays open while `late` settles and commits.
    const open = await db.sql.reserve();
    try {
      await open`begin`;
      await open`update leads set status = 'failed', error = 'slow', settled_at = clock_timestamp() where id = ${early}`;
      await store.saveFailed(late, r.runId, 'fast');
      // Longer than the 1 s the feed used to wait: the open transaction holds `late` back, not a clock.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect((await store.settledLeads(userId, r.runId, null, 10)).leads).toEqual([]);
      await open`commit`;
    } finally {
      open.release();
    }
    const fed = await eventually(async () => {
      const page = await store.settledLeads(userId, r.runId, null, 10);
      return page.leads.length === 2 ? page.leads : undefined;
    });
    expect(fed.map((view) => view.id)).toEqual([early, late]);
  });

  it('lists a lead held back by a transaction left open, once it has waited 30 seconds', async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['stuck@example.com']);
    const [stuck] = r.leadIds as [string];
    const open = await db.sql.reserve();
    try {
      await open`begin`;
      await open`select pg_current_xact_id()`; // an unrelated writer's transaction, left open
      await store.saveFailed(stuck, r.runId, 'done');
      expect((await store.settledLeads(userId, r.runId, null, 10)).leads).toEqual([]);
      expect((await store.latestSettledLeads(userId, r.runId, 10)).leads).toEqual([]);
      // Its settled_at a minute back, its progress id kept (the trigger would draw a new one).
      await db.sql.begin(async (tx) => {
        await tx`alter table leads disable trigger leads_progress_cursor_on_settle`;
        await tx`update leads set settled_at = settled_at - interval '1 minute' where id = ${stuck}`;
        await tx`alter table leads enable trigger leads_progress_cursor_on_settle`;
      });
      expect((await store.settledLeads(userId, r.runId, null, 10)).leads.map((view) => view.id)).toEqual([stuck]);
      expect((await store.latestSettledLeads(userId, r.runId, 10)).leads.map((view) => view.id)).toEqual([stuck]);
      await open`rollback`;
    } finally {
      open.release();
    }
  });

  it('gives the latest leads and where the feed goes on from', async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['l1@example.com', 'l2@example.com', 'l3@example.com', 'l4@example.com', 'l5@example.com']);
    expect(await store.latestSettledLeads(userId, r.runId, 2)).toEqual({ leads: [], before: PROGRESS_START, earlier: false });
    for (const leadId of r.leadIds) await failAndCount(leadId, r.runId);

    // A lead is listed once every transaction older than its own has ended, on the whole server:
    // other test files' transactions can hold the newest back for a moment.
    await eventually(async () => ((await store.settledLeads(userId, r.runId, PROGRESS_START, 10)).leads.length === 5 ? true : undefined));
    const latest = await store.latestSettledLeads(userId, r.runId, 2);
    expect(latest.leads.map((view) => view.id)).toEqual(r.leadIds.slice(3));
    expect(latest.earlier).toBe(true);
    // Resuming after `before` gives exactly the two, then nothing.
    const after = await store.settledLeads(userId, r.runId, latest.before, 10);
    expect(after.leads.map((view) => view.progress)).toEqual(latest.leads.map((view) => view.progress));
    expect((await store.settledLeads(userId, r.runId, PROGRESS_START, 10)).leads.map((view) => view.id)).toEqual(r.leadIds);

    const all = await store.latestSettledLeads(userId, r.runId, 10);
    expect(all).toMatchObject({ before: PROGRESS_START, earlier: false });
    expect(all.leads.map((view) => view.id)).toEqual(r.leadIds);
  });

  it('refuses a cursor it did not hand out', async () => {
    for (const forged of [Buffer.from(JSON.stringify(['yesterday', randomUUID()])).toString('base64url'), '1-', '-1', '1-2-3', '99999999999999999999999-1', ' 1-2']) {
      await expect(store.settledLeads(randomUUID(), randomUUID(), forged, 10)).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });
});

/** Progress ids sorted as the feed orders them: by transaction, then by sequence value. */
function progressOrder(ids: readonly string[]): string[] {
  const key = (id: string) => id.split('-').map(BigInt) as [bigint, bigint];
  return [...ids].sort((a, b) => {
    const [ax, as] = key(a);
    const [bx, bs] = key(b);
    return ax !== bx ? (ax < bx ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0;
  });
}

/** Polls `read` until it answers something (other transactions in the cluster may hold the feed back a moment). */
async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('exportLeads', () => {
  const leadsOf = (rows: readonly ExportRow[]) => rows.flatMap((row) => (row.kind === 'lead' ? [row.lead] : []));

  it('gives every lead in row order under the union of the runs’ headers', async () => {
    const userId = randomUUID();
    const first = await run(userId, ['Email', 'Company', 'Notes'], ['one@example.com', 'two@example.com', 'lost@example.com']);
    await failAndCount(first.leadIds[2]!, first.runId); // taken over by the second run below
    const second = await run(userId, ['Email', 'Website', 'Company', 'Notes', 'Notes'], ['three@example.com', 'lost@example.com'], first.campaignId, {
      rows: [5, 6],
    });

    const exported = await store.exportLeads(userId, first.campaignId);
    if (exported === null) throw new Error('campaign not found');
    expect(exported.campaign_name).toBe('Outbound');
    expect(exported.headers).toEqual(['Email', 'Company', 'Notes', 'Website', 'Notes']);
    const leads = leadsOf(await collect(exported.rows));
    expect(leads.map((view) => [view.email, view.run_id, view.row])).toEqual([
      ['one@example.com', first.runId, 2],
      ['two@example.com', first.runId, 3],
      ['three@example.com', second.runId, 5],
      ['lost@example.com', second.runId, 6],
    ]);
    expect(leads[3]?.fields.map(([header]) => header)).toEqual(['Email', 'Website', 'Company', 'Notes', 'Notes']);
  });

  it("merges in the latest file's rows that are not leads at their rows, under that file's headers", async () => {
    const userId = randomUUID();
    const earlier = await run(userId, ['Email', 'Company'], ['ann@example.com'], undefined, {
      importRows: [{ row: 3, status: 'rejected', reason: 'row 3: company is empty', cells: ['old@example.com', ''] }],
    });
    const latest = await run(userId, ['Email', 'Company', 'City'], ['bob@example.com', 'eve@example.com'], earlier.campaignId, {
      rows: [3, 6],
      importRows: [
        { row: 2, status: 'rejected', reason: "row 2: email 'x@' is not a valid address", cells: ['x@', 'Xco', 'Oslo'] },
        { row: 4, status: 'duplicate', reason: 'row 4: same email as row 3', cells: ['bob@example.com', 'Bco', ''] },
        { row: 7, status: 'rejected', reason: 'row 7: email is empty', cells: null },
      ],
    });
    await personalizeAndCount(latest.leadIds[0]!, latest.runId);

    const exported = (await store.exportLeads(userId, earlier.campaignId))!;
    expect(exported.headers).toEqual(['Email', 'Company', 'City']);
    const rows = (await collect(exported.rows)).map((row) =>
      row.kind === 'lead' ? ['lead', row.lead.row, row.lead.email, row.lead.status] : [row.row.status, row.row.row, row.row.reason, row.row.fields, row.row.run_id],
    );
    // A lead first when a row of another file has its number.
    expect(rows).toEqual([
      ['lead', 2, 'ann@example.com', 'pending'],
      ['rejected', 2, "row 2: email 'x@' is not a valid address", [['Email', 'x@'], ['Company', 'Xco'], ['City', 'Oslo']], latest.runId],
      ['lead', 3, 'bob@example.com', 'personalized'],
      ['duplicate', 4, 'row 4: same email as row 3', [['Email', 'bob@example.com'], ['Company', 'Bco'], ['City', '']], latest.runId],
      ['lead', 6, 'eve@example.com', 'pending'],
      ['rejected', 7, 'row 7: email is empty', [], latest.runId],
    ]);

    const personalized = (await store.exportLeads(userId, earlier.campaignId, { onlyPersonalized: true }))!;
    expect((await collect(personalized.rows)).map((row) => (row.kind === 'lead' ? row.lead.email : row.kind))).toEqual(['bob@example.com']);
  });

  it('streams a large campaign in order and lets go of its connection when the reader stops early', async () => {
    const userId = randomUUID();
    const emails = Array.from({ length: 1_234 }, (_, index) => `bulk${index}@example.com`);
    const r = await run(userId, ['Email'], emails);
    const exported = await store.exportLeads(userId, r.campaignId);
    const leads = leadsOf(await collect(exported!.rows));
    expect(leads.map((view) => view.row)).toEqual(emails.map((_, index) => index + 2));

    // More early stops than the pool (4) has connections: each must give its connection back.
    for (let stop = 0; stop < 6; stop += 1) {
      for await (const row of (await store.exportLeads(userId, r.campaignId))!.rows) {
        expect(row.kind === 'lead' && row.lead.row).toBe(2);
        break;
      }
    }
    expect((await store.runStatus(userId, r.runId))?.valid).toBe(1_234);
  });

  it("is null for another user's campaign, an unknown one and a malformed id", async () => {
    const userId = randomUUID();
    const r = await run(userId, ['Email'], ['mine@example.com']);
    expect(await store.exportLeads(randomUUID(), r.campaignId)).toBeNull();
    expect(await store.exportLeads(userId, randomUUID())).toBeNull();
    expect(await store.exportLeads(userId, 'campaigns/../x')).toBeNull();
  });
});

describe('metrics', () => {
  it('are zeros for a user with none, then the exact totals', async () => {
    const userId = randomUUID();
    expect(await store.metrics(userId)).toEqual({ leads_personalized: 0, hours_saved: '0.00', money_saved: '0.00', updated_at: null });
    const r = await run(userId, ['Email'], ['k1@example.com', 'k2@example.com']);
    for (const leadId of r.leadIds) await personalizeAndCount(leadId, r.runId);
    expect(await store.metrics(userId)).toEqual({
      leads_personalized: 2,
      hours_saved: '0.04',
      money_saved: '0.08',
      updated_at: anIsoTimestamp,
    });
  });
});

describe('tenant isolation', () => {
  it("gives another user nothing of a user's runs, campaigns, leads or KPIs", async () => {
    const owner = randomUUID();
    const stranger = randomUUID();
    const r = await run(owner, ['Email'], ['mine@example.com', 'ours@example.com']);
    await personalizeAndCount(r.leadIds[0]!, r.runId);
    const ownPage = await store.leads(owner, r.campaignId, { limit: 10 });
    expect(ownPage?.leads).toHaveLength(2);
    await eventually(async () => ((await store.settledLeads(owner, r.runId, null, 10)).leads.length === 1 ? true : undefined));

    expect(await store.runStatus(stranger, r.runId)).toBeNull();
    expect(await store.leads(stranger, r.campaignId, { limit: 10 })).toBeNull();
    expect(await store.settledLeads(stranger, r.runId, null, 10)).toEqual({ leads: [], cursor: null });
    expect(await store.exportLeads(stranger, r.campaignId)).toBeNull();
    expect(await store.metrics(stranger)).toEqual({ leads_personalized: 0, hours_saved: '0.00', money_saved: '0.00', updated_at: null });
    // Neither does a campaign id passed as a run id, nor the other way round.
    expect(await store.runStatus(owner, r.campaignId)).toBeNull();
    expect(await store.leads(owner, r.runId, { limit: 10 })).toBeNull();
  });
});
