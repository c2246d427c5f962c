/**
 * Test double of the webhook sender (never used in production code): records every attempt and
 * answers as the test scripts it; `checkUrl` accepts http(s) URLs and refuses the rest like the
 * real sender.
 */
import { InvalidWebhookUrl, type WebhookMessage, type WebhookSender } from '../../../ports/webhook-sender.port.ts';

export interface WebhookAttempt {
  readonly url: string;
  readonly message: WebhookMessage;
}

export class RecordingWebhookSender implements WebhookSender {
  readonly attempts: WebhookAttempt[] = [];
  readonly checked: string[] = [];
  /** Errors the next attempts throw, in order; an empty queue delivers. */
  readonly failures: Error[] = [];

  checkUrl(url: string): Promise<string> {
    this.checked.push(url);
    if (!/^https?:\/\//.test(url)) return Promise.reject(new InvalidWebhookUrl('webhook_url must use http or https'));
    return Promise.resolve(new URL(url).href);
  }

  send(url: string, message: WebhookMessage, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.attempts.push({ url, message });
    const failure = this.failures.shift();
    return failure === undefined ? Promise.resolve() : Promise.reject(failure);
  }
}
