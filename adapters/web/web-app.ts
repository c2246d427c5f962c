/**
 * The web app, a driving adapter like the API: a page at `/` whose modules (`client/`, plain ES
 * modules with JSDoc types, served as they are: no build step) call the public API from the
 * browser with the signed-in user's token, as any client would.
 *
 * - `GET /`: the page. Its one inline script is the import map (where `lit-html` is served from),
 *   allowed by its hash in the Content-Security-Policy; no other inline script or style runs, and
 *   DOM sinks take only Trusted Types made by lit-html, whose templates escape every value.
 * - `GET /app/<file>`: the page's modules, its style sheet and icon; `/app/vendor/...`: lit-html and
 *   supabase-js's browser bundle, from node_modules (no CDN).
 * - `GET /app/config.json`: how to sign in: Supabase Auth (SUPABASE_URL and its public anon key)
 *   and/or the local user; whether the providers are the sandbox.
 * - `POST /app/session/local`: the local user's sign-in (LOCAL_SIGN_IN=true, `npm run dev`): a
 *   token signed with SUPABASE_JWT_SECRET, answered only to a browser on this machine (a loopback
 *   client that named a loopback host, so neither another machine nor a page that rebinds its DNS
 *   name to 127.0.0.1 gets one). The secret itself never reaches the page.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import * as v from 'valibot';
import type { AppEnv } from '../http/context.ts';
import { ProblemError } from '../http/problem.ts';
import type { LocalToken } from '../auth/local-token-issuer.ts';

const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'client');
const LIT_HTML_DIR = packageDir('lit-html');
const SUPABASE_UMD = join(packageDir('@supabase/supabase-js'), 'dist', 'umd', 'supabase.js');

/** Where an installed package lives (lit-html exports no package.json, so it cannot be resolved by one). */
function packageDir(name: string): string {
  const paths = createRequire(import.meta.url).resolve.paths(name) ?? [];
  const found = paths.map((dir) => join(dir, name)).find((dir) => existsSync(join(dir, 'package.json')));
  if (found === undefined) throw new Error(`${name} is not installed: run npm ci`);
  return found;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Where the page's bare module names are served from (the import map). */
const IMPORT_MAP = JSON.stringify({ imports: { 'lit-html': '/app/vendor/lit-html/lit-html.js', 'lit-html/': '/app/vendor/lit-html/' } });
const IMPORT_MAP_HASH = createHash('sha256').update(IMPORT_MAP).digest('base64');

/** The web app's paths: not API operations, so not in the OpenAPI document. */
export const WEB_APP_PATHS = ['/', '/app/config.json', '/app/session/local', '/app/vendor/supabase.js', '/app/vendor/lit-html/:file{.+}', '/app/:file{.+}'] as const;

export interface LocalSignIn {
  issue(name?: string): Promise<LocalToken>;
}

export interface WebAppOptions {
  /** SUPABASE_URL and SUPABASE_ANON_KEY: the page signs in through Supabase Auth. */
  readonly supabase?: { readonly url: string; readonly anonKey: string };
  /** LOCAL_SIGN_IN=true: the "local user" sign-in of local development. */
  readonly localSignIn?: LocalSignIn;
  /** The providers are the in-process sandbox (PROVIDERS=sandbox): the page says so. */
  readonly sandbox: boolean;
}

const LocalSessionBody = v.object({
  name: v.optional(
    v.pipe(
      v.string('name must be a string'),
      v.trim(),
      v.minLength(1, 'name must not be blank'),
      v.maxLength(64, 'name must be at most 64 characters'),
      v.regex(/^[\p{L}\p{N} ._-]+$/u, 'name may hold letters, digits, spaces, dots, dashes and underscores only'),
    ),
  ),
});

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function webAppRoutes(options: WebAppOptions) {
  const routes = new Hono<AppEnv>();
  const page = pageHtml(options.supabase !== undefined);
  const csp = contentSecurityPolicy(options.supabase?.url);

  routes.get('/', (c) => {
    securityHeaders(c);
    c.header('Content-Security-Policy', csp);
    c.header('Cache-Control', 'no-cache');
    return c.html(page);
  });

  routes.get('/app/config.json', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json({
      auth: {
        supabase: options.supabase === undefined ? null : { url: options.supabase.url, anon_key: options.supabase.anonKey },
        local: options.localSignIn !== undefined,
      },
      sandbox: options.sandbox,
    });
  });

  routes.post('/app/session/local', async (c) => {
    c.header('Cache-Control', 'no-store');
    if (options.localSignIn === undefined) {
      throw new ProblemError(404, 'The local sign-in is off: it is for local development (LOCAL_SIGN_IN=true, which npm run dev sets). Sign in with your account.');
    }
    if (!fromThisMachine(c)) {
      throw new ProblemError(403, 'The local sign-in answers only a browser on the machine the service runs on, at http://localhost.');
    }
    const body: unknown = await c.req.json().catch(() => ({}));
    const parsed = v.safeParse(LocalSessionBody, body ?? {});
    if (!parsed.success) throw new ProblemError(400, parsed.issues[0].message);
    return c.json(await options.localSignIn.issue(parsed.output.name));
  });

  routes.get('/app/vendor/supabase.js', (c) => serveFile(c, SUPABASE_UMD, 'public, max-age=86400'));
  routes.get('/app/vendor/lit-html/:file{.+}', (c) => serveFrom(c, LIT_HTML_DIR, c.req.param('file'), 'public, max-age=86400'));
  routes.get('/app/:file{.+}', (c) => serveFrom(c, CLIENT_DIR, c.req.param('file'), 'no-cache'));

  return routes;
}

/** The page; with Supabase Auth, supabase-js's browser bundle loads before the app's module runs. */
function pageHtml(withSupabase: boolean): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="color-scheme" content="light" />
    <title>AI Growth Accelerator</title>
    <link rel="icon" href="/app/icon.svg" type="image/svg+xml" />
    <link rel="stylesheet" href="/app/style.css" />
    <script type="importmap">${IMPORT_MAP}</script>${withSupabase ? '\n    <script src="/app/vendor/supabase.js"></script>' : ''}
    <script type="module" src="/app/main.js"></script>
  </head>
  <body>
    <a class="skip-link" href="#main">Skip to content</a>
    <div id="app"><main id="main" tabindex="-1"><p class="loading">Loading…</p></main></div>
    <noscript><p>This app needs JavaScript. The API works without it: see <a href="/docs">/docs</a>.</p></noscript>
  </body>
</html>
`;
}

/**
 * Scripts from this origin only (the import map by its hash), no inline style, no plugin, no
 * framing; the API and Supabase Auth are the only places the page connects to. DOM sinks take
 * Trusted Types from lit-html's policy only, so a string from the data can never become markup.
 */
function contentSecurityPolicy(supabaseUrl: string | undefined): string {
  const connect = ["'self'", ...(supabaseUrl === undefined ? [] : [new URL(supabaseUrl).origin])];
  return [
    "default-src 'none'",
    `script-src 'self' 'sha256-${IMPORT_MAP_HASH}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect.join(' ')}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    'trusted-types lit-html',
  ].join('; ');
}

function securityHeaders(c: Context<AppEnv>): void {
  c.header('X-Content-Type-Options', 'nosniff');
  // Links to the research's sources open other sites: they are not told which campaign was open.
  c.header('Referrer-Policy', 'no-referrer');
  c.header('X-Frame-Options', 'DENY');
  c.header('Cross-Origin-Opener-Policy', 'same-origin');
}

/** A loopback client that asked for a loopback host name (a rebound DNS name would not be one). */
function fromThisMachine(c: Context<AppEnv>): boolean {
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    return false;
  }
  const loopback = address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
  return loopback && LOOPBACK_HOSTS.has(new URL(c.req.url).hostname);
}

/** A file of `root` with a type we serve, or 404; `..` and anything outside `root` are 404 too. */
function serveFrom(c: Context<AppEnv>, root: string, file: string, cacheControl: string) {
  const path = resolve(root, file);
  const inside = relative(root, path);
  if (inside.startsWith('..') || inside.includes(`..${sep}`) || inside.split(sep).some((part) => part.startsWith('.')) || CONTENT_TYPES[extname(path)] === undefined) {
    return c.notFound();
  }
  return serveFile(c, path, cacheControl);
}

async function serveFile(c: Context<AppEnv>, path: string, cacheControl: string) {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) return c.notFound();
  const body = await readFile(path);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  securityHeaders(c);
  c.header('Cache-Control', cacheControl);
  c.header('ETag', etag);
  if (c.req.header('If-None-Match') === etag) return c.body(null, 304);
  c.header('Content-Type', CONTENT_TYPES[extname(path)] ?? 'application/octet-stream');
  return c.body(body);
}
