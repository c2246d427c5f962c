import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postPreview, startTestServer, type TestServer } from '../support/http.ts';
import { hs256Token } from '../support/tokens.ts';
import { expectProblem, readJson, type PreviewJson } from './helpers.ts';

const GOOD_CSV = [
  'First Name,Last Name,Email Address,Company Name,Job Title,Notes,Notes',
  'Ann,Lee,Ann@Example.com,Acme,CEO,met at expo,warm',
  'Bob,Stone,bob@,Beta Inc,CTO,,',
  'Cid,Moss,cid@example.com,,VP,,',
  'Dee,Park,ann@example.com,Acme,COO,dup,',
  'Eve,Ng,eve@example.org,Gamma,Head of Sales,,',
].join('\r\n');

/** A file of `count` valid, distinct leads. */
function leadsCsv(count: number): string {
  const rows = Array.from({ length: count }, (_, i) => `lead${i}@example.com,Company ${i}`);
  return ['email,company', ...rows].join('\n');
}

const MB = 1024 * 1024;

describe('POST /api/campaigns/preview', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = await hs256Token();
  });
  afterAll(() => server.close());

  describe('a good file', () => {
    it('answers the import report, the column mapping and sample leads with their original fields', async () => {
      const res = await postPreview(server.baseUrl, { token, content: GOOD_CSV });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await readJson<PreviewJson>(res);

      expect(body).toMatchObject({ total_rows: 5, valid: 2, duplicates: 1, demo_excluded: 0 });
      expect(body.rejected.map((rejected) => rejected.row)).toEqual([3, 4]);
      expect(body.rejected[0]?.reason).toMatch(/row 3: .*email 'bob@' is not a valid address/);
      expect(body.rejected[1]?.reason).toMatch(/row 4: .*company is empty/);
      expect(body.columns).toEqual([
        { original: 'First Name', canonical: 'first_name' },
        { original: 'Last Name', canonical: 'last_name' },
        { original: 'Email Address', canonical: 'email' },
        { original: 'Company Name', canonical: 'company' },
        { original: 'Job Title', canonical: 'title' },
        { original: 'Notes', canonical: null },
        { original: 'Notes', canonical: null },
      ]);

      expect(body.leads).toHaveLength(2);
      const [ann, eve] = body.leads;
      expect(ann).toEqual({
        row: 2,
        email: 'ann@example.com',
        company: 'Acme',
        first_name: 'Ann',
        last_name: 'Lee',
        title: 'CEO',
        fields: {
          'First Name': 'Ann',
          'Last Name': 'Lee',
          'Email Address': 'Ann@Example.com',
          'Company Name': 'Acme',
          'Job Title': 'CEO',
          Notes: 'met at expo',
          'Notes (2)': 'warm',
        },
      });
      // Original columns in file order, the repeated header suffixed.
      expect(Object.keys(ann?.fields ?? {})).toEqual([
        'First Name',
        'Last Name',
        'Email Address',
        'Company Name',
        'Job Title',
        'Notes',
        'Notes (2)',
      ]);
      expect(eve).toMatchObject({ row: 6, email: 'eve@example.org', company: 'Gamma', title: 'Head of Sales' });
    });

    it("lists the valid leads on the caller's suppression list with why, and only the caller's", async () => {
      const owner = await hs256Token();
      const res = await fetch(`${server.baseUrl}/api/suppressions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${owner}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ entries: ['eve@example.org', 'example.com', 'bob@example.net'] }),
      });
      expect(res.status).toBe(201);
      const body = await readJson<PreviewJson>(await postPreview(server.baseUrl, { token: owner, content: GOOD_CSV }));
      expect(body.suppressed).toEqual([
        { row: 2, reason: "Suppressed: the email's domain example.com is on your suppression list." },
        { row: 6, reason: 'Suppressed: the email address is on your suppression list.' },
      ]);
      // Still valid leads (the estimate and the quotas count them); another user's list is not theirs.
      expect(body.valid).toBe(2);
      expect((await readJson<PreviewJson>(await postPreview(server.baseUrl, { token, content: GOOD_CSV }))).suppressed).toEqual([]);
    });

    it('reads a LinkedIn connections export below its "Notes:" preamble, with the spreadsheet row numbers', async () => {
      const content = new Uint8Array(await readFile(new URL('../fixtures/csv/linkedin-connections.csv', import.meta.url)));
      const res = await postPreview(server.baseUrl, { token, content, fileName: 'Connections.csv' });
      expect(res.status).toBe(200);
      const body = await readJson<PreviewJson>(res);
      expect(body).toMatchObject({ total_rows: 6, valid: 3, duplicates: 0 });
      expect(body.rejected).toEqual([
        { row: 6, reason: 'row 6: email is empty' },
        { row: 8, reason: 'row 8: company is empty' },
        { row: 9, reason: 'row 9: email is empty' },
      ]);
      expect(body.columns.map((column) => column.original)).toEqual(['First Name', 'Last Name', 'URL', 'Email Address', 'Company', 'Position', 'Connected On']);
      expect(body.leads.map((lead) => [lead.row, lead.email])).toEqual([
        [5, 'nadia@brightwave.example'],
        [7, 'priya.raman@lotusleaf.example'],
        [10, 'elena.garcia@ribera.example'],
      ]);
      expect(body.leads[0]).toMatchObject({ first_name: 'Nadia', title: 'Head of Partnerships', linkedin_url: 'https://www.linkedin.com/in/nadia-okafor-example' });
      expect(body.leads[0]).not.toHaveProperty('website');
    });

    it('returns 10 sample leads by default and `limit` of them when asked', async () => {
      const csv = leadsCsv(30);
      const byDefault = await readJson<PreviewJson>(await postPreview(server.baseUrl, { token, content: csv }));
      expect(byDefault.valid).toBe(30);
      expect(byDefault.leads).toHaveLength(10);
      expect(byDefault.leads.map((lead) => lead.row)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

      const three = await readJson<PreviewJson>(await postPreview(server.baseUrl, { token, content: csv, query: '?limit=3' }));
      expect(three.leads.map((lead) => lead.email)).toEqual([
        'lead0@example.com',
        'lead1@example.com',
        'lead2@example.com',
      ]);

      const none = await readJson<PreviewJson>(await postPreview(server.baseUrl, { token, content: csv, query: '?limit=0' }));
      expect(none).toMatchObject({ valid: 30, leads: [] });

      const all = await readJson<PreviewJson>(await postPreview(server.baseUrl, { token, content: csv, query: '?limit=1000' }));
      expect(all.leads).toHaveLength(30);
    });

    it('caps valid leads at 20 with demo=true and counts the rest as demo_excluded', async () => {
      const csv = leadsCsv(25);
      for (const demo of ['true', '1', 'on', 'yes', 'TRUE']) {
        const res = await postPreview(server.baseUrl, { token, content: csv, demo, query: '?limit=100' });
        expect(res.status).toBe(200);
        const body = await readJson<PreviewJson>(res);
        expect(body).toMatchObject({ total_rows: 25, valid: 20, demo_excluded: 5 });
        expect(body.leads).toHaveLength(20);
      }
      for (const demo of ['false', '0', '']) {
        const body = await readJson<PreviewJson>(await postPreview(server.baseUrl, { token, content: csv, demo }));
        expect(body).toMatchObject({ total_rows: 25, valid: 25, demo_excluded: 0 });
      }
    });

    it('accepts the types browsers give .csv files, leaving the decision to the content', async () => {
      for (const fileType of ['text/csv', 'text/plain', 'application/vnd.ms-excel', 'application/octet-stream', '']) {
        const res = await postPreview(server.baseUrl, { token, content: GOOD_CSV, fileType });
        expect(res.status).toBe(200);
      }
    });
  });

  describe('400: bad input', () => {
    it('names the csv_file field when it is missing', async () => {
      const body = await expectProblem(await postPreview(server.baseUrl, { token, file: false, demo: 'true' }), 400);
      expect(body.detail).toMatch(/csv_file/);
    });

    it('names the csv_file field when it is a text field, not a file', async () => {
      const form = new FormData();
      form.append('csv_file', 'email,company\nann@example.com,Acme');
      const res = await fetch(`${server.baseUrl}/api/campaigns/preview`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: form,
      });
      expect((await expectProblem(res, 400)).detail).toMatch(/csv_file/);
    });

    it('rejects a limit that is not a whole number from 0 to 1000', async () => {
      for (const limit of ['abc', '-1', '1001', '1.5', '', '99999']) {
        const res = await postPreview(server.baseUrl, { token, content: GOOD_CSV, query: `?limit=${limit}` });
        expect((await expectProblem(res, 400)).detail).toMatch(/limit/);
      }
    });

    it('rejects a demo value it does not understand', async () => {
      for (const demo of ['maybe', '2', 'truthy']) {
        const res = await postPreview(server.baseUrl, { token, content: GOOD_CSV, demo });
        expect((await expectProblem(res, 400)).detail).toMatch(/demo/);
      }
    });

    it('rejects a multipart body that cannot be parsed', async () => {
      const res = await fetch(`${server.baseUrl}/api/campaigns/preview`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'multipart/form-data; boundary=xyz' },
        body: 'this is not multipart',
      });
      expect((await expectProblem(res, 400)).detail).toMatch(/multipart/);
    });
  });

  describe('413: too large', () => {
    const tooLarge = () => new Uint8Array(10 * MB + 128 * 1024).fill(0x61);

    it('answers a real body over 10 MB with 413 from the edge, before the import runs', async () => {
      const res = await postPreview(server.baseUrl, { token, content: tooLarge() });
      const body = await expectProblem(res, 413);
      expect(body.detail).toMatch(/10 MB/);
      expect(body.code).toBeUndefined();
    });

    it('answers 413 from the declared Content-Length, before the body arrives', async () => {
      // Declares 50 MB, sends 1 KiB, and waits: the answer can only come from the header.
      const { status, contentType } = await new Promise<{ status: number | undefined; contentType: string | undefined }>(
        (resolve, reject) => {
          const req = request(`${server.baseUrl}/api/campaigns/preview`, {
            method: 'POST',
            headers: {
              Authorization: `Bearer ${token}`,
              'Content-Type': 'multipart/form-data; boundary=xyz',
              'Content-Length': String(50 * MB),
            },
          });
          req.on('response', (res) => {
            resolve({ status: res.statusCode, contentType: res.headers['content-type'] });
            res.resume();
            req.destroy();
          });
          req.on('error', reject);
          req.write(Buffer.alloc(1024, 0x61));
        },
      );
      expect(status).toBe(413);
      expect(contentType).toBe('application/problem+json');
    });

    it('answers 413 to a chunked body (no Content-Length) once it passes the limit', async () => {
      const boundary = 'xyz';
      const chunk = new Uint8Array(MB).fill(0x61);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="csv_file"; filename="a.csv"\r\n\r\n`));
          if (sent >= 12) controller.close();
          else controller.enqueue(chunk);
          sent += 1;
        },
      });
      const res = await fetch(`${server.baseUrl}/api/campaigns/preview`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
        body,
        duplex: 'half',
      });
      await expectProblem(res, 413);
    });

    it('answers 413 with code FILE_TOO_LARGE when the file itself is over 10 MB', async () => {
      // Over the import limit but within the multipart allowance: the import's own check answers.
      const line = 'x@example.com,Acme\n';
      const content = 'email,company\n' + line.repeat(Math.ceil((10 * MB + 1024) / line.length));
      const body = await expectProblem(await postPreview(server.baseUrl, { token, content }), 413);
      expect(body.code).toBe('FILE_TOO_LARGE');
    });
  });

  describe('415: not a CSV', () => {
    it('rejects a request that is not multipart/form-data', async () => {
      const res = await fetch(`${server.baseUrl}/api/campaigns/preview`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ csv_file: 'email,company' }),
      });
      expect((await expectProblem(res, 415)).detail).toMatch(/multipart\/form-data/);
    });

    it('rejects an uploaded file declared as JSON, PNG, PDF or XLSX', async () => {
      const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);
      const cases: [string | Uint8Array, string][] = [
        ['{"email":"ann@example.com"}', 'application/json'],
        [png, 'image/png'],
        ['%PDF-1.7', 'application/pdf'],
        [new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0]), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
      ];
      for (const [content, fileType] of cases) {
        const res = await postPreview(server.baseUrl, { token, content, fileType });
        expect((await expectProblem(res, 415)).detail).toContain(fileType);
      }
    });

    it('rejects by content an XLSX or JSON file sent under a CSV-friendly type, with code NOT_CSV', async () => {
      const xlsx = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0x06, 0, ...new Array<number>(64).fill(0)]);
      const cases: [string | Uint8Array, string][] = [
        [xlsx, 'application/octet-stream'],
        ['[{"email":"ann@example.com","company":"Acme"}]', 'text/plain'],
      ];
      for (const [content, fileType] of cases) {
        const body = await expectProblem(await postPreview(server.baseUrl, { token, content, fileType }), 415);
        expect(body.code).toBe('NOT_CSV');
      }
    });
  });

  describe('422: a CSV that cannot be imported', () => {
    it('rejects a header-only file with code NO_DATA_ROWS and the reason', async () => {
      const body = await expectProblem(await postPreview(server.baseUrl, { token, content: 'email,company\r\n' }), 422);
      expect(body).toMatchObject({ code: 'NO_DATA_ROWS', title: 'Unprocessable Content' });
      expect(body.detail).toMatch(/no data rows/);
    });

    it('rejects a file without an email column with code NO_EMAIL_COLUMN, naming the columns found', async () => {
      const body = await expectProblem(await postPreview(server.baseUrl, { token, content: 'Name,Company\nAnn,Acme\n' }), 422);
      expect(body.code).toBe('NO_EMAIL_COLUMN');
      expect(body.detail).toMatch(/Name, Company/);
    });
  });
});
