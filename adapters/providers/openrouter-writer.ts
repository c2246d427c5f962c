/**
 * The opening line, written by Claude through OpenRouter's chat-completions API (the openai
 * SDK's `chat.completions.create` with `baseURL` https://openrouter.ai/api/v1). The answer is
 * asked for as strict JSON Schema output and validated here either way, since not every model
 * behind OpenRouter honours `response_format`.
 *
 * This adapter checks the answer's shape only; what the line says (length, placeholders, banned
 * phrases, grounding) is for the quality gates (domain/personalization). A line they reject comes
 * back with `feedback` and is written again in the same chat, with one more user message that
 * lists the problems.
 */
import type OpenAI from 'openai';
import * as v from 'valibot';
import type { OutsideApiName } from '../../ports/outside-api.port.ts';
import type { OutputSpec } from '../../domain/personalization/outputs.ts';
import type { Draft, MessageWriter, WriteRequest } from '../../ports/providers.port.ts';
import { providerClient } from './client.ts';
import { genAiSpan } from './genai-span.ts';
import { failureForStatus, providerError, toProviderError, type ErrorSource } from './errors.ts';
import { PERSONALIZATION_API } from './apis.ts';
import { rewriteInput, writerInput, writerInstructions } from './prompts.ts';

export const OPENROUTER_BASE_URL = 'https://openrouter.ai/api/v1';
/** A current Claude model in OpenRouter's naming; configuration (PERSONALIZATION_MODEL) overrides it. */
export const DEFAULT_PERSONALIZATION_MODEL = 'anthropic/claude-sonnet-4.6';

/** One sentence of JSON needs little; OpenRouter reserves output allowance from this. */
const MAX_TOKENS = 400;
/** Room for each custom output's words (about 2 tokens a word, JSON included), on top of MAX_TOKENS. */
const TOKENS_PER_OUTPUT_WORD = 2;

export interface OpenRouterWriterOptions {
  readonly apiKey: string;
  /** Default OPENROUTER_BASE_URL. */
  readonly baseURL?: string;
  /** Default DEFAULT_PERSONALIZATION_MODEL. */
  readonly model?: string;
  /** Per-call limit, on top of the caller's AbortSignal. Default 60 s. */
  readonly timeoutMs?: number;
  /** How error messages name this provider. Default `openrouter`. */
  readonly name?: string;
  /**
   * The outside API these calls are, as the pipeline names it: the errors' `api`, which must be
   * the resilient wrapper's name. Default `personalization`.
   */
  readonly api?: OutsideApiName;
}

const OPENER_JSON_SCHEMA = {
  type: 'object',
  properties: {
    message: { type: 'string', description: 'The opening line: one sentence, at most 25 words.' },
    basis: { type: 'string', description: 'The research fact the line relies on, quoted as written in the research.' },
  },
  required: ['message', 'basis'],
  additionalProperties: false,
} as const;

/**
 * The answer's schema when the campaign asks for custom outputs: `outputs`, one string per name, all
 * required (strict structured output wants every property required).
 */
function openerJsonSchema(outputs: readonly OutputSpec[]): Record<string, unknown> {
  if (outputs.length === 0) return OPENER_JSON_SCHEMA;
  const properties = Object.fromEntries(
    outputs.map((output) => [output.name, { type: 'string', description: `At most ${output.maxWords} words.` }]),
  );
  return {
    ...OPENER_JSON_SCHEMA,
    properties: {
      ...OPENER_JSON_SCHEMA.properties,
      outputs: { type: 'object', properties, required: outputs.map((output) => output.name), additionalProperties: false },
    },
    required: [...OPENER_JSON_SCHEMA.required, 'outputs'],
  };
}

const Opener = v.object({
  message: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(400)),
  basis: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(2_000)),
  // Checked by the quality gates (a missing one is a problem they name), not here.
  outputs: v.optional(v.record(v.string(), v.pipe(v.string(), v.trim(), v.maxLength(4_000)))),
});

// Only the fields this adapter reads.
const CompletionBody = v.object({
  model: v.optional(v.nullable(v.string())),
  choices: v.optional(
    v.array(
      v.object({
        finish_reason: v.optional(v.nullable(v.string())),
        message: v.object({ content: v.optional(v.nullable(v.string())), refusal: v.optional(v.nullable(v.string())) }),
      }),
    ),
  ),
  /** OpenRouter can answer 200 with an error object when the upstream model failed. */
  error: v.optional(v.nullable(v.object({ code: v.optional(v.nullable(v.union([v.number(), v.string()]))) }))),
  usage: v.optional(v.nullable(v.object({ prompt_tokens: v.number(), completion_tokens: v.number() }))),
});

export class OpenRouterMessageWriter implements MessageWriter {
  readonly #client: OpenAI;
  readonly #model: string;
  readonly #source: ErrorSource;
  readonly #baseURL: string;

  constructor(options: OpenRouterWriterOptions) {
    this.#model = options.model ?? DEFAULT_PERSONALIZATION_MODEL;
    this.#baseURL = options.baseURL ?? OPENROUTER_BASE_URL;
    this.#source = { api: options.api ?? PERSONALIZATION_API, provider: options.name ?? 'openrouter' };
    this.#client = providerClient({
      apiKey: options.apiKey,
      baseURL: this.#baseURL,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      // OpenRouter's optional app attribution.
      headers: { 'X-Title': 'AI Growth Accelerator' },
    });
  }

  write(input: WriteRequest, signal: AbortSignal): Promise<Draft> {
    return genAiSpan({ system: 'openrouter', operation: 'chat', requestModel: this.#model, baseURL: this.#baseURL }, () => this.#write(input, signal));
  }

  async #write(input: WriteRequest, signal: AbortSignal): Promise<Draft> {
    const outputs = input.outputs ?? [];
    let answer: unknown;
    try {
      answer = await this.#client.chat.completions.create(
        {
          model: this.#model,
          messages: [
            { role: 'system', content: writerInstructions(input.prompt, outputs) },
            { role: 'user', content: writerInput(input.lead, input.research) },
            ...(input.feedback === undefined ? [] : [{ role: 'user' as const, content: rewriteInput(input.feedback) }]),
          ],
          response_format: { type: 'json_schema', json_schema: { name: 'opening_line', strict: true, schema: openerJsonSchema(outputs) } },
          max_tokens: MAX_TOKENS + outputs.reduce((total, output) => total + output.maxWords * TOKENS_PER_OUTPUT_WORD, 0),
        },
        { signal },
      );
    } catch (error) {
      throw toProviderError(this.#source, error);
    }
    return this.#read(answer, outputs);
  }

  #read(answer: unknown, asked: readonly OutputSpec[]): Draft {
    const parsed = v.safeParse(CompletionBody, answer);
    if (!parsed.success) throw providerError(this.#source, 'malformed', { detail: 'unexpected response shape' });
    const body = parsed.output;

    if (body.error != null) {
      const status = Number(body.error.code);
      throw Number.isInteger(status) && status >= 400
        ? providerError(this.#source, failureForStatus(status), { status, detail: 'error in a 200 answer' })
        : providerError(this.#source, 'unavailable', { detail: 'error in a 200 answer' });
    }
    const choice = body.choices?.[0];
    if (choice === undefined) throw providerError(this.#source, 'malformed', { detail: 'no choices' });
    if (choice.message.refusal != null && choice.message.refusal !== '') throw providerError(this.#source, 'rejected', { detail: 'model refused' });
    if (choice.finish_reason === 'content_filter') throw providerError(this.#source, 'rejected', { detail: 'content filter' });
    if (choice.finish_reason === 'error') throw providerError(this.#source, 'unavailable', { detail: 'upstream error' });

    const opener = parseOpener(choice.message.content ?? '');
    if (opener === undefined) {
      throw providerError(this.#source, 'malformed', { detail: choice.finish_reason === 'length' ? 'answer cut off' : 'not the expected JSON' });
    }
    // Only the outputs asked for, under their names.
    const outputs = asked.length === 0 ? undefined : Object.fromEntries(asked.flatMap((output) => {
      const text = opener.outputs?.[output.name];
      return text === undefined ? [] : [[output.name, text]];
    }));
    return {
      message: opener.message,
      basis: opener.basis,
      ...(outputs === undefined ? {} : { outputs }),
      model: body.model ?? this.#model,
      ...(body.usage == null ? {} : { usage: { inputTokens: body.usage.prompt_tokens, outputTokens: body.usage.completion_tokens } }),
    };
  }
}

/** The `{message, basis}` object in a model's answer, tolerating a ```json fence around it. */
export function parseOpener(content: string): v.InferOutput<typeof Opener> | undefined {
  const unfenced = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/i.exec(content)?.[1] ?? content;
  let json: unknown;
  try {
    json = JSON.parse(unfenced);
  } catch {
    return undefined;
  }
  const result = v.safeParse(Opener, json);
  return result.success ? result.output : undefined;
}
