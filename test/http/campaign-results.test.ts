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
  enrichment_status: string;
  personalized_message: string | null;
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

  it("lists the leads in file order with their original columns and result, under the export's names, 100 to a page by default", async () => {
    const page = await readJson<PageJson>(await results());
    expect(page.next_cursor).toBeNull();
    expect(page.leads.map((lead) => [lead.row, lead.email])).toEqual([...'abcdefg'].map((letter, index) => [index + 2, `${letter}@example.com`]));
    const a = page.leads[0];
    expect(a).toEqual({
      id: run.leadIds.get('a@example.com'),
      run_id: run.runId,
      row: 2,
      email: 'a@example.com',
      company: 'Co a',
      canonical: { email: 'a@example.com', company: 'Co a' },
      fields: { Email: 'a@example.com', Company: 'Co a', Notes: 'note a', 'Notes (2)': 'second a' },
      personalized_message: 'Hi a',
      enrichment_status: 'personalized',
      error: null,
      unsupported_specifics: [],
      research_summary: 'Research.',
      sources: ['https://example.com/'],
      message_basis: 'Research.',
      model: 'test-model',
      research_model: 'test-model',
      cost_usd: 0,
      outputs: {},
      sandbox: false,
      research_cached: false,
      attempts: 2,
      updated_at: expect.any(String) as string,
      settled_at: expect.any(String) as string,
    });
    expect(Object.keys(a?.fields ?? {})).toEqual(['Email', 'Company', 'Notes', 'Notes (2)']);
    expect(page.leads[3]).toMatchObject({ email: 'd@example.com', enrichment_status: 'failed', personalized_message: null, error: 'failed d', sources: [] });
  });

  it('pages by cursor through every lead exactly once, in file order', async () => {
    const { leads, pages } = await allPages('limit=3');
    expect(pages).toBe(3);
    expect(leads.map((lead) => lead.email)).toEqual([...'abcdefg'].map((letter) => `${letter}@example.com`));
    expect(leads.map((lead) => lead.id).sort()).toEqual([...run.leadIds.values()].sort());
    const sizes = await readJson<PageJson>(await results('?limit=1'));
    expect(sizes.leads).toHaveLength(1);
    expect(sizes.next_cursor).not.toBeNull();
  });

  it('filters by one or several statuses and by run, paging within the filter', async () => {
    const personalized = await allPages('status=personalized&limit=2');
    expect(personalized.leads.map((lead) => lead.email)).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    expect(personalized.pages).toBe(2);
    const failed = await allPages('status=failed');
    expect(failed.leads.map((lead) => lead.email)).toEqual(['d@example.com', 'e@example.com']);
    const pending = await allPages('status=pending');
    expect(pending.leads.map((lead) => lead.enrichment_status)).toEqual(['pending', 'pending']);
    expect((await allPages('status=needs_review')).leads).toEqual([]);
    const several = await allPages('status=pending,%20failed&limit=3');
    expect(several.leads.map((lead) => [lead.email, lead.enrichment_status])).toEqual([
      ['d@example.com', 'failed'],
      ['e@example.com', 'failed'],
      ['f@example.com', 'pending'],
      ['g@example.com', 'pending'],
    ]);
    expect(several.pages).toBe(2);

    expect((await allPages(`run_id=${run.runId}&status=failed`)).leads.map((lead) => lead.email)).toEqual(['d@example.com', 'e@example.com']);
    expect((await allPages(`run_id=${randomUUID()}`)).leads).toEqual([]);
  });

  it('searches email, company and line ignoring case (% and _ plain), with the status filter and across pages', async () => {
    const emails = async (query: string) => (await allPages(query)).leads.map((lead) => lead.email);
    expect(await emails('q=CO%20B')).toEqual(['b@example.com']);
    expect(await emails('q=hi%20')).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    expect(await emails('q=hi&status=personalized&limit=1')).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    expect(await emails('q=g@EXAMPLE')).toEqual(['g@example.com']);
    expect(await emails('q=%25')).toEqual([]);
    expect(await emails('q=_')).toEqual([]);
    expect(await emails('q=%20%20')).toHaveLength(7);
    expect((await expectProblem(await results(`?q=${'x'.repeat(201)}`), 400)).detail).toMatch(/q must be at most 200 characters/);
  });

  it('finds a lead by the very text it shows, whatever the letters (PostgreSQL lowers both sides alike), and answers 400 for a NUL', async () => {
    // JavaScript's and PostgreSQL's lower() differ outside ASCII: 'ΣΟΦΟΣ'.toLowerCase() ends in ς,
    // lower('ΣΟΦΟΣ') in σ; a term lowered by one and the text by the other never matched.
    const greek = await seedRun(server, { userId: alice.id, csv: 'Email,Company\nsofos@example.gr,ΣΟΦΟΣ ΑΕ\nother@example.gr,Άλλη\n' });
    const emails = async (q: string) =>
      (await readJson<PageJson>(await results(`?q=${encodeURIComponent(q)}`, alice, greek.campaignId))).leads.map((lead) => lead.email);
    expect(await emails('ΣΟΦΟΣ')).toEqual(['sofos@example.gr']);
    expect(await emails('ΣΟΦΟΣ ΑΕ')).toEqual(['sofos@example.gr']);
    expect(await emails('άλλη')).toEqual(['other@example.gr']);
    expect((await expectProblem(await results('?q=a%00b'), 400)).detail).toMatch(/q must not contain a NUL character/);
    // Another user's campaign, searched: not found, as unsearched.
    await expectProblem(await results('?q=sofos', bob, greek.campaignId), 404);
  });

  it('answers 400 for an unknown status, a malformed run id, a limit outside 1..500 and a cursor it did not hand out', async () => {
    for (const [query, detail] of [
      ['?status=done', /status must be one or more \(comma-separated\) of pending, researched, personalized, needs_review, failed/],
      ['?status=failed,done', /status must be one or more/],
      ['?status=', /status must be one or more/],
      ['?run_id=last', /run_id must be the id of one of the campaign's runs/],
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

  const exportCsv = (campaignId: string, user: TestUser = alice, query = '') => apiGet(server.baseUrl, `/api/campaigns/export/${campaignId}${query}`, user);

  const ADDED = ['personalized_message', 'enrichment_status', 'error', 'unsupported_specifics', 'research_summary', 'sources', 'message_basis', 'model', 'research_model', 'cost_usd'];
  const today = () => new Date().toISOString().slice(0, 10);

  it('is a UTF-8 CSV download with a BOM named after the campaign: original columns in order, then the result, one row per lead', async () => {
    const csv = ['First Name,Email,Company,Notes,Notes', 'Zoé,zoe@example.com,Acme,"multi\nline","say ""hi"""', 'Al,al@example.com,Beta,,x'].join('\n');
    const run = await seedRun(server, { userId: alice.id, csv, campaignName: 'Équipe Q4' });
    await settleLead(server, run.runId, run.leadIds.get('zoe@example.com')!, { message: 'Bonjour Zoé, "great" launch' });

    const before = today();
    const res = await exportCsv(run.campaignId);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const day = [before, today()];
    expect(day.map((date) => `attachment; filename="equipe-q4-${date}.csv"; filename*=UTF-8''%C3%A9quipe-q4-${date}.csv`)).toContain(res.headers.get('content-disposition'));
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);

    const text = new TextDecoder().decode(bytes.slice(3));
    expect(text.split('\r\n', 1)[0]).toBe(`First Name,Email,Company,Notes,Notes,${ADDED.join(',')}`);
    const rows = parse(text);
    expect(rows).toEqual([
      ['First Name', 'Email', 'Company', 'Notes', 'Notes', ...ADDED],
      ['Zoé', 'zoe@example.com', 'Acme', 'multi\nline', 'say "hi"', 'Bonjour Zoé, "great" launch', 'personalized', '', '', 'Research.', 'https://example.com/', 'Research.', 'test-model', 'test-model', '0.000000'],
      ['Al', 'al@example.com', 'Beta', '', 'x', '', 'pending', '', '', '', '', '', '', '', '0.000000'],
    ]);
  });

  it('has a row for every row of the file, in file order: rejected and duplicate rows with their reason', async () => {
    const csv = [
      'Email,Company,City',
      'ann@example.com,Acme,Oslo',
      'bob@,Beta,Rome', // rejected: no valid address
      'ANN@example.com,Acme again,Oslo', // a duplicate of row 2
      '',
      'cid@example.com,,Lima', // rejected: no company
      'dan@example.com,Delta,Pune',
      'eve@example.com,Echo,Kyiv,extra', // rejected: a cell too many
    ].join('\r\n');
    const run = await seedRun(server, { userId: alice.id, csv });
    await settleLead(server, run.runId, run.leadIds.get('dan@example.com')!, { message: 'Hi Dan' });

    const rows = await csvRows(await exportCsv(run.campaignId));
    expect(rows.map((row) => row.slice(0, 6))).toEqual([
      ['Email', 'Company', 'City', 'personalized_message', 'enrichment_status', 'error'],
      ['ann@example.com', 'Acme', 'Oslo', '', 'pending', ''],
      ['bob@', 'Beta', 'Rome', '', 'rejected', "row 3: email 'bob@' is not a valid address"],
      ['ANN@example.com', 'Acme again', 'Oslo', '', 'duplicate', 'row 4: same email as row 2'],
      ['cid@example.com', '', 'Lima', '', 'rejected', 'row 6: company is empty'],
      ['dan@example.com', 'Delta', 'Pune', 'Hi Dan', 'personalized', ''],
      ['eve@example.com', 'Echo', 'Kyiv', '', 'rejected', "row 8: 4 cells but the header has 3 — a value probably contains an unquoted separator (put that value in double quotes)"],
    ]);

    const personalized = await csvRows(await exportCsv(run.campaignId, alice, '?only=personalized'));
    expect(personalized.map((row) => row.slice(0, 5))).toEqual([
      ['Email', 'Company', 'City', 'personalized_message', 'enrichment_status'],
      ['dan@example.com', 'Delta', 'Pune', 'Hi Dan', 'personalized'],
    ]);
  });

  it("names the line's column as the sequencer asks: Instantly's and Smartlead's personalization, lemlist's icebreaker", async () => {
    const run = await seedRun(server, { userId: alice.id, csv: 'Email,Company,personalization\nann@example.com,Acme,their own line\n' });
    await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });
    for (const [tool, header] of [
      ['instantly', ['Email', 'Company', 'personalization (original)', 'personalization']],
      ['smartlead', ['Email', 'Company', 'personalization (original)', 'personalization']],
      ['lemlist', ['Email', 'Company', 'personalization', 'icebreaker']],
    ] as const) {
      const res = await exportCsv(run.campaignId, alice, `?for=${tool}&only=personalized`);
      // Named after the shape too, so that a campaign's downloads of one day are told apart.
      expect(res.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="[a-z0-9-]+-\\d{4}-\\d{2}-\\d{2}-${tool}-personalized\\.csv"`));
      const [first, row] = await csvRows(res);
      expect(first?.slice(0, 5)).toEqual([...header, 'enrichment_status']);
      expect(row?.slice(0, 5)).toEqual(['ann@example.com', 'Acme', 'their own line', 'Hi Ann', 'personalized']);
    }
    for (const [query, detail] of [
      ['?for=hubspot', /^for must be one of instantly, smartlead, lemlist$/],
      ['?only=failed', /^only must be personalized/],
    ] as const) {
      const res = await exportCsv(run.campaignId, alice, query);
      expect(res.headers.get('content-disposition')).toBeNull();
      expect((await expectProblem(res, 400)).detail).toMatch(detail);
    }
  });

  it('puts the headers of every run in order of first appearance, a lead lacking one getting an empty cell', async () => {
    const first = await seedRun(server, { userId: alice.id, csv: 'email,company,title\nann@example.com,Acme,CEO\n' });
    // Row 3 of its file (a blank line above it): the export is in row order, whatever the file.
    const second = await seedRun(server, { userId: alice.id, campaignId: first.campaignId, csv: 'company,email,city\n\nBeta,bob@example.com,Oslo\n' });
    await settleLead(server, second.runId, second.leadIds.get('bob@example.com')!, { error: 'provider rejected the lead' });

    const rows = await csvRows(await exportCsv(first.campaignId));
    expect(rows.map((row) => [...row.slice(0, 7), row.at(-1)])).toEqual([
      ['email', 'company', 'title', 'city', 'personalized_message', 'enrichment_status', 'error', 'cost_usd'],
      ['ann@example.com', 'Acme', 'CEO', '', '', 'pending', '', '0.000000'],
      ['bob@example.com', 'Beta', '', 'Oslo', '', 'failed', 'provider rejected the lead', '0.000000'],
    ]);
  });

  it('suffixes an added column " (aga)" when the file already has a column of that name', async () => {
    const run = await seedRun(server, { userId: alice.id, csv: 'email,company,error,enrichment_status\nann@example.com,Acme,none,raw\n' });
    const [header, row] = await csvRows(await exportCsv(run.campaignId));
    expect(header).toEqual(['email', 'company', 'error', 'enrichment_status', 'personalized_message', 'enrichment_status (aga)', 'error (aga)', ...ADDED.slice(3)]);
    expect(row).toEqual(['ann@example.com', 'Acme', 'none', 'raw', '', 'pending', '', '', '', '', '', '', '', '0.000000']);
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
