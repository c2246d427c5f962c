/**
 * The webhook sender behind its outside API's resilience (adapters/outside-api/): each attempt
 * goes through the `webhook` API with the receiver's host as the call key, so a host whose
 * deliveries keep failing gets its own open circuit (calls refused at once for a while) and never
 * holds the other receivers back.
 */
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
    return this.#api.call((callSignal) => this.#inner.send(url, message, callSignal), signal, { key: hostOf(url) });
  }
}

/** The breaker key: the receiver's host and port (an unparseable URL shares one key, and fails in the sender). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}
