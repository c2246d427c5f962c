/**
 * What the outside providers charge for a lead, priced from configuration: the cost of one call
 * from its token usage, and the estimate of a run shown before it starts.
 *
 * Amounts are exact. Prices become integers of pico-dollars (1e-12 USD) per token and per
 * request, a call's cost is summed in those integers and rounded once, half up, to the
 * micro-dollar, and it is handed out as a decimal string with exactly 6 decimals ("0.007100"):
 * the precision of the numeric(12,6) columns that store costs, so that PostgreSQL adds them
 * without the drift that summing binary floats (0.1 + 0.2) would bring over thousands of calls.
 */

/** A USD amount as a decimal string with exactly 6 decimals, e.g. "0.017880". Never negative. */
export type UsdAmount = string;

/** What one kind of provider call costs. Every field is in USD and may be 0. */
export interface Price {
  /** A flat fee per call: Perplexity's search fee; 0 for a pure token-priced model. */
  readonly perRequestUsd: number;
  readonly perMillionInputTokensUsd: number;
  readonly perMillionOutputTokensUsd: number;
}

export interface Pricing {
  readonly research: Price;
  readonly personalization: Price;
}

/** A provider call's token counts, as the provider reported them. */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * Public list prices of the default models as of 2026-11; configuration overrides them (prices
 * change, and an account may have its own).
 * - research, `perplexity/sonar` on Perplexity's Agent API: $1 per million tokens in and out,
 *   plus the `web_search` tool at $0.005 per invocation (docs.perplexity.ai, Pricing), counted
 *   as one search per call. (The retired Sonar chat API charged a request fee of $5, $8 or $12
 *   per 1,000 requests by search context size instead.) Search results the model reads are
 *   billed as input tokens, so they are in the usage the call reports.
 * - personalization, `anthropic/claude-sonnet-4.6` on OpenRouter: $3 per million input tokens,
 *   $15 per million output tokens, the same as Anthropic's own price; no request fee.
 */
export const DEFAULT_PRICING: Pricing = {
  research: { perRequestUsd: 0.005, perMillionInputTokensUsd: 1, perMillionOutputTokensUsd: 1 },
  personalization: { perRequestUsd: 0, perMillionInputTokensUsd: 3, perMillionOutputTokensUsd: 15 },
};

/** A price of nothing: every field 0. */
const FREE: Price = { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 };

/**
 * The sandbox's prices (PROVIDERS=sandbox): it bills nobody, so its calls, the runs made of them
 * and the preview's estimate cost $0, whatever prices are configured for the real providers. A
 * deployment on real providers (or on a stub reached through their base URLs) is priced as usual.
 */
export const SANDBOX_PRICING: Pricing = { research: FREE, personalization: FREE };

/**
 * What a call of this price cost. Without usage (a provider that reported none) only the request
 * fee is known, so the call is undercounted rather than guessed. Token counts that are not
 * whole non-negative numbers (a provider's bug) are rounded and floored at zero: the call was paid
 * for already, and failing the lead over its bookkeeping would only pay for it again.
 * Throws RangeError for a negative or non-finite price (a configuration error).
 */
export function costOf(usage: TokenUsage | undefined, price: Price): UsdAmount {
  return formatMicros(picosToMicros(callPicos(usage, price)));
}

/** What the run estimate assumes of each lead. */
export interface EstimateAssumptions {
  /** Tokens a research call reads: our instructions and the lead, plus the search results it reads. */
  readonly researchInputTokens: number;
  /** Tokens of the research answer (the adapter caps it at 1,000). */
  readonly researchOutputTokens: number;
  /** Tokens a writer call reads: the system prompt with its guidelines and example, the lead and its research. */
  readonly writerInputTokens: number;
  /** Tokens of the writer's answer: one sentence and the fact it relies on, as JSON. */
  readonly writerOutputTokens: number;
  /** Writer calls per lead on average: one, plus the regenerations of drafts the quality gates send back. */
  readonly writerCallsPerLead: number;
}

/**
 * Rough medians for the default prompts and models, to be tuned from the usage recorded with the
 * leads (`leads.usage`): research reads about 400 tokens of instructions and lead plus some 3,500
 * of search results and writes 3-5 cited bullet points; the writer reads a prompt of about 1,800
 * tokens and answers about 120. One draft in seven or so is sent back once by the quality gates.
 */
export const DEFAULT_ESTIMATE_ASSUMPTIONS: EstimateAssumptions = {
  researchInputTokens: 4_000,
  researchOutputTokens: 600,
  writerInputTokens: 1_800,
  writerOutputTokens: 120,
  writerCallsPerLead: 1.15,
};

export interface RunCostEstimate {
  /** One research call and `writerCallsPerLead` writer calls at the assumed token counts. */
  readonly perLeadUsd: UsdAmount;
  /** `perLeadUsd` × the valid leads, exactly. */
  readonly totalUsd: UsdAmount;
  readonly assumptions: EstimateAssumptions;
}

/**
 * An estimate, not a quote, of what a run of `validLeads` leads will cost: valid leads × the
 * expected calls per lead × their price at the assumed token counts. The actual cost depends on
 * the tokens each call uses; it is also lower when some leads were personalized by an earlier run
 * of the campaign (they are skipped, which the preview cannot know), and higher when calls are
 * retried after a provider failure that was billed.
 */
export function estimateRunCost(
  validLeads: number,
  pricing: Pricing,
  assumptions: EstimateAssumptions = DEFAULT_ESTIMATE_ASSUMPTIONS,
): RunCostEstimate {
  if (!Number.isSafeInteger(validLeads) || validLeads < 0) throw new RangeError('validLeads must be a whole number, 0 or more');
  for (const [name, value] of Object.entries(assumptions)) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`estimate assumption ${name} must be a number, 0 or more`);
  }
  const research = callPicos({ inputTokens: assumptions.researchInputTokens, outputTokens: assumptions.researchOutputTokens }, pricing.research);
  const writer = callPicos({ inputTokens: assumptions.writerInputTokens, outputTokens: assumptions.writerOutputTokens }, pricing.personalization);
  const writerCalls = scaled(assumptions.writerCallsPerLead, MICRO_DIGITS);
  const perLead = picosToMicros(research + divideRounded(writer * writerCalls, MICROS_PER_USD));
  return {
    perLeadUsd: formatMicros(perLead),
    totalUsd: formatMicros(perLead * BigInt(validLeads)),
    assumptions,
  };
}

/** An amount such as "12.5" or "0.017880" (PostgreSQL's numeric as text) in micro-dollars, rounded half up past 6 decimals. */
export function usdToMicros(amount: UsdAmount): bigint {
  const match = /^(\d+)(?:\.(\d*))?$/.exec(amount.trim());
  if (match === null) throw new RangeError('not a non-negative USD amount');
  const fraction = (match[2] ?? '').padEnd(MICRO_DIGITS + 1, '0');
  const micros = BigInt(match[1]!) * MICROS_PER_USD + BigInt(fraction.slice(0, MICRO_DIGITS));
  return Number(fraction[MICRO_DIGITS]) >= 5 ? micros + 1n : micros;
}

// ── Exact arithmetic ────────────────────────────────────────────────────────────────────────

const MICRO_DIGITS = 6;
const PICO_DIGITS = 12;
const MICROS_PER_USD = 1_000_000n;
/** Pico-dollars in a micro-dollar. */
const PICOS_PER_MICRO = 1_000_000n;

/**
 * A call's cost in pico-dollars. A price of P USD per million tokens is P micro-dollars per token,
 * that is P × 1e6 pico-dollars per token: exact for prices with up to 6 decimals.
 */
function callPicos(usage: TokenUsage | undefined, price: Price): bigint {
  const fee = scaled(checkedPrice(price.perRequestUsd, 'perRequestUsd'), PICO_DIGITS);
  if (usage === undefined) return fee;
  const input = scaled(checkedPrice(price.perMillionInputTokensUsd, 'perMillionInputTokensUsd'), MICRO_DIGITS);
  const output = scaled(checkedPrice(price.perMillionOutputTokensUsd, 'perMillionOutputTokensUsd'), MICRO_DIGITS);
  return fee + tokens(usage.inputTokens) * input + tokens(usage.outputTokens) * output;
}

function checkedPrice(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`price ${name} must be a number, 0 or more`);
  return value;
}

function tokens(count: number): bigint {
  return Number.isFinite(count) && count > 0 ? BigInt(Math.round(count)) : 0n;
}

/**
 * `value` × 10^digits as an integer. A decimal with up to `digits` decimals is recovered exactly:
 * the binary product is within a rounding error of that integer, far below 0.5 at these magnitudes.
 */
function scaled(value: number, digits: number): bigint {
  return BigInt(Math.round(value * 10 ** digits));
}

function picosToMicros(picos: bigint): bigint {
  return divideRounded(picos, PICOS_PER_MICRO);
}

/** Non-negative division rounded half up. */
function divideRounded(dividend: bigint, divisor: bigint): bigint {
  return (dividend + divisor / 2n) / divisor;
}

function formatMicros(micros: bigint): UsdAmount {
  const fraction = (micros % MICROS_PER_USD).toString().padStart(MICRO_DIGITS, '0');
  return `${micros / MICROS_PER_USD}.${fraction}`;
}
