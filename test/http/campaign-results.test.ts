import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGet, seedRun, settleLead, startTestServer, testUser, type SeededRun, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

interface LeadJson {
  id: string;
  run_id: string;
  row: number;
  email: string;
  status: string;
  message: string | null;
  error: string | null;
  fields: Record<string, string>;
  [key: string]: unknown;
}

interface PageJson {
  leads: LeadJson[];
  next_cursor: string | null;
}

/** Seven leads in file order a..g. */
const CSV = ['Email,Company,Notes,Notes', ...'abcdefg'.split('').map((c) => `${c}@example.com,Co ${c},note ${c},second ${c}`)].join('\n');

describe('GET /api/campaigns/results/:campaignId', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let run: SeededRun;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
    run = await seedRun(server, { userId: alice.id, csv: CSV });
    const id = (letter: string) => run.leadIds.get(`${letter}@example.com`)!;
    for (const letter of 'abc') await settleLead(server, run.runId, id(letter), { message: `Hi ${letter}` });
    for (const letter of 'de') await settleLead(server, run.runId, id(letter), { error: `failed ${letter}` });
  });
  afterAll(() => server.close());

  const results = (query = '', user: TestUser = alice, campaignId = run.campaignId) =>
    apiGet(server.baseUrl, `/api/campaigns/results/${campaignId}${query}`, user);

  async function allPages(query: string): Promise<{ leads: LeadJson[]; pages: number }> {
    const leads: LeadJson[] = [];
    let pages = 0;
    for (let cursor: string | null = ''; cursor !== null; ) {
      const res = await results(`?${query}${cursor === '' ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      expect(res.status).toBe(200);
      const page = await readJson<PageJson>(res);
      leads.push(...page.leads);
      pages += 1;
      cursor = page.next_cursor;
    }
    return { leads, pages };
  }

  it('lists the leads with their outcome and original columns, 100 to a page by default', async () => {
    const page = await readJson<PageJson>(await results());
    expect(page.next_cursor).toBeNull();
    expect(page.leads).toHaveLength(7);
    const a = page.leads.find((lead) => lead.email === 'a@example.com');
    expect(a).toMatchObject({
      run_id: run.runId,
      row: 2,
      status: 'personalized',
      message: 'Hi a',
      error: null,
      research: 'Research.',
      citations: [{ url: 'https://example.com/' }],
      fields: { Email: 'a@example.com', Company: 'Co a', Notes: 'note a', 'Notes (2)': 'second a' },
    });
    expect(Object.keys(a?.fields ?? {})).toEqual(['Email', 'Company', 'Notes', 'Notes (2)']);
    expect(page.leads.find((lead) => lead.email === 'd@example.com')).toMatchObject({ status: 'failed', message: null, error: 'failed d' });
  });

  it('pages by cursor through every lead exactly once', async () => {
    const { leads, pages } = await allPages('limit=3');
    expect(pages).toBe(3);
    expect(leads.map((lead) => lead.id).sort()).toEqual([...run.leadIds.values()].sort());
    const sizes = await readJson<PageJson>(await results('?limit=1'));
    expect(sizes.leads).toHaveLength(1);
    expect(sizes.next_cursor).not.toBeNull();
  });

  it('filters by status, paging within the filter', async () => {
    const personalized = await allPages('status=personalized&limit=2');
    expect(personalized.leads.map((lead) => lead.email).sort()).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    expect(personalized.pages).toBe(2);
    const failed = await allPages('status=failed');
    expect(failed.leads.map((lead) => lead.email).sort()).toEqual(['d@example.com', 'e@example.com']);
    const pending = await allPages('status=pending');
    expect(pending.leads.map((lead) => lead.status)).toEqual(['pending', 'pending']);
    expect((await allPages('status=needs_review')).leads).toEqual([]);
  });

  it('answers 400 for an unknown status, a limit outside 1..500 and a cursor it did not hand out', async () => {
    for (const [query, detail] of [
      ['?status=done', /status must be one of pending, researched, personalized, needs_review, failed/],
      ['?limit=0', /limit must be a whole number from 1 to 500/],
      ['?limit=501', /limit must be a whole number from 1 to 500/],
      ['?limit=ten', /limit must be a whole number from 1 to 500/],
      ['?cursor=not-a-cursor', /cursor/],
      ['?cursor=%21%21', /cursor/],
    ] as const) {
      const body = await expectProblem(await results(query), 400);
      expect(body.detail).toMatch(detail);
    }
    expect((await results('?limit=500')).status).toBe(200);
  });

  it('answers 404, with none of the leads, for another user, an unknown campaign and a malformed id', async () => {
    for (const [user, id] of [
      [bob, run.campaignId],
      [alice, randomUUID()],
      [alice, 'campaign'],
    ] as const) {
      const body = await expectProblem(await results('', user, id), 404);
      expect(JSON.stringify(body)).not.toContain('example.com');
    }
    // Even with a cursor that is valid for the owner.
    const cursor = (await readJson<PageJson>(await results('?limit=1'))).next_cursor!;
    await expectProblem(await results(`?cursor=${cursor}`, bob), 404);
  });
});

describe('GET /api/campaigns/export/:campaignId', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  /** The rows of a CSV response (text() decodes UTF-8 and drops the BOM). */
  const csvRows = async (res: Response): Promise<string[][]> => parse(await res.text());

  const exportCsv = (campaignId: string, user: TestUser = alice) => apiGet(server.baseUrl, `/api/campaigns/export/${campaignId}`, user);

  it('is a UTF-8 CSV download with a BOM: original columns in order, then the four added ones, one row per lead', async () => {
    const csv = ['First Name,Email,Company,Notes,Notes', 'Zoé,zoe@example.com,Acme,"multi\nline","say ""hi"""', 'Al,al@example.com,Beta,,x'].join('\n');
    const run = await seedRun(server, { userId: alice.id, csv });
    await settleLead(server, run.runId, run.leadIds.get('zoe@example.com')!, { message: 'Bonjour Zoé, "great" launch' });

    const res = await exportCsv(run.campaignId);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="campaign-${run.campaignId}.csv"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);

    const text = new TextDecoder().decode(bytes.slice(3));
    expect(text.split('\r\n', 1)[0]).toBe('First Name,Email,Company,Notes,Notes,personalized_message,enrichment_status,error,cost_usd');
    const rows = parse(text);
    expect(rows).toEqual([
      ['First Name', 'Email', 'Company', 'Notes', 'Notes', 'personalized_message', 'enrichment_status', 'error', 'cost_usd'],
      ['Zoé', 'zoe@example.com', 'Acme', 'multi\nline', 'say "hi"', 'Bonjour Zoé, "great" launch', 'personalized', '', '0.000000'],
      ['Al', 'al@example.com', 'Beta', '', 'x', '', 'pending', '', '0.000000'],
    ]);
  });

  it('puts the headers of every run in order of first appearance, a lead lacking one getting an empty cell', async () => {
    const first = await seedRun(server, { userId: alice.id, csv: 'email,company,title\nann@example.com,Acme,CEO\n' });
    const second = await seedRun(server, { userId: alice.id, campaignId: first.campaignId, csv: 'company,email,city\nBeta,bob@example.com,Oslo\n' });
    await settleLead(server, second.runId, second.leadIds.get('bob@example.com')!, { error: 'provider rejected the lead' });

    const rows = await csvRows(await exportCsv(first.campaignId));
    expect(rows).toEqual([
      ['email', 'company', 'title', 'city', 'personalized_message', 'enrichment_status', 'error', 'cost_usd'],
      ['ann@example.com', 'Acme', 'CEO', '', '', 'pending', '', '0.000000'],
      ['bob@example.com', 'Beta', '', 'Oslo', '', 'failed', 'provider rejected the lead', '0.000000'],
    ]);
  });

  it('suffixes an added column " (aga)" when the file already has a column of that name', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: 'email,company,error,enrichment_status\nann@example.com,Acme,none,raw\n' });
    const [header, row] = await csvRows(await exportCsv(run.campaignId));
    expect(header).toEqual(['email', 'company', 'error', 'enrichment_status', 'personalized_message', 'enrichment_status (aga)', 'error (aga)', 'cost_usd']);
    expect(row).toEqual(['ann@example.com', 'Acme', 'none', 'raw', '', 'pending', '', '0.000000']);
  });

  it('neutralizes every cell that a spreadsheet would run as a formula, headers and messages included', async () => {
    const triggers = ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx'];
    const csv = [
      'email,company,=cmd',
      ...triggers.map((value, i) => `lead${i}@example.com,Co ${i},"${value}"`),
      'safe@example.com,Safe,plain',
    ].join('\n');
    const run = await seedRun(server, { userId: alice.id, csv });
    await settleLead(server, run.runId, run.leadIds.get('lead0@example.com')!, { message: '=HYPERLINK("http://evil.example")' });

    const rows = await csvRows(await exportCsv(run.campaignId));
    expect(rows[0]?.[2]).toBe("'=cmd");
    const byEmail = new Map(rows.slice(1).map((row) => [row[0], row]));
    triggers.forEach((value, i) => expect(byEmail.get(`lead${i}@example.com`)?.[2]).toBe(`'${value}`));
    expect(byEmail.get('lead0@example.com')?.[3]).toBe(`'=HYPERLINK("http://evil.example")`);
    expect(byEmail.get('safe@example.com')?.slice(1, 3)).toEqual(['Safe', 'plain']);
  });

  it('answers 404 for another user\'s campaign, an unknown one and a malformed id, without a CSV', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: 'email,company\nsecret@example.com,Acme\n' });
    for (const [user, id] of [
      [bob, run.campaignId],
      [alice, randomUUID()],
      [alice, '123'],
    ] as const) {
      const res = await exportCsv(id, user);
      expect(res.headers.get('content-disposition')).toBeNull();
      const body = await expectProblem(res, 404);
      expect(JSON.stringify(body)).not.toContain('secret@example.com');
    }
  });
});

describe('GET /api/campaigns/runs/:runId/report', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  it("serves the run's import report (every rejected row and why) to its owner only; 409 while the file is being read", async () => {
    const run = await seedRun(server, { userId: alice.id, csv: 'email,company\nann@example.com,Acme\nbob@,Beta\nann@example.com,Acme\ncid@example.com,\n' });
    const body = await readJson<{ run_id: string; total_rows: number; valid: number; duplicates: number; rejected: { row: number; reason: string }[] }>(
      await apiGet(server.baseUrl, `/api/campaigns/runs/${run.runId}/report`, alice),
    );
    expect(body).toMatchObject({ run_id: run.runId, total_rows: 4, valid: 1, duplicates: 1 });
    expect(body.rejected.map((rejected) => rejected.row)).toEqual([3, 5]);
    expect(body.rejected[0]?.reason).toMatch(/email/);

    await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/runs/${run.runId}/report`, bob), 404);
    await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/runs/${randomUUID()}/report`, alice), 404);

    const { runId } = await server.store.createRun({ userId: alice.id, campaignName: 'Still reading', demo: false, fileName: 'leads.csv' });
    const reading = await apiGet(server.baseUrl, `/api/campaigns/runs/${runId}/report`, alice);
    expect(reading.headers.get('retry-after')).toBe('2');
    await expectProblem(reading, 409);
  });
});
