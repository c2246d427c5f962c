import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postPreview, startTestServer, type TestServer } from '../support/http.ts';
import { hs256Token, startJwksServer, type JwksServer } from '../support/tokens.ts';
import { expectProblem } from './helpers.ts';

const CSV = 'email,company\nann@example.com,Acme\n';

describe('authentication on /api/*', () => {
  let server: TestServer;
  let jwks: JwksServer;

  beforeAll(async () => {
    jwks = await startJwksServer();
    server = await startTestServer({ supabaseUrl: jwks.supabaseUrl });
  });
  afterAll(async () => {
    await server.close();
    await jwks.close();
  });

  async function expect401(res: Response, detail: RegExp, challenge: RegExp) {
    expect(res.headers.get('www-authenticate')).toMatch(challenge);
    const body = await expectProblem(res, 401);
    expect(body.title).toBe('Unauthorized');
    expect(body.detail).toMatch(detail);
    return body;
  }

  it('accepts a valid HS256 token of a signed-in user', async () => {
    const res = await postPreview(server.baseUrl, { token: await hs256Token(), content: CSV });
    expect(res.status).toBe(200);
  });

  it('answers 401 with a Bearer challenge when there is no Authorization header', async () => {
    await expect401(await postPreview(server.baseUrl, { content: CSV }), /Authorization: Bearer/, /^Bearer$/);
  });

  it('answers 401 when the Authorization header is not a Bearer token', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer two words', await hs256Token()]) {
      const res = await fetch(`${server.baseUrl}/api/campaigns/preview`, { method: 'POST', headers: { Authorization: authorization } });
      await expect401(res, /Authorization: Bearer/, /^Bearer$/);
    }
  });

  it('answers 401 for a token that is not a JWT', async () => {
    await expect401(await postPreview(server.baseUrl, { token: 'not-a-jwt', content: CSV }), /malformed/, /invalid_token/);
  });

  it('answers 401 for a token signed with the wrong secret, without echoing the token', async () => {
    const forged = await hs256Token({}, 'some-other-secret-0123456789abcdef0123');
    const body = await expect401(await postPreview(server.baseUrl, { token: forged, content: CSV }), /signature invalid/, /invalid_token/);
    expect(JSON.stringify(body)).not.toContain(forged);
    expect(JSON.stringify(body)).not.toContain(forged.split('.')[1]);
  });

  it('answers 401 for an expired token', async () => {
    const expired = await hs256Token({ expiresInSec: -3600 });
    await expect401(await postPreview(server.baseUrl, { token: expired, content: CSV }), /expired/, /invalid_token/);
  });

  it('answers 401 for a token without exp', async () => {
    const eternal = await hs256Token({ noExpiry: true });
    await expect401(await postPreview(server.baseUrl, { token: eternal, content: CSV }), /exp/, /invalid_token/);
  });

  it('answers 401 for anon and service_role tokens', async () => {
    for (const role of ['anon', 'service_role']) {
      const token = await hs256Token({ role });
      await expect401(await postPreview(server.baseUrl, { token, content: CSV }), /not a signed-in user/, /invalid_token/);
    }
  });

  it('answers 401 when sub is not a UUID', async () => {
    const token = await hs256Token({ sub: 'admin' });
    await expect401(await postPreview(server.baseUrl, { token, content: CSV }), /not a user id/, /invalid_token/);
  });

  it('answers 401 before reading the upload', async () => {
    const res = await fetch(`${server.baseUrl}/api/campaigns/preview`, { method: 'POST', body: new Uint8Array(12 * 1024 * 1024) });
    expect(res.status).toBe(401);
  });

  it('accepts an ES256 token verified with the key from the project JWKS', async () => {
    const res = await postPreview(server.baseUrl, { token: await jwks.sign({ sub: randomUUID() }), content: CSV });
    expect(res.status).toBe(200);
    expect(jwks.fetches).toBeGreaterThanOrEqual(1);
  });

  it('answers 401 for an ES256 token signed with a key the JWKS does not publish', async () => {
    const token = await jwks.signWithUnpublishedKey();
    await expect401(await postPreview(server.baseUrl, { token, content: CSV }), /signature invalid/, /invalid_token/);
  });

  it('answers 401 for an expired or anon ES256 token', async () => {
    await expect401(await postPreview(server.baseUrl, { token: await jwks.sign({ expiresInSec: -60 }), content: CSV }), /expired/, /invalid_token/);
    await expect401(await postPreview(server.baseUrl, { token: await jwks.sign({ role: 'anon' }), content: CSV }), /not a signed-in user/, /invalid_token/);
  });
});

describe('the audience and anonymous sign-ins', () => {
  let server: TestServer;
  let custom: TestServer;
  let jwks: JwksServer;

  beforeAll(async () => {
    jwks = await startJwksServer();
    server = await startTestServer({ supabaseUrl: jwks.supabaseUrl });
    custom = await startTestServer({ tokens: { audiences: ['aga-api', 'aga-admin'], allowAnonymous: true } });
  });
  afterAll(async () => {
    await Promise.all([server.close(), custom.close()]);
    await jwks.close();
  });

  it('answers 401 for a token minted for another audience, or with none, naming the audience expected', async () => {
    for (const aud of ['anon', 'https://other.example', ['service', 'x'], null]) {
      const body = await expectProblem(await postPreview(server.baseUrl, { token: await hs256Token({ aud }), content: CSV }), 401);
      expect(body.detail).toMatch(/audience \(aud\) is not authenticated/);
    }
    const es256 = await jwks.sign({ aud: 'anon' });
    expect((await expectProblem(await postPreview(server.baseUrl, { token: es256, content: CSV }), 401)).detail).toMatch(/audience/);
  });

  it('accepts an aud array that holds the accepted audience', async () => {
    const res = await postPreview(server.baseUrl, { token: await hs256Token({ aud: ['other', 'authenticated'] }), content: CSV });
    expect(res.status).toBe(200);
  });

  it('answers 401 for an anonymous sign-in, saying to sign in with an account, and accepts a non-anonymous one', async () => {
    const res = await postPreview(server.baseUrl, { token: await hs256Token({ isAnonymous: true }), content: CSV });
    expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/);
    expect((await expectProblem(res, 401)).detail).toMatch(/anonymous sign-ins are not accepted: sign in with an account/);
    const es256 = await jwks.sign({ isAnonymous: true });
    expect((await expectProblem(await postPreview(server.baseUrl, { token: es256, content: CSV }), 401)).detail).toMatch(/anonymous/);
    expect((await postPreview(server.baseUrl, { token: await hs256Token({ isAnonymous: false }), content: CSV })).status).toBe(200);
  });

  it('takes the configured audiences (any one of them) instead, and anonymous users when allowed', async () => {
    expect((await postPreview(custom.baseUrl, { token: await hs256Token({ aud: 'aga-admin' }), content: CSV })).status).toBe(200);
    expect((await postPreview(custom.baseUrl, { token: await hs256Token({ aud: 'aga-api', isAnonymous: true }), content: CSV })).status).toBe(200);
    const body = await expectProblem(await postPreview(custom.baseUrl, { token: await hs256Token(), content: CSV }), 401);
    expect(body.detail).toMatch(/aud\) is not aga-api or aga-admin/);
  });
});

describe('authentication without asymmetric keys configured', () => {
  let server: TestServer;
  let jwks: JwksServer;

  beforeAll(async () => {
    jwks = await startJwksServer();
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
    await jwks.close();
  });

  it('rejects an ES256 token: there is no key for its algorithm', async () => {
    const res = await postPreview(server.baseUrl, { token: await jwks.sign(), content: CSV });
    expect((await expectProblem(res, 401)).detail).toMatch(/algorithm not accepted/);
    expect(jwks.fetches).toBe(0);
  });
});
