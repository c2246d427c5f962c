/**
 * A CLIENT span per provider request, child of the active span (the consumer's, for the lead's
 * message), with OpenTelemetry's GenAI conventions: the system, the operation, the model asked
 * for and the one that answered, the tokens used, and `error.type` (the failure kind) when it
 * fails. Never the prompt, the answer, the lead or the key: only the model names, counts and the
 * provider's host. The span covers the request and the reading of its answer, not the wait for a
 * turn in the rate budget (the resilient layer records that as an event on the caller's span).
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OutsideApiError } from '../../ports/outside-api.port.ts';
import type { Usage } from '../../ports/providers.port.ts';
import { getTracer } from '../telemetry/tracing.ts';

export interface GenAiCall {
  /** `gen_ai.system`: the API the adapter speaks, `perplexity` or `openrouter`. */
  readonly system: string;
  /** `gen_ai.operation.name`: `chat`. */
  readonly operation: string;
  readonly requestModel: string;
  /** The provider's base URL: its host and port become `server.address` and `server.port`. */
  readonly baseURL: string;
}

export function genAiSpan<T extends { readonly model: string; readonly usage?: Usage }>(call: GenAiCall, work: () => Promise<T>): Promise<T> {
  const server = serverOf(call.baseURL);
  return getTracer().startActiveSpan(
    `${call.operation} ${call.requestModel}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.system': call.system,
        'gen_ai.provider.name': call.system,
        'gen_ai.operation.name': call.operation,
        'gen_ai.request.model': call.requestModel,
        ...server,
      },
    },
    async (span) => {
      try {
        const result = await work();
        span.setAttribute('gen_ai.response.model', result.model);
        if (result.usage !== undefined) {
          span.setAttribute('gen_ai.usage.input_tokens', result.usage.inputTokens);
          span.setAttribute('gen_ai.usage.output_tokens', result.usage.outputTokens);
        }
        return result;
      } catch (error) {
        // The failure kind and our own fixed message (provider, status, reason): never the provider's text.
        const type = error instanceof OutsideApiError ? error.failure : error instanceof Error ? error.name : 'unknown';
        span.setAttribute('error.type', type);
        if (error instanceof OutsideApiError && error.status !== undefined) span.setAttribute('http.response.status_code', error.status);
        span.setStatus({ code: SpanStatusCode.ERROR, ...(error instanceof OutsideApiError ? { message: error.message } : {}) });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

function serverOf(baseURL: string): Record<string, string | number> {
  try {
    const url = new URL(baseURL);
    return { 'server.address': url.hostname, ...(url.port === '' ? {} : { 'server.port': Number(url.port) }) };
  } catch {
    return {};
  }
}
