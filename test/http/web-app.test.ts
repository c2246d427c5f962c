/**
 * The web app's routes (adapters/web): the page and its security headers, its files with their
 * types and caching, its configuration, and the local sign-in, which hands tokens only to a
 * browser on this machine and only when LOCAL_SIGN_IN is on. Through `app.request()` where no
 * socket is needed, and over a real socket for the loopback check.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalTokenIssuer, LOCAL_USER_ID, localUserId } from '../../adapters/auth/local-token-issuer.ts';
import { SupabaseTokenVerifier } from '../../adapters/auth/supabase-token-verifier.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { startHttpServer, type RunningHttpServer } from '../../adapters/http/server.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import type { WebAppOptions } from '../../adapters/web/web-app.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import { DEFAULT_PRICING } from '../../domain/pricing/pricing.ts';
import { FakeApiStatusReader, FakeCampaignQueries, FakeManageCampaigns, FakePreviewImport, FakeSubmitCampaign, FakeSuppressions, RecordingRunNotifications } from '../support/fakes/index.ts';
import { hs256Token, TEST_JWT_SECRET } from '../support/tokens.ts';
import { expectProblem, readJson } from './helpers.ts';

const verifier = new SupabaseTokenVerifier({ jwtSecret: TEST_JWT_SECRET });

function appWith(webApp: WebAppOptions | undefined, more: { corsOrigins?: string[]; loopbackOnly?: boolean } = {}) {
  return createHttpApp({
    logger: createLogger({ level: 'silent' }),
    corsOrigins: more.corsOrigins ?? [],
    ...(more.loopbackOnly === undefined ? {} : { loopbackOnly: more.loopbackOnly }),
    tokenVerifier: verifier,
    readiness: [],
    previewImport: new FakePreviewImport(),
    limits: DEFAULT_IMPORT_LIMITS,
    pricing: DEFAULT_PRICING,
    submitCampaign: new FakeSubmitCampaign(),
    manageCampaigns: new FakeManageCampaigns(),
    campaignQueries: new FakeCampaignQueries(),
    runWatcher: new RecordingRunNotifications(),
    providerStatus: new FakeApiStatusReader(),
    suppressions: new FakeSuppressions(),
    ...(webApp === undefined ? {} : { webApp }),
  });
}

const local = new LocalTokenIssuer({ jwtSecret: TEST_JWT_SECRET, audience: 'authenticated' });

/** A request over node:http, which sends the headers it is given (fetch will not send its own Host or Origin). */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The status line of a request written byte for byte: its path reaches the server as it is (no client normalizes it). */
function rawStatus(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk)).on('end', () => resolve(answer.split('\r\n')[0] ?? '')).on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  });
}

describe('the web app at /', () => {
  const app = appWith({ sandbox: true, localSignIn: local });

  it('serves the page with a policy that runs no inline script but the import map (by its hash), and Trusted Types', async () => {
    const res = await app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    const importMap = /<script type="importmap">(.*?)<\/script>/.exec(page)?.[1] ?? '';
    expect(JSON.parse(importMap)).toEqual({ imports: { 'lit-html': '/app/vendor/lit-html/lit-html.js', 'lit-html/': '/app/vendor/lit-html/' } });
    expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(importMap).digest('base64')}'`);
    for (const directive of ["default-src 'none'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'", 'trusted-types lit-html']) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toContain('unsafe');
    // Every other script is a file of this origin; no inline handler, no inline style.
    expect([...page.matchAll(/<script(?![^>]*type="importmap")([^>]*)>/g)].map((match) => match[1])).toEqual([' type="module" src="/app/main.js"']);
    expect(page).not.toMatch(/\son[a-z]+=|style=/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  it('loads supabase-js before the app, and lets the page reach Supabase Auth, only when a Supabase project is configured', async () => {
    const withSupabase = appWith({ sandbox: false, supabase: { url: 'https://abc.supabase.co', anonKey: 'public-anon-key' } });
    const res = await withSupabase.request('/');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self' https://abc.supabase.co");
    expect(await res.text()).toContain('<script src="/app/vendor/supabase.js"></script>');
    expect(await readJson(await withSupabase.request('/app/config.json'))).toEqual({ auth: { supabase: { url: 'https://abc.supabase.co', anon_key: 'public-anon-key' }, local: false }, sandbox: false });
    expect(await (await app.request('/')).text()).not.toContain('supabase');
  });

  it('says how to sign in and whether the providers are the sandbox, and nothing secret', async () => {
    const res = await app.request('/app/config.json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({ auth: { supabase: null, local: true }, sandbox: true });
    expect(body).not.toContain(TEST_JWT_SECRET);
  });

  it('serves its modules, style sheet, icon and vendored libraries with their types, an ETag and a cache policy', async () => {
    for (const [path, type, cache] of [
      ['/app/main.js', 'text/javascript; charset=utf-8', 'no-cache'],
      ['/app/views/campaign.js', 'text/javascript; charset=utf-8', 'no-cache'],
      ['/app/style.css', 'text/css; charset=utf-8', 'no-cache'],
      ['/app/icon.svg', 'image/svg+xml', 'no-cache'],
      ['/app/vendor/lit-html/lit-html.js', 'text/javascript; charset=utf-8', 'public, max-age=86400'],
      ['/app/vendor/lit-html/directives/ref.js', 'text/javascript; charset=utf-8', 'public, max-age=86400'],
      ['/app/vendor/supabase.js', 'text/javascript; charset=utf-8', 'public, max-age=86400'],
    ] as const) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('cache-control'), path).toBe(cache);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      // Opened on its own (the SVG icon could hold script), a file runs nothing and is not framed.
      expect(res.headers.get('content-security-policy'), path).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
      const etag = res.headers.get('etag');
      expect(etag, path).toMatch(/^"[\w-]+"$/);
      expect((await app.request(path, { headers: { 'If-None-Match': etag! } })).status, path).toBe(304);
    }
  });

  it('serves nothing else: no types, no settings, nothing outside its folders', async () => {
    for (const path of ['/app/types.d.ts', '/app/tsconfig.json', '/app/../web-app.ts', '/app/%2e%2e/web-app.ts', '/app/vendor/lit-html/package.json', '/app/nothing.js', '/app/.hidden.js', '/app/vendor/lit-html/%2e%2e/%2e%2e/package.json', '/app/vendor/lit-html/directives/unsafe-html.js', '/app/vendor/lit-html/directives/unsafe-svg.js', '/app/vendor/lit-html/development/directives/unsafe-mathml.js']) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it('serves nothing outside its folders for a path sent as it is: encoded slashes, double encoding, backslashes, NUL, absolute', async () => {
    // app.request() and fetch() resolve `..` and `%2e%2e` before sending, so those never reach the
    // file lookup (the paths of the test above end at other routes). Written to the socket, `%2f`
    // is no separator to the URL parser and arrives decoded: `..%2f` is `../` in the file name.
    // Each target is a real file of a served type, so only the lookup's own check answers 404.
    const repo = fileURLToPath(new URL('../../', import.meta.url));
    const cases = [
      ['/app/..%2f..%2f..%2feslint.config.js', 'eslint.config.js'],
      ['/app/views%2f..%2f..%2f..%2f..%2feslint.config.js', 'eslint.config.js'],
      ['/app/.%2e%2f.%2e%2f.%2e%2feslint.config.js', 'eslint.config.js'],
      ['/app/..%2f..%2f..%2fnode_modules%2fhono%2fdist%2findex.js', 'node_modules/hono/dist/index.js'],
      ['/app/vendor/lit-html/..%2fhono%2fdist%2findex.js', 'node_modules/hono/dist/index.js'],
      ['/app/vendor/lit-html/..%2fjose%2fdist%2fwebapi%2findex.js', 'node_modules/jose/dist/webapi/index.js'],
      [`/app/${encodeURIComponent(join(repo, 'eslint.config.js'))}`, 'eslint.config.js'],
      [`/app/vendor/lit-html/${encodeURIComponent(join(repo, 'node_modules/hono/dist/index.js'))}`, 'node_modules/hono/dist/index.js'],
    ] as const;
    const server = await startHttpServer(app, { port: 0, hostname: '127.0.0.1' });
    try {
      // The lookup does decode a path sent this way: a file inside the folder is found.
      expect(await rawStatus(server.port, '/app/views%2f..%2fmain.js')).toBe('HTTP/1.1 200 OK');
      expect(await rawStatus(server.port, '/app/vendor/lit-html/directives%2f..%2flit-html.js')).toBe('HTTP/1.1 200 OK');
      for (const [path, target] of cases) {
        expect(existsSync(join(repo, target)), target).toBe(true);
        expect(await rawStatus(server.port, path), path).toBe('HTTP/1.1 404 Not Found');
      }
      for (const path of ['/app/%252e%252e%252f..%2f..%2feslint.config.js', '/app/..%5c..%5c..%5ceslint.config.js', '/app/main.js%00.css', '/app/%00', '/app/vendor/lit-html/lit-html.js%00']) {
        expect(await rawStatus(server.port, path), path).toBe('HTTP/1.1 404 Not Found');
      }
    } finally {
      await server.close();
    }
  });

  it('is not served at all without its options (the API alone)', async () => {
    expect((await appWith(undefined).request('/')).status).toBe(404);
  });
});

describe('the local sign-in', () => {
  it('mints a token the API accepts, for the local user or a named one, each its own user', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await local.issue();
    const after = Math.floor(Date.now() / 1000);
    expect(token.user).toEqual({ id: LOCAL_USER_ID, name: 'local' });
    // An hour from when it was made (a second may tick between reading the clock and minting).
    expect(token.expires_at).toBeGreaterThanOrEqual(before + 3600);
    expect(token.expires_at).toBeLessThanOrEqual(after + 3600);
    expect(await verifier.verify(token.access_token)).toMatchObject({ userId: LOCAL_USER_ID });
    const bea = await local.issue(' Bea ');
    expect(bea.user.id).toBe(localUserId('bea'));
    expect(bea.user.id).not.toBe(LOCAL_USER_ID);
    expect(bea.user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await verifier.verify(bea.access_token)).toMatchObject({ userId: bea.user.id });
    expect(localUserId('LOCAL')).toBe(LOCAL_USER_ID);
  });

  it('answers 404 when LOCAL_SIGN_IN is off', async () => {
    const app = appWith({ sandbox: false });
    const body = await expectProblem(await app.request('/app/session/local', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } }), 404);
    expect(body.detail).toMatch(/local sign-in is off/);
  });

  describe('over a socket', () => {
    let server: RunningHttpServer;
    beforeAll(async () => {
      // CORS_ORIGINS as .env.development sets it: pages of those origins may read the API's answers.
      server = await startHttpServer(appWith({ sandbox: true, localSignIn: local }, { corsOrigins: ['http://localhost:5173', 'http://localhost:3000'] }), { port: 0, hostname: '127.0.0.1' });
    });
    afterAll(() => server.close());

    const signIn = (headers: Record<string, string>, body = '{}') => rawRequest(server.port, 'POST', '/app/session/local', headers, body);

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${server.port}/app/session/local`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

    it('answers a browser on this machine with a token for the name it gives', async () => {
      const res = await post({ name: 'ada' });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const session = await readJson<{ access_token: string; user: { id: string; name: string } }>(res);
      expect(session.user).toEqual({ id: localUserId('ada'), name: 'ada' });
      expect(await verifier.verify(session.access_token)).toMatchObject({ userId: localUserId('ada') });
      expect(JSON.stringify(session)).not.toContain(TEST_JWT_SECRET);
    });

    it('refuses a request for another host name (a page whose DNS name was rebound to 127.0.0.1)', async () => {
      // fetch will not send another Host header: node:http does.
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: server.port, path: '/app/session/local', method: 'POST', headers: { Host: 'attacker.example', 'Content-Type': 'application/json' } }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end('{}');
      });
      expect(answer.status).toBe(403);
      expect((JSON.parse(answer.body) as { detail: string }).detail).toMatch(/only a browser on the machine the service runs on/);
      expect(answer.body).not.toContain('access_token');
    });

    it("answers this app's own page, which a browser sends with its own origin, and curl, which sends none", async () => {
      const own = `http://localhost:${server.port}`;
      const page = await signIn({ Host: `localhost:${server.port}`, Origin: own, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json' });
      expect(page.status).toBe(200);
      expect((JSON.parse(page.body) as { user: { id: string } }).user.id).toBe(LOCAL_USER_ID);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      const curl = await signIn({ Host: `127.0.0.1:${server.port}` }, '');
      expect(curl.status).toBe(200);
      expect((JSON.parse(curl.body) as { user: { id: string } }).user.id).toBe(LOCAL_USER_ID);
    });

    it("refuses a page of another site in the user's browser (a cross-site form or fetch): no token made, none to read", async () => {
      const host = { Host: `localhost:${server.port}` };
      for (const headers of [
        // A form on evil.example posting text/plain (no preflight): the token would not be readable, but none is made.
        { ...host, Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'text/plain' },
        { ...host, Origin: 'null', 'Content-Type': 'application/x-www-form-urlencoded' },
        { ...host, 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'text/plain' },
        // Another port of localhost is another origin (same-site, not same-origin).
        { ...host, 'Sec-Fetch-Site': 'same-site', 'Content-Type': 'application/json' },
      ]) {
        const answer = await signIn(headers);
        expect(answer.status, JSON.stringify(headers)).toBe(403);
        expect(answer.body).not.toContain('access_token');
        expect((JSON.parse(answer.body) as { detail: string }).detail).toMatch(/from this app's own page/);
      }
    });

    it('refuses a page of an origin CORS_ORIGINS lets read answers (a dev server on localhost:5173 or :3000)', async () => {
      for (const origin of ['http://localhost:5173', 'http://localhost:3000']) {
        const answer = await signIn({ Host: `localhost:${server.port}`, Origin: origin, 'Sec-Fetch-Site': 'same-site', 'Content-Type': 'application/json' });
        // CORS would let that page read the answer: it holds no token.
        expect(answer.headers['access-control-allow-origin']).toBe(origin);
        expect(answer.status).toBe(403);
        expect(answer.body).not.toContain('access_token');
      }
    });

    it('refuses a request that came through a proxy on this machine (its clients may be anywhere)', async () => {
      for (const [name, value] of [
        ['X-Forwarded-For', '203.0.113.9'],
        ['X-Forwarded-Host', 'app.example.com'],
        ['X-Forwarded-Proto', 'https'],
        ['Forwarded', 'for=203.0.113.9;proto=https'],
        ['X-Real-IP', '203.0.113.9'],
        ['Via', '1.1 proxy'],
      ] as const) {
        // As nginx's proxy_pass sends it by default: Host is the upstream's, 127.0.0.1.
        const answer = await signIn({ Host: `127.0.0.1:${server.port}`, [name]: value, 'Content-Type': 'application/json' });
        expect(answer.status, name).toBe(403);
        expect((JSON.parse(answer.body) as { detail: string }).detail).toMatch(/not through a proxy/);
        expect(answer.body).not.toContain('access_token');
      }
    });

    it('answers 400 for a body that is not JSON (not a sign-in as the default user)', async () => {
      const answer = await signIn({ Host: `localhost:${server.port}`, 'Content-Type': 'application/json' }, '{"name": "ada"');
      expect(answer.status).toBe(400);
      expect((JSON.parse(answer.body) as { detail: string }).detail).toMatch(/The body must be JSON/);
    });

    it('answers 400 for a name it cannot take', async () => {
      expect((await expectProblem(await post({ name: '<script>' }), 400)).detail).toMatch(/name may hold letters, digits/);
      expect((await expectProblem(await post({ name: 'x'.repeat(65) }), 400)).detail).toMatch(/at most 64 characters/);
      expect((await expectProblem(await post({ name: 42 }), 400)).detail).toMatch(/name must be a string/);
    });
  });

  it('refuses a request it cannot tell comes from this machine (no socket)', async () => {
    const app = appWith({ sandbox: true, localSignIn: local });
    await expectProblem(await app.request('http://localhost/app/session/local', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } }), 403);
  });
});

describe('the edge with LOCAL_SIGN_IN on (loopbackOnly)', () => {
  // npm run dev's JWT secret is public (.env.development): a page whose DNS name an attacker
  // rebinds to 127.0.0.1 could otherwise call the API as its own origin with a token it signs.
  let guarded: RunningHttpServer;
  let open: RunningHttpServer;
  beforeAll(async () => {
    guarded = await startHttpServer(appWith({ sandbox: true, localSignIn: local }, { loopbackOnly: true }), { port: 0, hostname: '127.0.0.1' });
    open = await startHttpServer(appWith({ sandbox: true, localSignIn: local }), { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await guarded.close();
    await open.close();
  });

  it('answers any route only for a loopback host name: a rebound DNS name gets a 403 from the API and the page', async () => {
    const token = await hs256Token();
    const api = (port: number, host: string) => rawRequest(port, 'GET', '/api/campaigns', { Host: host, Authorization: `Bearer ${token}` });
    // Without the guard, the rebound name reads the API (what the guard is for).
    expect((await api(open.port, `rebound.example:${open.port}`)).status).toBe(200);
    for (const host of [`rebound.example:${guarded.port}`, 'rebound.example', `localhost.rebound.example:${guarded.port}`, `127.0.0.1.nip.io:${guarded.port}`]) {
      const answer = await api(guarded.port, host);
      expect(answer.status, host).toBe(403);
      expect((JSON.parse(answer.body) as { detail: string }).detail).toMatch(/answers only http:\/\/localhost/);
      expect((await rawRequest(guarded.port, 'GET', '/', { Host: host })).status, host).toBe(403);
    }
    for (const host of [`localhost:${guarded.port}`, `127.0.0.1:${guarded.port}`, `[::1]:${guarded.port}`, `LOCALHOST:${guarded.port}`]) {
      expect((await api(guarded.port, host)).status, host).toBe(200);
    }
    expect((await rawRequest(guarded.port, 'GET', '/healthz', { Host: `127.0.0.1:${guarded.port}` })).status).toBe(200);
  });
});
