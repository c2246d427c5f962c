/**
 * Standard Webhooks' symmetric signature (https://www.standardwebhooks.com, spec 1.0.0): the
 * secret is `whsec_` + base64 of 24 to 64 random bytes; the signature of one attempt is
 * `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)). Signed with `node:crypto`.
 *
 * Only the prefixed form of the secret is accepted. Receivers' libraries take the secret with or
 * without `whsec_`, so requiring it costs the operator six characters; in exchange a secret in the
 * wrong encoding (a hex string is also valid base64) fails at start-up instead of silently signing
 * with a key the receiver does not have. Error messages never print the secret or its length.
 */
import { createHmac } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 64;

/** The signing key inside a `whsec_` secret; throws a `RangeError` that does not echo the secret. */
export function parseWebhookSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new RangeError(`webhook secret must start with ${SECRET_PREFIX} followed by base64 (the Standard Webhooks format)`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  const unpadded = encoded.replace(/={1,2}$/, '');
  // Buffer's base64 decoder skips characters it does not know: check the alphabet and that the
  // decoded bytes encode back to the same text, so nothing is silently dropped.
  const key = Buffer.from(unpadded, 'base64');
  const canonical = /^[A-Za-z0-9+/]*$/.test(unpadded) && key.toString('base64').replace(/=+$/, '') === unpadded;
  const padded = encoded === unpadded || encoded.length % 4 === 0;
  if (!canonical || !padded) throw new RangeError(`webhook secret must be ${SECRET_PREFIX} followed by standard base64`);
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    throw new RangeError(`webhook secret must encode ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} random bytes`);
  }
  return key;
}

/** `v1,<base64 HMAC-SHA256>` over `${id}.${timestamp}.${body}`, the body's bytes as sent. */
export function webhookSignature(key: Buffer, id: string, timestampSeconds: number, body: Buffer | string): string {
  const hmac = createHmac('sha256', key);
  hmac.update(`${id}.${timestampSeconds}.`, 'utf8');
  hmac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return `v1,${hmac.digest('base64')}`;
}
