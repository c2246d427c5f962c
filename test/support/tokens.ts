/**
 * Supabase-style access tokens for tests: HS256 tokens signed with a test secret (or a wrong
 * one, for forgeries), and ES256 tokens whose public key is served by a real local JWKS endpoint
 * at the path Supabase uses.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/** The SUPABASE_JWT_SECRET of the test server (at least 32 characters, like a real one). */
export const TEST_JWT_SECRET = 'test-only-jwt-secret-0123456789abcdef';

export interface TokenClaims {
  /** The user id (`sub`); a fresh UUID when absent. */
  readonly sub?: string;
  /** `authenticated` unless given. */
  readonly role?: string;
  /** Seconds from now until `exp`; negative for an expired token. */
  readonly expiresInSec?: number;
  /** Leave `exp` out altogether. */
  readonly noExpiry?: boolean;
  /** `authenticated` unless given; null leaves `aud` out. */
  readonly aud?: string | readonly string[] | null;
  /** Sets `is_anonymous` (Supabase's anonymous sign-ins). */
  readonly isAnonymous?: boolean;
}

function claims(options: TokenClaims): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { sub: options.sub ?? randomUUID(), role: options.role ?? 'authenticated', iat: now };
  if (options.aud !== null) payload.aud = options.aud === undefined ? 'authenticated' : typeof options.aud === 'string' ? options.aud : [...options.aud];
  if (options.isAnonymous !== undefined) payload.is_anonymous = options.isAnonymous;
  if (!options.noExpiry) payload.exp = now + (options.expiresInSec ?? 3600);
  return payload;
}

/** An HS256 token signed with `secret` (TEST_JWT_SECRET unless given: pass another to forge one). */
export async function hs256Token(options: TokenClaims = {}, secret: string = TEST_JWT_SECRET): Promise<string> {
  return new SignJWT(claims(options)).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

export interface JwksServer {
  /** What SUPABASE_URL would be: the JWKS is at `${supabaseUrl}/auth/v1/.well-known/jwks.json`. */
  readonly supabaseUrl: string;
  /** An ES256 token signed with the published key. */
  sign(options?: TokenClaims): Promise<string>;
  /** An ES256 token signed with a key that is not published, under the published key's `kid`. */
  signWithUnpublishedKey(options?: TokenClaims): Promise<string>;
  /** How many times the JWKS was fetched (jose caches it). */
  readonly fetches: number;
  close(): Promise<void>;
}

/** A real HTTP server on a free port that publishes one ES256 public key like a Supabase project. */
export async function startJwksServer(): Promise<JwksServer> {
  const kid = randomUUID();
  const published = await generateKeyPair('ES256', { extractable: true });
  const unpublished = await generateKeyPair('ES256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(published.publicKey)), kid, alg: 'ES256', use: 'sig' }] });

  let fetches = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/auth/v1/.well-known/jwks.json') {
      fetches += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(jwks);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const signWith = (key: CryptoKey) => (options: TokenClaims = {}) =>
    new SignJWT(claims(options)).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);

  return {
    supabaseUrl: `http://127.0.0.1:${port}`,
    sign: signWith(published.privateKey),
    signWithUnpublishedKey: signWith(unpublished.privateKey),
    get fetches() {
      return fetches;
    },
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
