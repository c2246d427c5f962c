import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { postPreview, startTestServer, type TestServer } from '../support/http.ts';
import { hs256Token } from '../support/tokens.ts';
import { expectProblem, readJson, type PreviewJson } from './helpers.ts';

const EMAILS = ['Ann.Lee@Example.com', 'bob@', 'cid@example.org', 'dee+sales@example.net'];
const CSV = ['Email,Company,Personal Email', `${EMAILS[0]},Acme,${EMAILS[3]}`, `${EMAILS[1]},Beta,`, `${EMAILS[2]},Gamma,`].join('\n');

/** A logger at the most verbose level whose lines the test can read. */
function capturingLogger() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines };
}

describe('request logging', () => {
  const { logger, lines } = capturingLogger();
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ logger });
  });
  afterAll(() => server.close());

  it('logs one access line per request and never the token, the Authorization header or a lead email', async () => {
    const userId = randomUUID();
    const token = await hs256Token({ sub: userId });
    const forged = await hs256Token({}, 'another-secret-that-is-long-enough-0123');

    const ok = await postPreview(server.baseUrl, { token, content: CSV, query: '?limit=5&note=secret-query' });
    expect(ok.status).toBe(200);
    expect((await readJson<PreviewJson>(ok)).leads[0]?.email).toBe(EMAILS[0]?.toLowerCase());
    const rejected = await postPreview(server.baseUrl, { token: forged, content: CSV });
    expect(rejected.status).toBe(401);
    const unprocessable = await postPreview(server.baseUrl, { token, content: `${EMAILS[2]}\n` });
    expect(unprocessable.status).toBe(422);

    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = records.filter((record) => record.msg === 'request completed');
    expect(access).toHaveLength(3);
    expect(access[0]).toMatchObject({
      method: 'POST',
      path: '/api/campaigns/preview',
      status: 200,
      request_id: ok.headers.get('x-request-id'),
      user_id: userId,
    });
    expect(typeof access[0]?.duration_ms).toBe('number');
    expect(access.map((record) => record.status)).toEqual([200, 401, 422]);

    const all = lines.join('\n').toLowerCase();
    for (const secret of [token, forged, ...token.split('.'), ...forged.split('.').slice(1)]) {
      expect(all).not.toContain(secret.toLowerCase());
    }
    expect(all).not.toContain('bearer');
    expect(all).not.toContain('authorization');
    expect(all).not.toContain('secret-query');
    for (const email of EMAILS) expect(all).not.toContain(email.toLowerCase());
  });
});

describe('an unexpected failure', () => {
  const { logger, lines } = capturingLogger();
  let server: TestServer;
  const internal = 'connect to postgres://app:s3cret@db.internal:5432 failed';

  beforeAll(async () => {
    server = await startTestServer({
      logger,
      previewImport: {
        preview: () => Promise.reject(new Error(internal)),
      },
    });
  });
  afterAll(() => server.close());

  it('answers a generic 500 problem and logs the error server-side with the request id', async () => {
    const res = await postPreview(server.baseUrl, { token: await hs256Token(), content: CSV });
    const body = await expectProblem(res, 500);
    expect(body.title).toBe('Internal Server Error');
    expect(JSON.stringify(body)).not.toMatch(/s3cret|postgres:|db\.internal/);

    const failure = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((record) => record.msg === 'request failed');
    expect(failure).toMatchObject({ level: 'error', request_id: body.request_id, err: { message: internal } });
  });
});
