/**
 * The outside APIs the two providers are, named by the pipeline step that calls them. The name
 * keys the shared state (rate budget, pause, circuit record: `pause.research`, ...), names the
 * API in the status the edge shows ("research paused: ...") and picks the consumer's gate, so it
 * is the same whichever provider (Perplexity, OpenRouter, the sandbox) answers.
 */
export const RESEARCH_API = 'research';
export const PERSONALIZATION_API = 'personalization';

/** Both, in the order the status lists them. */
export const PROVIDER_APIS = [RESEARCH_API, PERSONALIZATION_API] as const;
export type ProviderApiName = (typeof PROVIDER_APIS)[number];

/** The setting that caps each provider's requests a minute, named in the status's `paced` notice. */
export const PROVIDER_RATE_SETTINGS: Readonly<Record<ProviderApiName, string>> = {
  research: 'RESEARCH_RPM',
  personalization: 'PERSONALIZATION_RPM',
};
