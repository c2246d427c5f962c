/**
 * Chooses the providers at start-up. With both keys: the real APIs (base URLs overridable, for
 * a proxy or a standalone sandbox). With neither: the sandbox provider in-process on a local
 * port, announced loudly, its output labelled and its model names `sandbox/...`. With only
 * one: start-up fails, because mixing real research with sandbox lines (or the reverse) would
 * look real and be neither. A set key never falls back to the sandbox, whatever happens later.
 */
import type { Log } from '../../ports/logger.port.ts';
import type { MessageWriter, ResearchProvider } from '../../ports/providers.port.ts';
import { SANDBOX_RESEARCH_MODEL, SANDBOX_WRITER_MODEL } from '../sandbox/answers.ts';
import { faultInterceptors } from '../sandbox/faults.ts';
import { startSandbox } from '../sandbox/server.ts';
import { DEFAULT_PROVIDER_TIMEOUT_MS } from './client.ts';
import { DEFAULT_PERSONALIZATION_MODEL, OPENROUTER_BASE_URL, OpenRouterMessageWriter } from './openrouter-writer.ts';
import { DEFAULT_RESEARCH_MODEL, PERPLEXITY_BASE_URL, PerplexityResearchProvider } from './perplexity-research.ts';

export interface ProviderConfig {
  /** PROVIDERS=sandbox: without keys, run on the in-process sandbox. Without it, missing keys are an error. */
  readonly sandbox?: boolean | undefined;
  /** SANDBOX_FABRICATE_RATE, default 0: the share of the in-process sandbox's lines that invent a specific. */
  readonly sandboxFabricateRate?: number | undefined;
  /** PERPLEXITY_API_KEY */
  readonly perplexityApiKey?: string | undefined;
  /** PERPLEXITY_BASE_URL, default https://api.perplexity.ai/v1 */
  readonly perplexityBaseUrl?: string | undefined;
  /** OPENROUTER_API_KEY */
  readonly openrouterApiKey?: string | undefined;
  /** OPENROUTER_BASE_URL, default https://openrouter.ai/api/v1 */
  readonly openrouterBaseUrl?: string | undefined;
  /** RESEARCH_MODEL, default perplexity/sonar */
  readonly researchModel?: string | undefined;
  /** PERSONALIZATION_MODEL, default anthropic/claude-sonnet-4.6 */
  readonly personalizationModel?: string | undefined;
  /** PROVIDER_TIMEOUT_MS, default 60000: per call, for both providers. */
  readonly timeoutMs?: number | undefined;
}

export interface Providers {
  readonly research: ResearchProvider;
  readonly writer: MessageWriter;
  /** True when no key is set and both adapters talk to the in-process sandbox. */
  readonly usingSandbox: boolean;
  /** The in-process sandbox, when used. */
  readonly sandbox?: { readonly url: string; close(): Promise<void> };
  /** Stops the in-process sandbox, if any; nothing to do otherwise. */
  close(): Promise<void>;
}

/** A provider configuration that cannot start; the message names variables, never their values. */
export class ProviderConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderConfigError';
  }
}

/** Why a process that would call providers refuses to start without keys. */
export const NO_PROVIDER_KEYS =
  'no provider keys: set PERPLEXITY_API_KEY and OPENROUTER_API_KEY, or PROVIDERS=sandbox to run on the labelled sandbox (made-up research and lines; never in production)';

export const SANDBOX_WARNING =
  'SANDBOX PROVIDERS: no PERPLEXITY_API_KEY / OPENROUTER_API_KEY set — leads get labelled sandbox output, not real research';

/** Any string: the in-process sandbox accepts any bearer token, and the adapters must send one. */
const SANDBOX_KEY = 'sandbox';

export async function createProviders(config: ProviderConfig, logger: Log): Promise<Providers> {
  const perplexityKey = present(config.perplexityApiKey);
  const openrouterKey = present(config.openrouterApiKey);
  const timeoutMs = config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new ProviderConfigError('PROVIDER_TIMEOUT_MS must be a positive whole number of milliseconds');
  const researchModel = present(config.researchModel) ?? DEFAULT_RESEARCH_MODEL;
  const personalizationModel = present(config.personalizationModel) ?? DEFAULT_PERSONALIZATION_MODEL;

  if (perplexityKey === undefined && openrouterKey === undefined) {
    const baseUrls = [
      ...(present(config.perplexityBaseUrl) === undefined ? [] : ['PERPLEXITY_BASE_URL']),
      ...(present(config.openrouterBaseUrl) === undefined ? [] : ['OPENROUTER_BASE_URL']),
    ];
    if (config.sandbox !== true) {
      throw new ProviderConfigError(NO_PROVIDER_KEYS);
    }
    if (baseUrls.length > 0) {
      throw new ProviderConfigError(
        `${baseUrls.join(' and ')} set without PERPLEXITY_API_KEY and OPENROUTER_API_KEY: set both keys (any non-empty value for a sandbox started with \`npm run sandbox\`), or unset the base URL to use the in-process sandbox`,
      );
    }
    const fabricateRate = config.sandboxFabricateRate ?? 0;
    if (!(fabricateRate >= 0 && fabricateRate <= 1)) throw new ProviderConfigError('SANDBOX_FABRICATE_RATE must be a share from 0 to 1');
    // A share of lines that invent a specific, for the quality gates to refuse (faults.ts fabricateRate).
    const interceptors = fabricateRate > 0 ? faultInterceptors({ fabricateRate }) : [];
    const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, interceptors });
    logger.warn({ sandbox_url: sandbox.url, ...(fabricateRate > 0 ? { fabricate_rate: fabricateRate } : {}) }, SANDBOX_WARNING);
    // The sandbox's own model names unless others are configured: whatever is asked, it answers
    // as `sandbox/...`, and that is the model each lead records.
    return {
      research: new PerplexityResearchProvider({
        apiKey: SANDBOX_KEY,
        baseURL: sandbox.url,
        model: present(config.researchModel) ?? SANDBOX_RESEARCH_MODEL,
        timeoutMs,
        name: 'sandbox-research',
      }),
      writer: new OpenRouterMessageWriter({
        apiKey: SANDBOX_KEY,
        baseURL: sandbox.url,
        model: present(config.personalizationModel) ?? SANDBOX_WRITER_MODEL,
        timeoutMs,
        name: 'sandbox-writer',
      }),
      usingSandbox: true,
      sandbox: { url: sandbox.url, close: () => sandbox.close() },
      close: () => sandbox.close(),
    };
  }

  if (perplexityKey === undefined || openrouterKey === undefined) {
    const [set, missing] = perplexityKey === undefined ? ['OPENROUTER_API_KEY', 'PERPLEXITY_API_KEY'] : ['PERPLEXITY_API_KEY', 'OPENROUTER_API_KEY'];
    throw new ProviderConfigError(
      `${set} is set but ${missing} is not: set both for real providers, or neither to run on the sandbox provider (real and sandbox output are never mixed)`,
    );
  }

  const perplexityBaseUrl = present(config.perplexityBaseUrl) ?? PERPLEXITY_BASE_URL;
  const openrouterBaseUrl = present(config.openrouterBaseUrl) ?? OPENROUTER_BASE_URL;
  logger.info(
    {
      research: { base_url: shownUrl(perplexityBaseUrl), model: researchModel },
      writer: { base_url: shownUrl(openrouterBaseUrl), model: personalizationModel },
      timeout_ms: timeoutMs,
    },
    'providers configured',
  );
  return {
    research: new PerplexityResearchProvider({ apiKey: perplexityKey, baseURL: perplexityBaseUrl, model: researchModel, timeoutMs }),
    writer: new OpenRouterMessageWriter({ apiKey: openrouterKey, baseURL: openrouterBaseUrl, model: personalizationModel, timeoutMs }),
    usingSandbox: false,
    close: () => Promise.resolve(),
  };
}

function present(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/** A base URL fit for a log line: no user:password, no query string. */
function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}
