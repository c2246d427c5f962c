/**
 * The web app's Supabase sign-in in a real browser, without a live Supabase project: a local
 * stand-in for Supabase Auth (its password grant, logout and JWKS, at the paths supabase-js and
 * the edge use) issues ES256 access tokens, and the system runs with SUPABASE_URL pointing at it,
 * SUPABASE_ANON_KEY set and no local sign-in. The page signs in with @supabase/supabase-js's
 * browser bundle, sends the session's token to the API, and the edge verifies it against the
 * stand-in's published key, as it would against a project's.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDeployment, type ProcessDeployment } from '../support/processes.ts';
import { launchBrowser, SKIP_BROWSER_TESTS, watch, type PageWatch } from './browser.ts';

const EMAIL = 'ada@northwind-robotics.example';
const PASSWORD = 'correct horse battery staple';
const ANON_KEY = 'public-anon-key-of-the-test-project';

interface AuthStandIn {
  readonly url: string;
  /** Password grants answered, and the anon key each carried. */
  readonly grants: string[];
  close(): Promise<void>;
}

/** Supabase Auth's password grant, logout and JWKS, enough for supabase-js and the edge. */
async function startAuthStandIn(userId: string): Promise<AuthStandIn> {
  const kid = randomUUID();
  const keys = await generateKeyPair('ES256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  const grants: string[] = [];
  const cors = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'apikey, authorization, content-type, x-client-info, x-supabase-api-version',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      void (async () => {
        const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
        if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
        if (req.method === 'GET' && path === '/auth/v1/.well-known/jwks.json') return res.writeHead(200, { 'Content-Type': 'application/json' }).end(jwks);
        if (req.method === 'POST' && path === '/auth/v1/token') {
          grants.push(String(req.headers.apikey));
          const { email, password } = JSON.parse(body) as { email: string; password: string };
          if (email !== EMAIL || password !== PASSWORD) {
            const message = 'Invalid login credentials';
            return res.writeHead(400, { ...cors, 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 'invalid_credentials', error_code: 'invalid_credentials', msg: message, error: 'invalid_grant', error_description: message }));
          }
          const now = Math.floor(Date.now() / 1000);
          const accessToken = await new SignJWT({ role: 'authenticated', email, session_id: randomUUID(), is_anonymous: false })
            .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
            .setSubject(userId)
            .setAudience('authenticated')
            .setIssuedAt(now)
            .setExpirationTime(now + 3600)
            .sign(keys.privateKey);
          const user = { id: userId, aud: 'authenticated', role: 'authenticated', email, app_metadata: { provider: 'email' }, user_metadata: {}, created_at: new Date().toISOString() };
          return res
            .writeHead(200, { ...cors, 'Content-Type': 'application/json' })
            .end(JSON.stringify({ access_token: accessToken, token_type: 'bearer', expires_in: 3600, expires_at: now + 3600, refresh_token: randomUUID(), user }));
        }
        if (req.method === 'POST' && path === '/auth/v1/logout') return res.writeHead(204, cors).end();
        res.writeHead(404, cors).end();
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    grants,
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

describe.skipIf(SKIP_BROWSER_TESTS)('the web app in Chromium with Supabase Auth (a local stand-in for the project)', () => {
  const userId = randomUUID();
  let auth: AuthStandIn;
  let deployment: ProcessDeployment;
  let browser: Browser;
  let page: Page;
  let seen: PageWatch;

  beforeAll(async () => {
    auth = await startAuthStandIn(userId);
    deployment = await processDeployment({ vars: { SUPABASE_URL: auth.url, SUPABASE_ANON_KEY: ANON_KEY, LOG_LEVEL: 'error' } });
    deployment.start('');
    await deployment.ready(30_000);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    seen = watch(page);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await deployment?.close();
    await auth?.close();
  }, 30_000);

  it('offers the account sign-in, and no local user', async () => {
    await page.goto(deployment.baseUrl);
    await page.getByRole('heading', { name: 'Sign in with your account' }).waitFor();
    expect(await page.getByText('Sign in as a local user').count()).toBe(0);
    expect((await fetch(`${deployment.baseUrl}/app/session/local`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })).status).toBe(404);
  });

  it("shows Supabase's own words for a wrong password", async () => {
    await page.getByLabel('Email').first().fill(EMAIL);
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('Invalid login credentials');
  });

  it('signs in with the password through supabase-js, and the API takes the session token', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    expect(await page.locator('.user-name').textContent()).toBe(EMAIL);
    expect(await page.locator('.top .badge.local').count()).toBe(0);
    // The campaign list and the KPIs came from the API with the stand-in's ES256 token.
    await page.getByText('No campaign yet.').waitFor();
    expect(await page.locator('.kpi dd').first().textContent()).toBe('0');
    expect(auth.grants).toEqual([ANON_KEY, ANON_KEY]);
  });

  it('keeps the session across a reload, and signs out', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    expect(await page.locator('.user-name').textContent()).toBe(EMAIL);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in with your account' }).waitFor();
    expect(seen.errors).toEqual([]);
    expect(seen.dialogs).toEqual([]);
  });
});
