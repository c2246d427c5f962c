/**
 * Standard Webhooks signing: the reference implementation's own test vector, and the secret's
 * accepted shape (with errors that never echo the secret).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseWebhookSecret, webhookSignature } from '../../adapters/webhooks/signature.ts';
import { STANDARD_WEBHOOKS_VECTOR } from '../support/webhooks.ts';

describe('webhookSignature', () => {
  // Where the vector comes from is cited in test/support/webhooks.ts.
  it("matches the Standard Webhooks reference implementation's test vector", () => {
    const { secret, id, timestamp, body, signature } = STANDARD_WEBHOOKS_VECTOR;
    const key = parseWebhookSecret(secret);
    expect(key).toHaveLength(24);
    expect(webhookSignature(key, id, timestamp, body)).toBe(signature);
    expect(webhookSignature(key, id, timestamp, Buffer.from(body))).toBe(signature);
  });

  it('signs the body as UTF-8 bytes', () => {
    const key = randomBytes(32);
    const body = '{"name":"Zoë 🚀"}';
    expect(webhookSignature(key, 'msg_1', 1, body)).toBe(webhookSignature(key, 'msg_1', 1, Buffer.from(body, 'utf8')));
    expect(webhookSignature(key, 'msg_1', 1, body)).not.toBe(webhookSignature(key, 'msg_1', 1, Buffer.from(body, 'latin1')));
  });
});

describe('parseWebhookSecret', () => {
  it.each([
    ['24 bytes, unpadded', `whsec_${randomBytes(24).toString('base64')}`, 24],
    ['32 bytes, padded (what Svix-style dashboards hand out)', `whsec_${randomBytes(32).toString('base64')}`, 32],
    ['32 bytes, padding left off', `whsec_${randomBytes(32).toString('base64').replace(/=+$/, '')}`, 32],
    ['64 bytes, the maximum', `whsec_${randomBytes(64).toString('base64')}`, 64],
  ])('accepts %s', (_name, secret, bytes) => {
    expect(parseWebhookSecret(secret)).toHaveLength(bytes);
  });

  const hidden = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  it.each([
    ['no prefix (bare base64 is refused: add whsec_)', hidden, /must start with whsec_/],
    ['the asymmetric prefix', `whsk_${hidden}`, /must start with whsec_/],
    ['URL-safe base64', `whsec_${hidden.slice(0, -4)}ab-_`, /standard base64/],
    ['characters outside base64', `whsec_${hidden}!!!!`, /standard base64/],
    ['spaces', `whsec_ ${hidden}`, /standard base64/],
    ['broken padding', `whsec_${hidden}A=`, /standard base64/],
    ['an empty key', 'whsec_', /24 to 64/],
    ['23 bytes', `whsec_${randomBytes(23).toString('base64')}`, /24 to 64/],
    ['65 bytes', `whsec_${randomBytes(65).toString('base64')}`, /24 to 64/],
  ])('refuses %s, without printing the secret', (_name, secret, message) => {
    let caught: unknown;
    try {
      parseWebhookSecret(secret);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RangeError);
    const text = String((caught as Error).message);
    expect(text).toMatch(message);
    const key = secret.replace(/^wh(sec|sk)_/, '');
    if (key.length > 0) expect(text).not.toContain(key.slice(0, 8));
  });
});
