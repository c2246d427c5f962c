/**
 * What the sandbox provider answers: made-up but deterministic research and opening lines,
 * derived from a hash of the <lead_data> block in the prompt, in the exact wire shapes of the
 * Responses API (Perplexity's Agent API) and of chat completions (OpenRouter).
 *
 * Everything is labelled: the research starts with "[sandbox research]", its sources live under
 * https://sandbox.invalid/ (a domain that can never resolve), and the models are named
 * `sandbox/...`. The opening line restates one research fact, so it is grounded like a real one.
 *
 * Like a real model, the writer does not always follow the rules, so that the quality gates
 * (domain/personalization) have work to do. By the hash of the lead data, about a quarter of first
 * drafts break one rule: 15% run to 30 words or more, 5% keep a `[First Name]` placeholder, 5% rely
 * on a fact that is not in the research. A second attempt (the chat carries the gates' feedback,
 * see `isRewriteRequest`) gets a compliant line. Two markers in the company name make it certain:
 * - "Redraft" (REDRAFT_MARKER): the first draft always breaks a rule, the rewrite passes;
 * - "NeedsReview" (NEEDS_REVIEW_MARKER): every draft is too long, so the lead ends needs_review.
 *
 * A fabricated draft (`fabricate`, which the `fabricateRate` fault setting asks for on a share of
 * chat requests, rewrites included; see faults.ts) restates its true fact and adds an invented
 * one, with a number the sandbox research never states and a name or a time it never gives
 * ("and raised $37M from Sequoia last week"): it passes every gate but the one for unsupported
 * specifics, as a model that makes things up would.
 *
 * Custom outputs (a subject line, a P.S.) are read from the request's JSON schema (`outputs`, each
 * with "At most N words." as its description) and written as labelled, deterministic text within
 * the limit ("Sandbox subject line for Acme"). A draft that breaks a rule runs its outputs past their
 * limit too, so that the gates' checks of outputs and the rewrite have work as well.
 */
import { createHash } from 'node:crypto';
import { LEAD_DATA_CLOSE, LEAD_DATA_OPEN, REWRITE_HEADING } from '../providers/prompts.ts';

export const SANDBOX_RESEARCH_MODEL = 'sandbox/research-1';
export const SANDBOX_WRITER_MODEL = 'sandbox/writer-1';
export const SANDBOX_RESEARCH_LABEL = '[sandbox research]';

const MAX_WORDS = 25;

/** In a company name: every draft breaks a rule, so the lead ends needs_review. */
export const NEEDS_REVIEW_MARKER = 'NeedsReview';
/** In a company name: the first draft breaks a rule and the rewrite passes. */
export const REDRAFT_MARKER = 'Redraft';

type Flaw = 'too_long' | 'placeholder' | 'ungrounded';
const FLAWS: readonly Flaw[] = ['too_long', 'placeholder', 'ungrounded'];
/** Of 20 hash values: 3 give too long a line, 1 a placeholder, 1 an ungrounded fact (25% in all). */
const FLAW_BY_HASH: readonly (Flaw | undefined)[] = ['too_long', 'too_long', 'too_long', 'placeholder', 'ungrounded'];
const FLAW_HASH_RANGE = 20;
/** Appended to a line to take it past 25 words (it adds 18). */
const PADDING = 'and I would love to hear how the change has landed with your customers and your wider team';
/** A fact the sandbox research never states (with no specific in it: only the grounding gate refuses it). */
const UNGROUNDED_PREDICATE = 'closed a new funding round led by a large investor';
/**
 * What a fabricated draft adds: each holds a number no sandbox research states (its headcounts are
 * multiples of 10 from 40, its years 2026) and a name or a time it never gives. At most 6 words,
 * so that the longest true predicate (13 words) and one of these still fit in 25.
 */
export const INVENTIONS: readonly string[] = [
  'raised $37M from Sequoia last week',
  'grew revenue 217% last quarter',
  'hired 14 engineers in Porto yesterday',
  'opened its 13th office in 2019',
];

const CITIES = ['Lisbon', 'Austin', 'Toronto', 'Berlin', 'Singapore', 'Denver', 'Dublin', 'Melbourne'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const PRODUCTS = ['Orbit Sync', 'Ledger Lens', 'Beacon Flow', 'Harbor Desk', 'Signal Forge', 'Atlas Notes'];
const PARTNERS = ['Northwind Labs', 'Fabrikam Cloud', 'Contoso Logistics', 'Tailspin Data', 'Litware Health', 'Adatum Security'];
const TOPICS = ['onboarding automation', 'supply chain visibility', 'customer retention', 'data privacy', 'remote hiring', 'energy efficiency'];

/** Each fact is `<company> <predicate>`; the predicate also reads after "your team". */
const PREDICATES: readonly ((pick: (list: readonly string[]) => string, byte: () => number) => string)[] = [
  (pick) => `opened a new office in ${pick(CITIES)} in ${pick(MONTHS)} 2026`,
  (pick) => `launched ${pick(PRODUCTS)}, a tool for ${pick(TOPICS)}`,
  (pick) => `announced a partnership with ${pick(PARTNERS)} in ${pick(MONTHS)} 2026`,
  (_pick, byte) => `grew to about ${40 + (byte() % 20) * 10} employees this year`,
  (pick) => `published a case study on ${pick(TOPICS)}`,
  (pick) => `was featured in Sandbox Business Weekly for its work on ${pick(TOPICS)}`,
];
const FACTS_PER_LEAD = 3;

interface Fact {
  readonly sentence: string;
  readonly url: string;
  readonly title: string;
}

/** The lead data the adapters put between <lead_data> tags, and a digest of that block. */
interface PromptData {
  readonly digest: Buffer;
  readonly data: Record<string, unknown>;
}

/** A Responses API answer (Perplexity's Agent API shape): text, URL-citation annotations, search results. */
export function researchResponse(body: Record<string, unknown>, options: { malformed?: boolean } = {}): Record<string, unknown> {
  const prompt = promptData([body.instructions, body.input]);
  const company = displayName(record(prompt.data.lead).company) ?? 'the company';
  const facts = pickFacts(prompt.digest, company);

  let text = `${SANDBOX_RESEARCH_LABEL} Made-up, deterministic facts about ${company} from the sandbox provider; not real research.`;
  const annotations: Record<string, unknown>[] = [];
  facts.forEach((fact, index) => {
    text += '\n- ';
    annotations.push({ type: 'url_citation', url: fact.url, title: fact.title, start_index: text.length, end_index: text.length + fact.sentence.length });
    text += `${fact.sentence} [${index + 1}]`;
  });

  const id = prompt.digest.toString('hex').slice(0, 24);
  const output = options.malformed
    ? []
    : [
        {
          type: 'search_results',
          id: `sr_${id}`,
          results: facts.map((fact, index) => ({ id: index + 1, url: fact.url, title: fact.title, snippet: fact.sentence, source: 'web' })),
        },
        {
          type: 'message',
          id: `msg_${id}`,
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text, annotations, logprobs: [] }],
        },
      ];
  const inputTokens = tokens(JSON.stringify(body));
  const outputTokens = options.malformed ? 0 : tokens(text);
  return {
    id: `resp_${id}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: 'completed',
    model: SANDBOX_RESEARCH_MODEL,
    output,
    output_text: options.malformed ? '' : text,
    error: null,
    incomplete_details: null,
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
}

/** A chat completion whose content is the JSON `{ "message", "basis" }` the writer asks for. */
export function chatCompletion(body: Record<string, unknown>, options: { malformed?: boolean; fabricate?: boolean } = {}): Record<string, unknown> {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const prompt = promptData(messages.map((message) => record(message).content));
  const lead = record(prompt.data.lead);
  const research = typeof record(prompt.data.research).text === 'string' ? (record(prompt.data.research).text as string) : '';
  const company = displayName(lead.company) ?? 'the company';

  // A fabricated draft breaks no other rule: it is the specifics gate's to refuse.
  const flaw = options.fabricate === true ? undefined : flawOf(prompt.digest, company, isRewriteRequest(body));
  const asked = askedOutputs(body);
  const content = options.malformed
    ? `Sure! Here is an opening line for ${company}: great to connect.`
    : JSON.stringify({
        ...draft(prompt.digest, research, company, firstName(lead.first_name), flaw, options.fabricate === true ? inventionOf(prompt.digest, isRewriteRequest(body)) : undefined),
        ...(asked.length === 0 ? {} : { outputs: Object.fromEntries(asked.map((output) => [output.name, outputText(output, company, flaw !== undefined)])) }),
      });
  const id = prompt.digest.toString('hex').slice(0, 24);
  const promptTokens = tokens(JSON.stringify(body));
  const completionTokens = tokens(content);
  return {
    id: `chatcmpl-${id}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: SANDBOX_WRITER_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

interface AskedOutput {
  readonly name: string;
  readonly maxWords: number;
}

/** The custom outputs a chat request's JSON schema asks for (see openrouter-writer.ts openerJsonSchema). */
export function askedOutputs(body: Record<string, unknown>): AskedOutput[] {
  const schema = record(record(record(body.response_format).json_schema).schema);
  const outputs = record(record(record(schema.properties).outputs).properties);
  return Object.entries(outputs).map(([name, property]) => {
    const description = record(property).description;
    const words = typeof description === 'string' ? /at most (\d+) words/i.exec(description)?.[1] : undefined;
    return { name, maxWords: words === undefined ? MAX_WORDS : Number(words) };
  });
}

/** "Sandbox subject line for Acme", cut to the output's limit; past it by three words when the draft is flawed. */
function outputText(output: AskedOutput, company: string, flawed: boolean): string {
  const words = `Sandbox ${output.name.replaceAll('_', ' ')} for ${company}`.split(/\s+/);
  if (flawed) {
    while (words.length < output.maxWords + 3) words.push(...PADDING.split(' '));
    return words.slice(0, output.maxWords + 3).join(' ');
  }
  return words.slice(0, Math.max(1, output.maxWords)).join(' ');
}

function pickFacts(digest: Buffer, company: string): Fact[] {
  let cursor = 2;
  const byte = () => digest[cursor++ % digest.length] ?? 0;
  const pick = (list: readonly string[]) => list[byte() % list.length] ?? '';
  // Distinct templates: a start and a step coprime with their number (6: step 1 or 5).
  const start = (digest[0] ?? 0) % PREDICATES.length;
  const step = (digest[1] ?? 0) % 2 === 0 ? 1 : PREDICATES.length - 1;
  const slug = company.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'company';
  const key = digest.toString('hex').slice(0, 8);
  return Array.from({ length: FACTS_PER_LEAD }, (_, index) => {
    const predicate = PREDICATES[(start + index * step) % PREDICATES.length]!;
    return {
      sentence: `${company} ${predicate(pick, byte)}.`,
      url: `https://sandbox.invalid/${slug}/${key}/${index + 1}`,
      title: `Sandbox source ${index + 1} about ${company}`,
    };
  });
}

/**
 * The company of the lead a request is about (from its <lead_data> block), on either endpoint;
 * undefined when the prompt is not our adapters'. The chaos harness bills answers per lead by it.
 */
export function requestCompany(body: Record<string, unknown>): string | undefined {
  const parts = Array.isArray(body.messages) ? body.messages.map((message) => record(message).content) : [body.instructions, body.input];
  return displayName(record(promptData(parts).data.lead).company);
}

/** Whether a chat request is a second attempt: its last message carries the quality gates' feedback. */
export function isRewriteRequest(body: Record<string, unknown> | undefined): boolean {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  return textOf(record(messages.at(-1)).content).startsWith(REWRITE_HEADING);
}

/** The rule this draft breaks, if any (see the module comment). */
function flawOf(digest: Buffer, company: string, rewrite: boolean): Flaw | undefined {
  if (company.includes(NEEDS_REVIEW_MARKER)) return 'too_long';
  if (rewrite) return undefined;
  const byte = digest[digest.length - 1] ?? 0;
  if (company.includes(REDRAFT_MARKER)) return FLAWS[byte % FLAWS.length];
  return FLAW_BY_HASH[byte % FLAW_HASH_RANGE];
}

/** The invention of a fabricated draft: by the digest, another one for the rewrite. */
function inventionOf(digest: Buffer, rewrite: boolean): string {
  return INVENTIONS[((digest[1] ?? 0) + (rewrite ? 1 : 0)) % INVENTIONS.length]!;
}

/**
 * One sentence of at most 25 words restating one research fact (the basis, verbatim from the
 * research), unless `flaw` says which rule to break; with `invention`, the fact and the invention
 * ("... in March 2026 and raised $37M from Sequoia last week."). Research without a fact line
 * (not from this sandbox) gets a generic line.
 */
function draft(
  digest: Buffer,
  research: string,
  company: string,
  name: string | undefined,
  flaw: Flaw | undefined,
  invention?: string,
): { message: string; basis: string } {
  const opener = flaw === 'placeholder' ? '[First Name], saw' : name === undefined ? 'Saw' : `${name}, saw`;
  const line = (predicate: string) =>
    invention === undefined ? `${opener} that your team ${predicate}; curious what that means for you` : `${opener} that your team ${predicate} and ${invention}`;
  if (flaw === 'ungrounded') return { message: `${line(UNGROUNDED_PREDICATE)}.`, basis: `${company} ${UNGROUNDED_PREDICATE}.` };

  const facts = research
    .split('\n')
    .map((text) => /^- (.+?\.)(?: \[\d+\])?$/.exec(text.trim())?.[1])
    .filter((fact): fact is string => fact !== undefined);
  const basis = facts[(digest[0] ?? 0) % Math.max(facts.length, 1)];
  const prefix = `${company} `;
  let message = invention === undefined ? `${opener} the recent news about your team and wanted to reach out` : `${opener} that your team ${invention}`;
  if (basis !== undefined && basis.startsWith(prefix)) {
    const predicate = basis.slice(prefix.length, -1);
    if (!/[.!?]/.test(predicate) && line(predicate).split(/\s+/).length <= MAX_WORDS) message = line(predicate);
  }
  return { message: flaw === 'too_long' ? `${message}, ${PADDING}.` : `${message}.`, basis: basis ?? company };
}

/**
 * The <lead_data> JSON of a prompt and a digest of the block (of the whole prompt when there
 * is no block, so the answer stays deterministic).
 */
function promptData(parts: readonly unknown[]): PromptData {
  const text = parts.map(textOf).join('\n');
  // The last opening tag: the instructions before the block mention the tags by name.
  const start = text.lastIndexOf(LEAD_DATA_OPEN);
  const end = start === -1 ? -1 : text.indexOf(LEAD_DATA_CLOSE, start);
  const block = start === -1 || end === -1 ? text : text.slice(start + LEAD_DATA_OPEN.length, end);
  let data: Record<string, unknown> = {};
  try {
    data = record(JSON.parse(block));
  } catch {
    // Not our adapters' prompt: answer from the digest alone.
  }
  return { digest: createHash('sha256').update(block).digest(), data };
}

/** The text of a prompt part: a string, a message or input item, or an array of content parts. */
function textOf(part: unknown): string {
  if (typeof part === 'string') return part;
  if (Array.isArray(part)) return part.map(textOf).join('\n');
  const item = record(part);
  if (typeof item.text === 'string') return item.text;
  return item.content === undefined ? '' : textOf(item.content);
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A name as it can appear inside one line of text: whitespace collapsed, at most 80 characters. */
function displayName(value: unknown): string | undefined {
  const name = typeof value === 'string' ? value.replace(/\s+/g, ' ').trim().slice(0, 80) : '';
  return name === '' ? undefined : name;
}

function firstName(value: unknown): string | undefined {
  const word = typeof value === 'string' ? value.trim().split(/\s+/)[0] : undefined;
  return word !== undefined && /^[\p{L}][\p{L}'-]{0,29}$/u.test(word) ? word : undefined;
}

/** The usual rough estimate: four characters a token. */
function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}
