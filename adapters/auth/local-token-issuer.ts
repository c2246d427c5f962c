/**
 * The "local user" of `npm run dev`: access tokens shaped as Supabase issues them (HS256, `role`
 * and `aud` `authenticated`, `sub` a UUID), signed with SUPABASE_JWT_SECRET, as `npm run token`
 * signs them. Only the web app's local sign-in uses it, and only when LOCAL_SIGN_IN=true; the
 * secret never leaves the process, only tokens do.
 *
 * A name picks the user: `local` (the default) is `npm run token`'s user, so the page and curl see
 * the same campaigns; any other name is a user of its own (a UUID derived from the name), so two
 * people, or a test, can try what one user cannot see of another.
 */
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

/** `npm run token`'s default user (scripts/dev-token.ts). */
export const LOCAL_USER_ID = '00000000-0000-4000-8000-000000000001';
export const DEFAULT_LOCAL_USER = 'local';
/** How long a local token lives; the page asks for a new one before it ends. */
export const LOCAL_TOKEN_TTL_SEC = 3600;

export interface LocalToken {
  readonly access_token: string;
  /** Seconds since the epoch, as Supabase's sessions say it. */
  readonly expires_at: number;
  readonly user: { readonly id: string; readonly name: string };
}

/** The user id of a local user's name (case and surrounding spaces ignored). */
export function localUserId(name: string): string {
  const key = name.trim().toLowerCase();
  if (key === DEFAULT_LOCAL_USER) return LOCAL_USER_ID;
  // A name-based UUID (RFC 9562 version 8: custom, here SHA-256 of a fixed prefix and the name).
  const hex = createHash('sha256').update(`ai-growth-accelerator local user:${key}`).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export class LocalTokenIssuer {
  readonly #key: Uint8Array;
  readonly #audience: string;

  constructor(options: { readonly jwtSecret: string; readonly audience: string }) {
    this.#key = new TextEncoder().encode(options.jwtSecret);
    this.#audience = options.audience;
  }

  async issue(name: string = DEFAULT_LOCAL_USER): Promise<LocalToken> {
    const id = localUserId(name);
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + LOCAL_TOKEN_TTL_SEC;
    const accessToken = await new SignJWT({ role: 'authenticated', session_id: randomUUID(), user_metadata: { name: name.trim() } })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(id)
      .setAudience(this.#audience)
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(this.#key);
    return { access_token: accessToken, expires_at: expiresAt, user: { id, name: name.trim() } };
  }
}
