import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFileKey } from '../../src/app/submit-campaign.ts';
import { outboxEvents } from '../support/store.ts';
import { apiGet, postProcess, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

const CSV = ['email,company,first_name', 'ann@example.com,Acme,Ann', 'bob@example.com,Beta,Bob', 'ann@example.com,Acme,Dup'].join('\n');

interface Submitted {
  run_id: string;
  campaign_id: string;
  status_url: string;
  events_url: string;
  results_url: string;
}

describe('POST /api/campaigns/process', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  async function runCount(userId: string): Promise<number> {
    const [row] = await server.sql<{ count: number }[]>`select count(*)::int as count from campaign_runs where user_id = ${userId}`;
    return row?.count ?? 0;
  }

  it('answers 202 with where to follow the run, records it queued, stores the file and commits its announcement', async () => {
    const res = await postProcess(server.baseUrl, {
      token: alice.token,
      content: CSV,
      fileName: 'spring.csv',
      fields: { campaign_name: '  Spring outreach  ', research_prompt: 'Focus on hiring.', demo: 'true' },
    });

    expect(res.status).toBe(202);
    const body = await readJson<Submitted>(res);
    expect(Object.keys(body).sort()).toEqual(['campaign_id', 'events_url', 'results_url', 'run_id', 'status_url']);
    expect(body.status_url).toBe(`/api/campaigns/status/${body.run_id}`);
    expect(body.events_url).toBe(`/api/campaigns/events/${body.run_id}`);
    expect(body.results_url).toBe(`/api/campaigns/results/${body.campaign_id}`);
    expect(res.headers.get('location')).toBe(body.status_url);

    const status = await apiGet(server.baseUrl, body.status_url, alice);
    expect(status.status).toBe(200);
    expect(await readJson(status)).toMatchObject({ run_id: body.run_id, campaign_id: body.campaign_id, status: 'queued' });

    const [run] = await server.sql`
      select r.demo, r.file_name, r.research_prompt, r.personalization_prompt, r.allow_questions, c.name
      from campaign_runs r join campaigns c on c.id = r.campaign_id where r.id = ${body.run_id}`;
    expect(run).toEqual({
      demo: true,
      file_name: 'spring.csv',
      research_prompt: 'Focus on hiring.',
      personalization_prompt: null,
      allow_questions: false,
      name: 'Spring outreach',
    });

    const stored = await buffer(await server.files.get(runFileKey(body.run_id)));
    expect(stored.toString('utf8')).toBe(CSV);

    // Committed with the run, for the relay to publish (none runs here).
    const announced = (await outboxEvents(server.sql)).filter((row) => row.payload.run_id === body.run_id);
    expect(announced).toEqual([
      {
        event_type: 'campaign.submitted',
        msg_id: `campaign.submitted:${body.run_id}`,
        payload: { type: 'campaign.submitted', run_id: body.run_id, campaign_id: body.campaign_id, user_id: alice.id },
      },
    ]);
  });

  it('takes a LinkedIn connections export, whose header sits below a "Notes:" preamble', async () => {
    const content = new Uint8Array(await readFile(new URL('../fixtures/csv/linkedin-connections.csv', import.meta.url)));
    const res = await postProcess(server.baseUrl, { token: alice.token, content, fileName: 'Connections.csv', fields: { campaign_name: 'LinkedIn connections' } });
    expect(res.status).toBe(202);
    const body = await readJson<Submitted>(res);
    // The estimate counted the three valid leads of the six rows below the header.
    const [run] = await server.sql<{ submitted_leads: number }[]>`select submitted_leads from campaign_runs where id = ${body.run_id}`;
    expect(run).toEqual({ submitted_leads: 3 });
    expect(Buffer.compare(await buffer(await server.files.get(runFileKey(body.run_id))), Buffer.from(content))).toBe(0);
  });

  it('records allow_questions for the quality gates, and rejects a value that is not a yes or no', async () => {
    const res = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Asks', allow_questions: 'yes' } });
    expect(res.status).toBe(202);
    const { run_id: runId } = await readJson<Submitted>(res);
    const [run] = await server.sql`select allow_questions from campaign_runs where id = ${runId}`;
    expect(run).toEqual({ allow_questions: true });

    const bad = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Asks', allow_questions: 'maybe' } });
    expect(bad.status).toBe(400);
    expect((await readJson<{ detail: string }>(bad)).detail).toContain('allow_questions must be one of');
  });

  it('adds a run to one of the caller\'s campaigns with campaign_id', async () => {
    const first = await readJson<Submitted>(await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Q3' } }));
    const res = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_id: first.campaign_id } });
    expect(res.status).toBe(202);
    const second = await readJson<Submitted>(res);
    expect(second.campaign_id).toBe(first.campaign_id);
    expect(second.run_id).not.toBe(first.run_id);
  });

  it('answers 404 for another user\'s campaign_id, and records nothing for the caller', async () => {
    const alices = await readJson<Submitted>(await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Private' } }));
    const res = await postProcess(server.baseUrl, { token: bob.token, content: CSV, fields: { campaign_id: alices.campaign_id } });
    const body = await expectProblem(res, 404);
    expect(JSON.stringify(body)).not.toContain('Private');
    expect(await runCount(bob.id)).toBe(0);
  });

  it('answers 404 for a campaign_id that does not exist', async () => {
    const res = await postProcess(server.baseUrl, { token: bob.token, content: CSV, fields: { campaign_id: crypto.randomUUID() } });
    await expectProblem(res, 404);
  });

  describe('400: bad fields, nothing recorded', () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['neither campaign_name nor campaign_id', {}, /^send either campaign_name .* or campaign_id \(one of your campaigns\)$/],
      ['both campaign_name and campaign_id', { campaign_name: 'X', campaign_id: crypto.randomUUID() }, /not both/],
      ['a campaign_id that is not a UUID', { campaign_id: 'campaign-1' }, /campaign_id must be a UUID/],
      ['a blank campaign_name', { campaign_name: '   ' }, /campaign_name must not be blank/],
      ['a campaign_name over 200 characters', { campaign_name: 'x'.repeat(201) }, /at most 200/],
      ['a research_prompt over 4000 characters', { campaign_name: 'X', research_prompt: 'p'.repeat(4001) }, /research_prompt must be at most 4000/],
      ['a personalization_prompt over 4000 characters', { campaign_name: 'X', personalization_prompt: 'p'.repeat(4001) }, /personalization_prompt must be at most 4000/],
      ['a demo value it does not understand', { campaign_name: 'X', demo: 'maybe' }, /demo must be one of/],
    ];
    it.each(cases)('%s', async (_, fields, detail) => {
      const user = await testUser();
      const body = await expectProblem(await postProcess(server.baseUrl, { token: user.token, content: CSV, fields }), 400);
      expect(body.detail).toMatch(detail);
      expect(await runCount(user.id)).toBe(0);
    });

    it('accepts a campaign_name of exactly 200 characters and prompts of exactly 4000', async () => {
      const res = await postProcess(server.baseUrl, {
        token: alice.token,
        content: CSV,
        fields: { campaign_name: 'n'.repeat(200), research_prompt: 'r'.repeat(4000), personalization_prompt: 'p'.repeat(4000) },
      });
      expect(res.status).toBe(202);
    });
  });

  it('rejects a file the import cannot take as the preview does (422 with its code), recording nothing', async () => {
    const user = await testUser();
    const res = await postProcess(server.baseUrl, { token: user.token, content: 'name,company\nAnn,Acme\n', fields: { campaign_name: 'X' } });
    const body = await expectProblem(res, 422);
    expect(body.code).toBe('NO_EMAIL_COLUMN');
    expect(await runCount(user.id)).toBe(0);
  });

  it('refuses a file with no lead to process (422 NO_VALID_LEADS) with the report of every rejected row, recording nothing', async () => {
    const user = await testUser();
    const res = await postProcess(server.baseUrl, {
      token: user.token,
      content: 'email,company\nann@,Acme\nbob@example.com,\n',
      fields: { campaign_name: 'Nothing to do' },
    });
    const body = await expectProblem(res, 422);
    expect(body.code).toBe('NO_VALID_LEADS');
    const report = body.report as { total_rows: number; valid: number; rejected: { row: number; reason: string }[] };
    expect(report).toMatchObject({ total_rows: 2, valid: 0 });
    expect(report.rejected.map((rejected) => rejected.row)).toEqual([2, 3]);
    expect(await runCount(user.id)).toBe(0);
    const [campaigns] = await server.sql<{ n: number }[]>`select count(*)::int as n from campaigns where user_id = ${user.id}`;
    expect(campaigns?.n).toBe(0);
  });

  it('rejects a file declared as an image with 415, and a body that is not multipart', async () => {
    await expectProblem(await postProcess(server.baseUrl, { token: alice.token, content: CSV, fileType: 'image/png', fields: { campaign_name: 'X' } }), 415);
    const res = await fetch(`${server.baseUrl}/api/campaigns/process`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ campaign_name: 'X' }),
    });
    await expectProblem(res, 415);
  });

  describe('a streamed upload', () => {
    /** The names of the objects in the server's file bucket. */
    async function storedFiles(): Promise<string[]> {
      const bucket = await new Objm(server.nc).open(server.fileBucket);
      return (await bucket.list()).map((info) => info.name).sort();
    }

    function post(body: FormData | string, headers: Record<string, string> = {}): Promise<Response> {
      return fetch(`${server.baseUrl}/api/campaigns/process`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${alice.token}`, ...headers },
        body,
        duplex: 'half',
      });
    }

    it('takes the fields before the file as well as after it', async () => {
      const form = new FormData();
      form.append('campaign_name', 'Fields first');
      form.append('demo', 'yes');
      form.append('csv_file', new File([CSV], 'first.csv', { type: 'text/csv' }));
      const res = await post(form);
      expect(res.status).toBe(202);
      const body = await readJson<Submitted>(res);
      const [run] = await server.sql`select r.demo, r.file_name, c.name from campaign_runs r join campaigns c on c.id = r.campaign_id where r.id = ${body.run_id}`;
      expect(run).toEqual({ demo: true, file_name: 'first.csv', name: 'Fields first' });
      expect((await buffer(await server.files.get(runFileKey(body.run_id)))).toString('utf8')).toBe(CSV);
    });

    it('answers a bad field after a bad file with the field\'s 400, keeping neither run nor file', async () => {
      const user = await testUser();
      const before = await storedFiles();
      const form = new FormData();
      form.append('csv_file', new File(['name,company\nAnn,Acme\n'], 'bad.csv', { type: 'text/csv' }));
      form.append('campaign_name', '   ');
      const res = await fetch(`${server.baseUrl}/api/campaigns/process`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: form });
      expect((await expectProblem(res, 400)).detail).toMatch(/campaign_name must not be blank/);
      expect(await runCount(user.id)).toBe(0);
      expect(await storedFiles()).toEqual(before);
    });

    it('keeps no file when the file is refused (422) or the campaign is not found (404)', async () => {
      const user = await testUser();
      const before = await storedFiles();
      const refused = await postProcess(server.baseUrl, { token: user.token, content: 'name,company\nAnn,Acme\n', fields: { campaign_name: 'X' } });
      await expectProblem(refused, 422);
      const notFound = await postProcess(server.baseUrl, { token: user.token, content: CSV, fields: { campaign_id: crypto.randomUUID() } });
      await expectProblem(notFound, 404);
      expect(await storedFiles()).toEqual(before);
    });

    it('answers 400 when the form has no file part, or is not multipart inside', async () => {
      const form = new FormData();
      form.append('campaign_name', 'X');
      form.append('csv_file', CSV); // a text field, not a file
      expect((await expectProblem(await post(form), 400)).detail).toMatch(/attach the CSV as a file in the form field csv_file/);
      const garbage = await post('this is not multipart', { 'Content-Type': 'multipart/form-data; boundary=xyz' });
      expect((await expectProblem(garbage, 400)).detail).toMatch(/multipart/);
    });

    it('answers 413 to a chunked body (no Content-Length) once it passes the limit, keeping nothing', async () => {
      const user = await testUser();
      const before = await storedFiles();
      const boundary = 'xyz';
      const chunk = new TextEncoder().encode('x@example.com,Acme\n'.repeat(55_000)); // about 1 MB
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) {
            controller.enqueue(new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="campaign_name"\r\n\r\nBig\r\n`));
            controller.enqueue(new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="csv_file"; filename="a.csv"\r\n\r\nemail,company\n`));
          }
          if (sent >= 12) controller.close();
          else controller.enqueue(chunk);
          sent += 1;
        },
      });
      const res = await fetch(`${server.baseUrl}/api/campaigns/process`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
        body,
        duplex: 'half',
      });
      expect((await expectProblem(res, 413)).detail).toMatch(/10 MB/);
      expect(await runCount(user.id)).toBe(0);
      expect(await storedFiles()).toEqual(before);
    });

    it('answers 413 from the declared Content-Length, before the body arrives', async () => {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(`${server.baseUrl}/api/campaigns/process`, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${alice.token}`,
            'Content-Type': 'multipart/form-data; boundary=xyz',
            'Content-Length': String(50 * 1024 * 1024),
          },
        });
        req.on('response', (res) => {
          resolve(res.statusCode);
          res.resume();
          req.destroy();
        });
        req.on('error', reject);
        req.write(Buffer.alloc(1024, 0x61));
      });
      expect(status).toBe(413);
    });
  });

  it('answers 401 without a token', async () => {
    const form = new FormData();
    form.append('csv_file', new File([CSV], 'leads.csv', { type: 'text/csv' }));
    form.append('campaign_name', 'X');
    await expectProblem(await fetch(`${server.baseUrl}/api/campaigns/process`, { method: 'POST', body: form }), 401);
  });
});
