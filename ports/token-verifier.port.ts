/** Who is calling: the Supabase user behind a verified access token. */
export interface AuthenticatedUser {
  /** The token's `sub` claim: the Supabase Auth user id (a UUID). */
  readonly userId: string;
}

/**
 * Verifies a Supabase access token (HS256 with the project's JWT secret, or an asymmetric key
 * from the project's JWKS) and says who it belongs to. Rejects with `InvalidTokenError` when the
 * token is malformed, forged, expired, or not a signed-in user's token.
 */
export interface TokenVerifier {
  verify(token: string): Promise<AuthenticatedUser>;
}

export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}
