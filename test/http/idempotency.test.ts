/**
 * `Idempotency-Key` on `POST /api/campaigns/process` (IETF httpapi draft "The Idempotency-Key
 * HTTP Header Field"), through the real app on real PostgreSQL and NATS.
 */
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postProcess, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

const CSV = 'email,company\nann@example.com,Acme\nbob@example.com,Beta\n';

describe('Idempotency-Key on POST /api/campaigns/process', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await testUser();
  });
  afterAll(() => server.close());

  function submit(user: TestUser, key: string | undefined, content = CSV, fields: Record<string, string> = { campaign_name: 'Idem' }) {
    return postProcess(server.baseUrl, { token: user.token, content, fields, headers: key === undefined ? {} : { 'Idempotency-Key': key } });
  }

  async function runCount(userId: string): Promise<number> {
    const [row] = await server.sql<{ count: number }[]>`select count(*)::int as count from campaign_runs where user_id = ${userId}`;
    return row?.count ?? 0;
  }

  async function storedFiles(): Promise<number> {
    const bucket = await new Objm(server.nc).open(server.fileBucket);
    return (await bucket.list()).length;
  }

  async function expectTyped(res: Response, status: number, type: string): Promise<Record<string, unknown>> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await readJson(res);
    expect(body).toMatchObject({ type, status });
    return body;
  }

  it('answers a retry with the first answer (same status, body and Location), starting no run and storing no file', async () => {
    const key = crypto.randomUUID();
    const first = await submit(alice, `"${key}"`);
    expect(first.status).toBe(202);
    const firstBody = await first.text();
    const filesAfterFirst = await storedFiles();
    const runsAfterFirst = await runCount(alice.id);

    for (const header of [`"${key}"`, key]) {
      const again = await submit(alice, header);
      expect(again.status).toBe(202);
      expect(await again.text()).toBe(firstBody);
      expect(again.headers.get('location')).toBe(first.headers.get('location'));
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    }
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(await runCount(alice.id)).toBe(runsAfterFirst);
    expect(await storedFiles()).toBe(filesAfterFirst);
    const { run_id: runId } = JSON.parse(firstBody) as { run_id: string };
    const [stored] = await server.sql`select count(*)::int as runs from campaign_runs where id = ${runId}`;
    expect(stored).toEqual({ runs: 1 });
  });

  it('answers 422 for the same key with another file or other fields, starting nothing', async () => {
    const user = await testUser();
    const key = crypto.randomUUID();
    expect((await submit(user, key)).status).toBe(202);
    const files = await storedFiles();

    const otherFile = await expectTyped(await submit(user, key, `${CSV}cid@example.com,Gamma\n`), 422, 'tag:ai-growth-accelerator,2026:idempotency-key-reused');
    expect(otherFile.detail).toMatch(/used for a different submission.*Use a new key/);
    await expectTyped(await submit(user, key, CSV, { campaign_name: 'Another name' }), 422, 'tag:ai-growth-accelerator,2026:idempotency-key-reused');
    expect(await runCount(user.id)).toBe(1);
    expect(await storedFiles()).toBe(files);
  });

  it('keeps keys per user: another user\'s same key is a submission of its own', async () => {
    const key = crypto.randomUUID();
    const [mine, theirs] = [await testUser(), await testUser()];
    const a = await readJson<{ run_id: string }>(await submit(mine, key));
    const b = await submit(theirs, key);
    expect(b.status).toBe(202);
    expect((await readJson<{ run_id: string }>(b)).run_id).not.toBe(a.run_id);
  });

  it('does not keep the key of a refused request: fixed, it may be sent again with the same key', async () => {
    const user = await testUser();
    const key = crypto.randomUUID();
    await expectProblem(await submit(user, key, CSV, { campaign_name: '   ' }), 400);
    await expectProblem(await submit(user, key, 'name\nAnn\n'), 422);
    const fixed = await submit(user, key);
    expect(fixed.status).toBe(202);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
    expect(await runCount(user.id)).toBe(1);
  });

  it('answers 400 for an empty key or one over 255 characters, before reading the upload', async () => {
    for (const key of ['', '""', 'k'.repeat(256), `"${'k'.repeat(256)}"`]) {
      const body = await expectProblem(await submit(alice, key), 400);
      expect(body.detail).toMatch(/Idempotency-Key must be 1 to 255 printable ASCII characters/);
    }
    expect((await submit(await testUser(), 'k'.repeat(255))).status).toBe(202);
  });

  it('answers 409 while the first request with the key is still being processed, then replays its answer', async () => {
    const user = await testUser();
    const key = crypto.randomUUID();
    const boundary = 'idem-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="campaign_name"\r\n\r\nSlow\r\n--${boundary}\r\nContent-Disposition: form-data; name="csv_file"; filename="slow.csv"\r\nContent-Type: text/csv\r\n\r\nemail,company\n`;
    const tail = `ann@example.com,Acme\r\n--${boundary}--\r\n`;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode(head));
        await finished;
        controller.enqueue(new TextEncoder().encode(tail));
        controller.close();
      },
    });
    const slow = fetch(`${server.baseUrl}/api/campaigns/process`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Idempotency-Key': key },
      body,
      duplex: 'half',
    });
    // The first request holds the key once its file has started arriving.
    for (let i = 0; i < 100; i += 1) {
      const [held] = await server.sql`select 1 from idempotency_keys where user_id = ${user.id} and key = ${key}`;
      if (held !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const refused = await submit(user, key);
    expect(refused.headers.get('retry-after')).toBe('30');
    const conflict = await expectTyped(refused, 409, 'tag:ai-growth-accelerator,2026:idempotency-key-in-use');
    expect(conflict.detail).toMatch(/still being processed/);

    finish();
    const first = await slow;
    expect(first.status).toBe(202);
    const firstBody = await first.text();
    expect(await runCount(user.id)).toBe(1);

    // The same request again (same file, name and fields; another multipart boundary) replays it.
    const form = new FormData();
    form.append('campaign_name', 'Slow');
    form.append('csv_file', new File(['email,company\nann@example.com,Acme'], 'slow.csv', { type: 'text/csv' }));
    const again = await fetch(`${server.baseUrl}/api/campaigns/process`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Idempotency-Key': key },
      body: form,
    });
    expect(again.status).toBe(202);
    expect(await again.text()).toBe(firstBody);
    expect(await runCount(user.id)).toBe(1);
  });

  it('forgets a key after 24 hours: then it starts a new submission', async () => {
    const user = await testUser();
    const key = crypto.randomUUID();
    const first = await readJson<{ run_id: string }>(await submit(user, key));
    await server.sql`update idempotency_keys set expires_at = now() - interval '1 second' where user_id = ${user.id} and key = ${key}`;
    const later = await submit(user, key, `${CSV}cid@example.com,Gamma\n`, { campaign_name: 'Idem later' });
    expect(later.status).toBe(202);
    expect((await readJson<{ run_id: string }>(later)).run_id).not.toBe(first.run_id);
    const [row] = await server.sql`select expires_at > now() + interval '23 hours' as renewed from idempotency_keys where user_id = ${user.id} and key = ${key}`;
    expect(row).toEqual({ renewed: true });
  });

  it("frees a key whose request died (no renewal for 30 s): the client's retry with it goes through", async () => {
    const user = await testUser();
    const key = crypto.randomUUID();
    // What an edge that crashed mid-upload leaves: a claim nobody completes or renews.
    await server.sql`
      insert into idempotency_keys (user_id, key, claim, expires_at, alive_at)
      values (${user.id}, ${key}, ${crypto.randomUUID()}, now() + interval '24 hours', now() - interval '10 seconds')`;
    expect((await submit(user, key)).status).toBe(409);
    await server.sql`update idempotency_keys set alive_at = now() - interval '31 seconds' where user_id = ${user.id} and key = ${key}`;
    const retried = await submit(user, key);
    expect(retried.status).toBe(202);
    expect(await runCount(user.id)).toBe(1);
  });
});
