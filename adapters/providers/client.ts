/**
 * The openai SDK client both adapters use, set up for a provider that is not OpenAI and for a
 * pipeline that owns its retries.
 */
import OpenAI from 'openai';

export const DEFAULT_PROVIDER_TIMEOUT_MS = 60_000;

export interface ClientSettings {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export function providerClient(settings: ClientSettings): OpenAI {
  return new OpenAI({
    apiKey: settings.apiKey,
    baseURL: settings.baseURL,
    // JetStream redelivery with backoff owns retries: an SDK retry would hide a second paid
    // call from the consumer and stretch the call past its ack deadline.
    maxRetries: 0,
    timeout: settings.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
    // Not OpenAI: no OPENAI_ORG_ID / OPENAI_PROJECT_ID header may leak in from the environment.
    organization: null,
    project: null,
    ...(settings.headers === undefined ? {} : { defaultHeaders: { ...settings.headers } }),
  });
}
