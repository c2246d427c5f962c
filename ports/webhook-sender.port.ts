/**
 * Outbound webhooks: when a campaign run completes, the service POSTs a signed JSON body to a
 * URL the customer gave. This port is the protocol only (check a URL, make one attempt); retries,
 * backoff and circuit breaking belong to the caller, which reacts to the `OutsideApiError` kinds
 * like it does for any other outside API.
 *
 * The URL comes from a user, so it is a server-side request forgery risk: `checkUrl` refuses what
 * would reach the service's own network when the user submits it, and `send` checks again at
 * delivery time, on the address it actually connects to (DNS can change in between).
 */

/** The API name every `OutsideApiError` from a webhook sender carries. */
export const WEBHOOK_API = 'webhook';

/** One webhook delivery: what stays the same on every retry of it. */
export interface WebhookMessage {
  /**
   * `webhook-id`: the same on every retry of one delivery (receivers de-duplicate by it). It is
   * signed, so it must not contain `.` (the signed content is `id.timestamp.body`); printable
   * ASCII only, at most 256 characters. Anything else is a programming error: `send` rejects
   * with a `TypeError` and sends nothing.
   */
  readonly id: string;
  /** The JSON body, exactly as sent and signed (UTF-8 on the wire). */
  readonly body: string;
}

export interface WebhookSender {
  /**
   * Checks a URL a user submits: http/https only, no credentials in it, and its host resolves
   * only to public addresses (unless the sender allows private networks). Resolves with the
   * normalized URL (`URL.href`); rejects with `InvalidWebhookUrl`, whose message a person can act
   * on and which is safe to show them (never an internal error text).
   */
  checkUrl(url: string): Promise<string>;

  /**
   * One delivery attempt: POST `message.body`, signed per Standard Webhooks with a fresh
   * `webhook-timestamp`. Redirects are not followed. Resolves on a 2xx. Otherwise rejects with an
   * `OutsideApiError` (api `webhook`) whose message names only the status and a fixed reason:
   * - `unavailable`: 5xx, 408, timeout, connection or TLS error (retry with backoff; 503 may
   *   carry `retryAfterMs`);
   * - `rate_limited`: 429, with `retryAfterMs` when the receiver sent `retry-after`;
   * - `rejected`: 3xx, any other 4xx (410 means the receiver wants no more), or an address the
   *   sender refuses at delivery time (retrying will not help).
   * When the caller aborts `signal`, rejects with `signal.reason` as it is.
   */
  send(url: string, message: WebhookMessage, signal: AbortSignal): Promise<void>;
}

/** A webhook URL the user must change. The message is written for that user and holds no internal detail. */
export class InvalidWebhookUrl extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidWebhookUrl';
  }
}
