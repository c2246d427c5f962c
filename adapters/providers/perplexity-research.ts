/**
 * Research through Perplexity's Agent API, which speaks OpenAI's Responses shape: the openai
 * SDK's `responses.create` with `baseURL` https://api.perplexity.ai/v1. The sandbox provider
 * speaks the same shape, so tests run this exact code over real HTTP.
 */
import type OpenAI from 'openai';
import * as v from 'valibot';
import type { OutsideApiName } from '../../ports/outside-api.port.ts';
import type { Citation, LeadProfile, Research, ResearchProvider } from '../../ports/providers.port.ts';
import { providerClient } from './client.ts';
import { genAiSpan } from './genai-span.ts';
import { providerError, toProviderError, type ErrorSource } from './errors.ts';
import { RESEARCH_API } from './apis.ts';
import { researchInput, researchInstructions } from './prompts.ts';

export const PERPLEXITY_BASE_URL = 'https://api.perplexity.ai/v1';
export const DEFAULT_RESEARCH_MODEL = 'perplexity/sonar';

/** More sources than this add nothing to an opening line. */
const MAX_CITATIONS = 20;
/** Room for 3-5 cited bullet points. */
const MAX_OUTPUT_TOKENS = 1_000;

export interface PerplexityResearchOptions {
  readonly apiKey: string;
  /** Default PERPLEXITY_BASE_URL. */
  readonly baseURL?: string;
  /** Default `perplexity/sonar`. */
  readonly model?: string;
  /** Per-call limit, on top of the caller's AbortSignal. Default 60 s. */
  readonly timeoutMs?: number;
  /** How error messages name this provider. Default `perplexity`. */
  readonly name?: string;
  /**
   * The outside API these calls are, as the pipeline names it: the errors' `api`, which must be
   * the resilient wrapper's name. Default `research`.
   */
  readonly api?: OutsideApiName;
}

// Only the fields this adapter reads; anything else in the answer is ignored.
const UrlCitation = v.object({ type: v.literal('url_citation'), url: v.string(), title: v.optional(v.nullable(v.string())) });
const OutputText = v.object({ type: v.literal('output_text'), text: v.string(), annotations: v.optional(v.nullable(v.array(v.unknown()))) });
const MessageItem = v.object({ type: v.literal('message'), content: v.array(v.unknown()) });
const SearchResult = v.object({ url: v.string(), title: v.optional(v.nullable(v.string())) });
/** Perplexity's output item listing the pages its search returned. */
const SearchResultsItem = v.object({ type: v.literal('search_results'), results: v.array(v.unknown()) });
const ResponseBody = v.object({
  /** `failed` comes with an `error` object instead of output. */
  status: v.optional(v.nullable(v.string())),
  model: v.optional(v.nullable(v.string())),
  output_text: v.optional(v.nullable(v.string())),
  // Loose: the items keep their fields for the checks below.
  output: v.array(v.looseObject({ type: v.string() })),
  /** Some answers carry the sources as a top-level list instead of (or as well as) an output item. */
  search_results: v.optional(v.nullable(v.array(v.unknown()))),
  usage: v.optional(v.nullable(v.object({ input_tokens: v.number(), output_tokens: v.number() }))),
});

export class PerplexityResearchProvider implements ResearchProvider {
  readonly #client: OpenAI;
  readonly #model: string;
  readonly #source: ErrorSource;
  readonly #baseURL: string;

  constructor(options: PerplexityResearchOptions) {
    this.#model = options.model ?? DEFAULT_RESEARCH_MODEL;
    this.#baseURL = options.baseURL ?? PERPLEXITY_BASE_URL;
    this.#source = { api: options.api ?? RESEARCH_API, provider: options.name ?? 'perplexity' };
    this.#client = providerClient({
      apiKey: options.apiKey,
      baseURL: this.#baseURL,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal): Promise<Research> {
    return genAiSpan({ system: 'perplexity', operation: 'chat', requestModel: this.#model, baseURL: this.#baseURL }, () => this.#research(input, signal));
  }

  async #research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal): Promise<Research> {
    let answer: unknown;
    try {
      answer = await this.#client.responses.create(
        {
          model: this.#model,
          instructions: researchInstructions(input.prompt),
          input: researchInput(input.lead),
          tools: [{ type: 'web_search' }],
          max_output_tokens: MAX_OUTPUT_TOKENS,
        },
        { signal },
      );
    } catch (error) {
      throw toProviderError(this.#source, error);
    }
    return this.#read(answer);
  }

  #read(answer: unknown): Research {
    const parsed = v.safeParse(ResponseBody, answer);
    if (!parsed.success) throw providerError(this.#source, 'malformed', { detail: 'unexpected response shape' });
    const body = parsed.output;
    if (body.status === 'failed') throw providerError(this.#source, 'unavailable', { detail: 'response failed' });

    const texts: string[] = [];
    const citations: Citation[] = [];
    const searchResults: unknown[] = [...(body.search_results ?? [])];
    for (const item of body.output) {
      if (v.is(MessageItem, item)) {
        for (const part of item.content) {
          if (!v.is(OutputText, part)) continue;
          texts.push(part.text);
          for (const annotation of part.annotations ?? []) {
            if (v.is(UrlCitation, annotation)) citations.push(citation(annotation.url, annotation.title));
          }
        }
      } else if (v.is(SearchResultsItem, item)) {
        searchResults.push(...item.results);
      }
    }
    for (const result of searchResults) {
      if (v.is(SearchResult, result)) citations.push(citation(result.url, result.title));
    }

    const text = texts.join('').trim() || (body.output_text ?? '').trim();
    if (text === '') throw providerError(this.#source, 'malformed', { detail: 'no research text' });

    return {
      text,
      citations: dedupe(citations),
      model: body.model ?? this.#model,
      ...(body.usage == null ? {} : { usage: { inputTokens: body.usage.input_tokens, outputTokens: body.usage.output_tokens } }),
    };
  }
}

function citation(url: string, title: string | null | undefined): Citation {
  const trimmed = title?.trim();
  return trimmed ? { url: url.trim(), title: trimmed } : { url: url.trim() };
}

/** One citation per URL (the first with a title wins), web links only, at most MAX_CITATIONS. */
function dedupe(citations: readonly Citation[]): Citation[] {
  const byUrl = new Map<string, Citation>();
  for (const item of citations) {
    if (!isWebUrl(item.url)) continue;
    const seen = byUrl.get(item.url);
    if (seen === undefined || (seen.title === undefined && item.title !== undefined)) byUrl.set(item.url, item);
  }
  return [...byUrl.values()].slice(0, MAX_CITATIONS);
}

function isWebUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}
