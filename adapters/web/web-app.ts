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
 *   token signed with SUPABASE_JWT_SECRET, answered only to this app's page in a browser on this
 *   machine (a loopback client that named a loopback host, through no proxy, from no other origin:
 *   neither another machine, nor a page that rebinds its DNS name to 127.0.0.1, nor another site's
 *   or dev server's page gets one; see notFromThisMachine). The secret never reaches the page.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import * as v from 'valibot';
import type { AppEnv } from '../http/context.ts';
import { fromLoopbackPeer, namesLoopbackHost } from '../http/middleware/local-only.ts';
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
    securityHeaders(c);
    c.header('Content-Security-Policy', NOTHING_RUNS);
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
    securityHeaders(c);
    c.header('Content-Security-Policy', NOTHING_RUNS);
    c.header('Cache-Control', 'no-store');
    if (options.localSignIn === undefined) {
      throw new ProblemError(404, 'The local sign-in is off: it is for local development (LOCAL_SIGN_IN=true, which npm run dev sets). Sign in with your account.');
    }
    const refusal = notFromThisMachine(c);
    if (refusal !== null) throw new ProblemError(403, refusal);
    const text = await c.req.text();
    let body: unknown = {};
    try {
      if (text.trim() !== '') body = JSON.parse(text);
    } catch {
      throw new ProblemError(400, 'The body must be JSON: {} for the local user, or { "name": "..." } for a user of that name.');
    }
    const parsed = v.safeParse(LocalSessionBody, body ?? {});
    if (!parsed.success) throw new ProblemError(400, parsed.issues[0].message);
    return c.json(await options.localSignIn.issue(parsed.output.name));
  });

  routes.get('/app/vendor/supabase.js', (c) => serveFile(c, SUPABASE_UMD, 'public, max-age=86400'));
  routes.get('/app/vendor/lit-html/:file{.+}', (c) => {
    const file = c.req.param('file');
    // lit-html's Trusted Types policy passes its templates through as they are; the unsafe*
    // directives are the way around the templates (a string as markup), so the page cannot load them.
    if (basename(file).startsWith('unsafe-')) return c.notFound();
    return serveFrom(c, LIT_HTML_DIR, file, 'public, max-age=86400');
  });
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

/** The policy of everything but the page: a module, a style sheet, the icon or an answer opened on its own is inert. */
const NOTHING_RUNS = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function securityHeaders(c: Context<AppEnv>): void {
  c.header('X-Content-Type-Options', 'nosniff');
  // Links to the research's sources open other sites: they are not told which campaign was open.
  c.header('Referrer-Policy', 'no-referrer');
  c.header('X-Frame-Options', 'DENY');
  c.header('Cross-Origin-Opener-Policy', 'same-origin');
}

/** Headers a proxy adds: a request carrying one came through a proxy, whose clients may be anywhere. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'via'] as const;

/**
 * Why a local sign-in request may not be from a browser on this machine at this page, or null.
 * - The socket's peer must be loopback (another machine never is).
 * - The host it named must be loopback: a page whose DNS name was rebound to 127.0.0.1 names its own.
 * - No proxy headers: a proxy on this machine makes every client a loopback peer (a proxy that adds
 *   none and rewrites Host to localhost cannot be told apart, hence "never on a server").
 * - Same origin: a browser sends Origin (and Sec-Fetch-Site) with a POST; a page of another origin
 *   (evil.example, or a dev server on localhost:5173 that CORS_ORIGINS lets read API answers) is
 *   refused, so neither can read a token nor make one. A client that sends neither (curl) is local.
 */
function notFromThisMachine(c: Context<AppEnv>): string | null {
  const onlyHere = 'The local sign-in answers only a browser on the machine the service runs on, at http://localhost';
  if (!fromLoopbackPeer(c) || !namesLoopbackHost(c)) return `${onlyHere}.`;
  if (FORWARDING_HEADERS.some((name) => c.req.header(name) !== undefined)) return `${onlyHere}, not through a proxy.`;
  const origin = c.req.header('origin');
  const site = c.req.header('sec-fetch-site');
  if ((origin !== undefined && origin !== new URL(c.req.url).origin) || (site !== undefined && site !== 'same-origin')) {
    return `${onlyHere}, from this app's own page (not another site's).`;
  }
  return null;
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
  // A file opened on its own (the icon is an SVG, which could hold script) runs nothing.
  c.header('Content-Security-Policy', NOTHING_RUNS);
  c.header('Cache-Control', cacheControl);
  c.header('ETag', etag);
  if (c.req.header('If-None-Match') === etag) return c.body(null, 304);
  c.header('Content-Type', CONTENT_TYPES[extname(path)] ?? 'application/octet-stream');
  return c.body(body);
}
