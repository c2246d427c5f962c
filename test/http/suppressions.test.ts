/** `/api/suppressions` on the real edge and PostgreSQL: the list's CRUD and its CSV import. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

interface EntryJson {
  id: string;
  value: string;
  kind: 'email' | 'domain';
  created_at: string;
}

interface PageJson {
  suppressions: EntryJson[];
  next_cursor: string | null;
}

interface AddedJson {
  added: number;
  already_present: number;
  duplicates: number;
  invalid: { value: string; reason: string }[];
  suppressions: EntryJson[];
}

interface ImportJson {
  total_rows: number;
  column: string | null;
  added: number;
  already_present: number;
  duplicates: number;
  invalid: { row: number; reason: string }[];
}

describe('/api/suppressions', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const call = (user: TestUser | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}/api/suppressions${path}`, {
      method,
      headers: {
        ...(user === null ? {} : { Authorization: `Bearer ${user.token}` }),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  async function list(user: TestUser, query = ''): Promise<PageJson> {
    const res = await call(user, 'GET', query);
    expect(res.status).toBe(200);
    return readJson<PageJson>(res);
  }

  function upload(user: TestUser, content: string | Uint8Array, fileName = 'suppress.csv', type = 'text/csv') {
    const form = new FormData();
    form.append('csv_file', new Blob([content], { type }), fileName);
    return fetch(`${server.baseUrl}/api/suppressions/import`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: form });
  }

  it('requires a signed-in user on every route', async () => {
    for (const [method, path] of [['GET', ''], ['POST', ''], ['POST', '/import'], ['DELETE', '?value=example.org'], ['DELETE', '/00000000-0000-4000-8000-000000000001']]) {
      await expectProblem(await call(null, method!, path!), 401);
    }
  });

  it('adds entries normalized, reports the invalid ones with why, and counts repeats and entries already present', async () => {
    const alice = await testUser();
    const res = await call(alice, 'POST', '', {
      entries: ['Ada@Example.com', 'example.org', 'https://www.Competitor.io/pricing', '@partner.net', 'mailto:ADA@example.com', 'not an address', 'bob@', ''],
    });
    expect(res.status).toBe(201);
    const body = await readJson<AddedJson>(res);
    expect(body).toMatchObject({ added: 4, already_present: 0, duplicates: 1 });
    expect(body.suppressions.map((entry) => [entry.value, entry.kind])).toEqual([
      ['ada@example.com', 'email'],
      ['competitor.io', 'domain'],
      ['example.org', 'domain'],
      ['partner.net', 'domain'],
    ]);
    expect(body.invalid).toEqual([
      { value: 'not an address', reason: "'not an address' is not a valid email address or domain (write a domain as example.com)" },
      { value: 'bob@', reason: "'bob@' is not a valid email address" },
      { value: '', reason: 'is empty' },
    ]);

    // Adding what is there already is not an error.
    const again = await call(alice, 'POST', '', { value: 'EXAMPLE.org' });
    expect(again.status).toBe(200);
    expect(await readJson<AddedJson>(again)).toEqual({ added: 0, already_present: 1, duplicates: 0, invalid: [], suppressions: [] });
    expect((await list(alice)).suppressions.map((entry) => entry.value)).toEqual(['ada@example.com', 'competitor.io', 'example.org', 'partner.net']);
  });

  it('answers 400 when no entry is valid, with each reason, and adds nothing', async () => {
    const bob = await testUser();
    const body = await expectProblem(await call(bob, 'POST', '', { entries: ['nope', 'x@'] }), 400);
    expect(body.detail).toBe('None of the 2 entries is a valid email address or domain (see invalid for why). Nothing was added.');
    expect(body.invalid).toEqual([
      { value: 'nope', reason: "'nope' is not a valid email address or domain (write a domain as example.com)" },
      { value: 'x@', reason: "'x@' is not a valid email address" },
    ]);
    expect((await expectProblem(await call(bob, 'POST', '', { value: 'localhost' }), 400)).detail).toMatch(/^The entry is not a valid/);
    expect((await list(bob)).suppressions).toEqual([]);
  });

  it('refuses bodies it cannot read, saying what to send', async () => {
    const user = await testUser();
    expect((await expectProblem(await call(user, 'POST', '', '{"entries": [', {}), 400)).detail).toBe('The body is not valid JSON.');
    expect((await expectProblem(await call(user, 'POST', '', {}), 400)).detail).toContain('send { "entries"');
    expect((await expectProblem(await call(user, 'POST', '', { entries: [] }), 400)).detail).toBe('entries must not be empty');
    expect((await expectProblem(await call(user, 'POST', '', { entries: 'a@b.co' }), 400)).detail).toBe('entries must be a list of email addresses and domains');
    expect((await expectProblem(await call(user, 'POST', '', { entries: [42] }), 400)).detail).toBe('each entry must be text: an email address or a domain');
    expect((await expectProblem(await call(user, 'POST', '', { entries: ['a.co'], value: 'b.co' }), 400)).detail).toBe('send entries or value, not both');
    const tooMany = Array.from({ length: 10_001 }, (_, index) => `x${index}.example.com`);
    expect((await expectProblem(await call(user, 'POST', '', { entries: tooMany }), 400)).detail).toContain('POST /api/suppressions/import');
    expect((await expectProblem(await call(user, 'POST', '', 'example.org', { 'Content-Type': 'text/plain' }), 415)).detail).toContain('application/json');
  });

  it("lists only the caller's entries, paged in value order, filtered by q", async () => {
    const [carol, dave] = [await testUser(), await testUser()];
    await call(carol, 'POST', '', { entries: ['a.example.com', 'b.example.com', 'c.example.com', 'mallory@evil.io', 'zeta.org'] });
    await call(dave, 'POST', '', { entries: ['dave-only.example'] });

    const seen: string[] = [];
    let pages = 0;
    for (let cursor: string | null = ''; cursor !== null; pages += 1) {
      const page: PageJson = await list(carol, `?limit=2${cursor === '' ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      seen.push(...page.suppressions.map((entry) => entry.value));
      cursor = page.next_cursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(['a.example.com', 'b.example.com', 'c.example.com', 'mallory@evil.io', 'zeta.org']);
    expect((await list(carol, '?q=EXAMPLE')).suppressions.map((entry) => entry.value)).toEqual(['a.example.com', 'b.example.com', 'c.example.com']);
    expect((await list(carol, '?q=dave')).suppressions).toEqual([]);
    expect((await list(dave)).suppressions.map((entry) => entry.value)).toEqual(['dave-only.example']);
    const [entry] = (await list(carol, '?q=mallory')).suppressions;
    expect(entry).toEqual({ id: expect.any(String) as string, value: 'mallory@evil.io', kind: 'email', created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/) as string });

    expect((await expectProblem(await call(carol, 'GET', '?limit=0'), 400)).detail).toBe('limit must be a whole number from 1 to 500');
    expect((await expectProblem(await call(carol, 'GET', '?q=a%00b'), 400)).detail).toBe('q must not contain a NUL character');
    expect((await expectProblem(await call(carol, 'GET', '?cursor=%24%24'), 400)).detail).toBe('cursor is not one this listing handed out');
  });

  it("deletes by id or by value, only the caller's own, 404 otherwise", async () => {
    const [erin, frank] = [await testUser(), await testUser()];
    const added = await readJson<AddedJson>(await call(erin, 'POST', '', { entries: ['one.example', 'two@example.com'] }));
    const one = added.suppressions.find((entry) => entry.value === 'one.example')!;

    await expectProblem(await call(frank, 'DELETE', `/${one.id}`), 404);
    await expectProblem(await call(frank, 'DELETE', '?value=two@example.com'), 404);
    expect((await call(erin, 'DELETE', `/${one.id}`)).status).toBe(204);
    await expectProblem(await call(erin, 'DELETE', `/${one.id}`), 404);
    await expectProblem(await call(erin, 'DELETE', '/not-an-id'), 404);
    // By value, in any spelling of it.
    expect((await call(erin, 'DELETE', `?value=${encodeURIComponent('mailto:TWO@example.com')}`)).status).toBe(204);
    expect((await expectProblem(await call(erin, 'DELETE', '?value=nope'), 400)).detail).toMatch(/^value 'nope' is not a valid/);
    expect((await expectProblem(await call(erin, 'DELETE', ''), 400)).detail).toMatch(/^send the entry to remove as \?value=/);
    expect((await list(erin)).suppressions).toEqual([]);
  });

  describe('POST /import', () => {
    it('reads the email column of a UTF-8 file with a BOM and semicolons, and reports each row', async () => {
      const user = await testUser();
      await call(user, 'POST', '', { value: 'known@example.com' });
      const csv = '\uFEFFName;E-mail;Website\r\nAda;ada@example.com;ignored.example\r\nBob;KNOWN@example.com;x\r\n;;\r\nCy;broken@;x\r\nDi;ada@example.com;x\r\nEd;;x\r\n';
      const res = await upload(user, csv);
      expect(res.status).toBe(201);
      expect(await readJson<ImportJson>(res)).toEqual({
        total_rows: 5,
        column: 'E-mail',
        added: 1,
        already_present: 1,
        duplicates: 1,
        invalid: [
          { row: 5, reason: "row 5: 'broken@' is not a valid email address" },
          { row: 7, reason: 'row 7: the "E-mail" cell is empty' },
        ],
      });
      expect((await list(user)).suppressions.map((entry) => entry.value)).toEqual(['ada@example.com', 'known@example.com']);
    });

    it('takes a domain or website column when there is no email column, in Windows-1252 and with tabs', async () => {
      const user = await testUser();
      const csv = Buffer.from('Company\tCompany Domain\r\nCaf\xe9 Ltd\thttps://www.Cafe.example/\r\nOther\tother.example\r\n', 'latin1');
      const res = await upload(user, csv);
      expect(res.status).toBe(201);
      expect(await readJson<ImportJson>(res)).toMatchObject({ total_rows: 2, column: 'Company Domain', added: 2, invalid: [] });
      expect((await list(user)).suppressions.map((entry) => [entry.value, entry.kind])).toEqual([
        ['cafe.example', 'domain'],
        ['other.example', 'domain'],
      ]);
    });

    it('reads a file without a header from its first column, UTF-16 too', async () => {
      const user = await testUser();
      const text = 'ada@example.com\nexample.org\n\nblocked.net\n';
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
      const res = await upload(user, utf16);
      expect(res.status).toBe(201);
      expect(await readJson<ImportJson>(res)).toEqual({ total_rows: 3, column: null, added: 3, already_present: 0, duplicates: 0, invalid: [] });
      // The same file again adds nothing: every entry is already present.
      const again = await upload(user, utf16);
      expect(again.status).toBe(200);
      expect(await readJson<ImportJson>(again)).toMatchObject({ added: 0, already_present: 3 });
    });

    it('answers 422 with the report when no row holds a valid entry, and the import problems of a bad file', async () => {
      const user = await testUser();
      const body = await expectProblem(await upload(user, 'Email\nnot-an-address\n'), 422);
      expect(body).toMatchObject({
        code: 'NO_VALID_ENTRIES',
        report: { total_rows: 1, column: 'Email', added: 0, invalid: [{ row: 2, reason: "row 2: 'not-an-address' is not a valid email address or domain (write a domain as example.com)" }] },
      });
      expect(await expectProblem(await upload(user, 'Email\n'), 422)).toMatchObject({ code: 'NO_DATA_ROWS' });
      expect(await expectProblem(await upload(user, ''), 422)).toMatchObject({ code: 'EMPTY_FILE' });
      expect(await expectProblem(await upload(user, new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 1, 2])), 415)).toMatchObject({ code: 'NOT_CSV' });
      await expectProblem(await upload(user, 'a@b.co', 'list.json', 'application/json'), 415);
      const missing = await fetch(`${server.baseUrl}/api/suppressions/import`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: new FormData() });
      expect((await expectProblem(missing, 400)).detail).toBe('attach the CSV as a file in the form field csv_file');
      expect((await list(user)).suppressions).toEqual([]);
    });
  });
});
