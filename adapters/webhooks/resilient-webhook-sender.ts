/**
 * The webhook sender behind its outside API's resilience (adapters/outside-api/): each attempt
 * goes through the `webhook` API with the receiver's endpoint (origin and path, hashed: paths may
 * hold tokens) as the call key, so an endpoint whose deliveries keep failing gets its own open
 * circuit (calls refused at once for a while) and never holds the others back, not even other
 * customers' endpoints on the same shared host (hooks.zapier.com, hooks.slack.com).
 */
import { createHash } from 'node:crypto';
import type { OutsideApi } from '../../ports/outside-api.port.ts';
import type { WebhookMessage, WebhookSender } from '../../ports/webhook-sender.port.ts';

export class ResilientWebhookSender implements WebhookSender {
  readonly #inner: WebhookSender;
  readonly #api: OutsideApi;

  constructor(inner: WebhookSender, api: OutsideApi) {
    this.#inner = inner;
    this.#api = api;
  }

  checkUrl(url: string): Promise<string> {
    return this.#inner.checkUrl(url);
  }

  send(url: string, message: WebhookMessage, signal: AbortSignal): Promise<void> {
    return this.#api.call((callSignal) => this.#inner.send(url, message, callSignal), signal, { key: endpointKey(url) });
  }
}

/** The breaker key: the endpoint (origin and path, not the query), hashed (an unparseable URL shares one key, and fails in the sender). */
function endpointKey(url: string): string {
  let endpoint = '';
  try {
    const parsed = new URL(url);
    endpoint = `${parsed.origin}${parsed.pathname}`;
  } catch {
    // The sender refuses it.
  }
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22);
}
