/**
 * A file whose problem is past the first 64 KiB (issue 9): 40,000 rows with a NUL byte (or a
 * damaged UTF-8 byte) after the first 64 KiB. The preview reads the upload as one chunk, a submission streams it in many: both
 * must refuse it alike, and the submission must record nothing (no run, no leads, no file).
 */
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postPreview, postProcess, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem } from './helpers.ts';

const ROWS = 40_000;
const SAMPLE_BYTES = 64 * 1024;

/** The file of the report: 40,000 leads (1.8 MB), a NUL in the email of the first row starting past byte `from`. */
function poisonFile(from: number): string {
  const lines = ['email,company,first_name'];
  for (let index = 0; index < ROWS; index += 1) lines.push(`lead${index}@example.com,Company ${index},Name${index}`);
  const text = `${lines.join('\n')}\n`;
  const at = text.indexOf('\n', from) + 1 + 'lead'.length;
  return `${text.slice(0, at)}\u0000${text.slice(at)}`;
}

let server: TestServer;
let user: TestUser;

beforeAll(async () => {
  server = await startTestServer();
  user = await testUser();
});
afterAll(() => server.close());

describe('a file with a NUL past its first 64 KiB', () => {
  async function storedFiles(): Promise<string[]> {
    const bucket = await new Objm(server.nc).open(server.fileBucket);
    return (await bucket.list()).map((info) => info.name).sort();
  }

  // Just past the sample, and half way in: the transport's chunks decided which of the two a
  // submission caught before (the second passed).
  it.each([
    ['just past the first 64 KiB', SAMPLE_BYTES],
    ['half way into the file', 900_000],
  ])('gets the same 415 from the preview and from the submission, which records nothing: NUL %s', async (_where, from) => {
    const file = poisonFile(from);
    const bytes = new TextEncoder().encode(file);
    expect(bytes.indexOf(0)).toBeGreaterThan(from);
    expect(file.split('\n').filter((line) => line !== '')).toHaveLength(ROWS + 1);

    const preview = await expectProblem(await postPreview(server.baseUrl, { token: user.token, content: file }), 415);
    const before = await storedFiles();

    const submitted = await expectProblem(await postProcess(server.baseUrl, { token: user.token, content: file, fields: { campaign_name: 'Poison' } }), 415);
    expect(submitted.code).toBe('NOT_CSV');
    expect(submitted.code).toBe(preview.code);
    expect(submitted.detail).toBe(preview.detail);
    expect(submitted.detail).toMatch(/binary data/);

    const [counts] = await server.sql<{ campaigns: number; runs: number; leads: number }[]>`
      select (select count(*)::int from campaigns where user_id = ${user.id}) as campaigns,
             (select count(*)::int from campaign_runs where user_id = ${user.id}) as runs,
             (select count(*)::int from leads where user_id = ${user.id}) as leads`;
    expect(counts).toEqual({ campaigns: 0, runs: 0, leads: 0 });
    expect(await storedFiles()).toEqual(before);
  });
});

describe('a UTF-8 file with a damaged byte past its first 64 KiB', () => {
  it('gets the same 415 INVALID_ENCODING from the preview and from the submission, which records nothing', async () => {
    const lines = ['email,company,first_name', 'zoe@cafe.example,Café Zoé,Zoé'];
    for (let index = 0; index < ROWS; index += 1) lines.push(`lead${index}@example.com,Company ${index},Name${index}`);
    const text = new TextEncoder().encode(`${lines.join('\n')}\n`);
    const at = 900_000;
    const bytes = Uint8Array.from([...text.subarray(0, at), 0xe9, ...text.subarray(at)]); // a Windows-1252 "é" inside UTF-8

    const preview = await expectProblem(await postPreview(server.baseUrl, { token: user.token, content: bytes }), 415);
    const submitted = await expectProblem(await postProcess(server.baseUrl, { token: user.token, content: bytes, fields: { campaign_name: 'Damaged' } }), 415);
    expect(submitted.code).toBe('INVALID_ENCODING');
    expect(submitted.detail).toBe(preview.detail);
    expect(submitted.detail).toContain('CSV UTF-8');
    const [runs] = await server.sql<{ runs: number }[]>`select count(*)::int as runs from campaign_runs where user_id = ${user.id}`;
    expect(runs).toEqual({ runs: 0 });
  });
});
