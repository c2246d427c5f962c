/**
 * Verifies Supabase Auth access tokens with jose. A project signs either with its legacy shared
 * secret (HS256) or with asymmetric keys published at `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`
 * (ES256 or RS256); the token's `alg` header picks the key, and an algorithm we hold no key for
 * is rejected. The reasons given in InvalidTokenError are short and never quote the token.
 *
 * Besides the signature and expiry: the audience must be one we accept (Supabase issues user
 * sessions for `authenticated`; a token minted for another audience of the same project is not
 * meant for us), and an anonymous sign-in (`is_anonymous: true`, a session anyone can create
 * without an account) is refused unless anonymous users are allowed.
 */
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { InvalidTokenError, type AuthenticatedUser, type TokenVerifier } from '../../ports/token-verifier.port.ts';

const ASYMMETRIC_ALGORITHMS = ['ES256', 'RS256'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A JWKS endpoint slower than this fails the request rather than hanging it. */
const JWKS_TIMEOUT_MS = 5_000;

export interface SupabaseTokenVerifierOptions {
  /** SUPABASE_JWT_SECRET: enables HS256 tokens. */
  readonly jwtSecret?: string | undefined;
  /** SUPABASE_URL: enables ES256/RS256 tokens, with keys fetched (and cached by jose) from its JWKS. */
  readonly supabaseUrl?: string | undefined;
  /** Allowed clock skew for `exp`/`nbf`, in seconds. */
  readonly clockToleranceSec?: number | undefined;
  /** SUPABASE_JWT_AUDIENCE: the `aud` values accepted (any one of them). Default `authenticated`. */
  readonly audiences?: readonly string[] | undefined;
  /** ALLOW_ANONYMOUS_USERS: accept Supabase anonymous sign-ins. Default false. */
  readonly allowAnonymous?: boolean | undefined;
}

/** Supabase's audience for a signed-in user's session. */
export const DEFAULT_AUDIENCE = 'authenticated';

export class SupabaseTokenVerifier implements TokenVerifier {
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  readonly #options: JWTVerifyOptions;
  readonly #audiences: readonly string[];
  readonly #allowAnonymous: boolean;

  constructor(options: SupabaseTokenVerifierOptions) {
    this.#secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : undefined;
    this.#jwks = options.supabaseUrl
      ? createRemoteJWKSet(new URL('auth/v1/.well-known/jwks.json', withTrailingSlash(options.supabaseUrl)), {
          timeoutDuration: JWKS_TIMEOUT_MS,
        })
      : undefined;
    this.#audiences = options.audiences !== undefined && options.audiences.length > 0 ? options.audiences : [DEFAULT_AUDIENCE];
    this.#allowAnonymous = options.allowAnonymous ?? false;
    // jose checks `aud` (a string, or an array of which one must match) and requires its presence.
    this.#options = { requiredClaims: ['exp', 'sub'], audience: [...this.#audiences], clockTolerance: options.clockToleranceSec ?? 5 };
  }

  async verify(token: string): Promise<AuthenticatedUser> {
    const payload = await this.#verifySignature(token);
    // anon and service_role tokens are signed by the same keys but are not a user's session.
    if (payload.role !== 'authenticated') throw new InvalidTokenError("not a signed-in user's token");
    // An anonymous session is a signed-in user to Supabase, but anyone can mint one: not an account.
    if (payload.is_anonymous === true && !this.#allowAnonymous) {
      throw new InvalidTokenError('anonymous sign-ins are not accepted: sign in with an account (email, OAuth or SSO)');
    }
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) {
      throw new InvalidTokenError('token subject is not a user id');
    }
    return { userId: payload.sub };
  }

  async #verifySignature(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new InvalidTokenError('malformed token');
    }
    try {
      if (alg === 'HS256' && this.#secret) {
        return (await jwtVerify(token, this.#secret, { ...this.#options, algorithms: ['HS256'] })).payload;
      }
      if (alg !== undefined && ASYMMETRIC_ALGORITHMS.includes(alg) && this.#jwks) {
        return (await jwtVerify(token, this.#jwks, { ...this.#options, algorithms: ASYMMETRIC_ALGORITHMS })).payload;
      }
    } catch (error) {
      throw toInvalidToken(error, this.#audiences);
    }
    throw new InvalidTokenError('token algorithm not accepted');
  }
}

/**
 * Problems with the token become InvalidTokenError (401). Anything else, such as an unreachable
 * or broken JWKS endpoint, is the server's problem and is rethrown as is.
 */
function toInvalidToken(error: unknown, audiences: readonly string[]): unknown {
  if (error instanceof errors.JWTExpired) return new InvalidTokenError('token expired');
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') {
    return new InvalidTokenError(
      `token audience (aud) is not ${audiences.join(' or ')}: send the access token of a signed-in user of this project's Supabase Auth`,
    );
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new InvalidTokenError(error.reason === 'missing' ? `token has no ${error.claim} claim` : `token ${error.claim} claim invalid`);
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new InvalidTokenError('signature invalid');
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new InvalidTokenError('token algorithm not accepted');
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return new InvalidTokenError('malformed token');
  return error;
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
