/**
 * Test doubles (never used in production code) of the outside providers: a research provider and
 * a message writer that answer from a script and record every call.
 *
 * Each call takes the next scripted answer (`answerNext`), or the standing one (`answerAlways`)
 * when the script is empty. An answer is a value, an error (the call rejects with it: e.g. an
 * `OutsideApiError` or `ApiPaused` from ports/outside-api.port.ts), or a function of the call's
 * input, which may do something in the middle of the call (another delivery saving first) and
 * may be async. The standing answers are grounded for the quality gates: the default draft passes
 * them for the default research.
 */
import type { Draft, LeadProfile, MessageWriter, ProviderCallOptions, Research, ResearchProvider, WriteRequest } from '../../../ports/providers.port.ts';

export type Scripted<I, O> = O | Error | ((input: I, signal: AbortSignal) => O | Promise<O>);

export interface ResearchCall {
  readonly lead: LeadProfile;
  readonly prompt?: string;
}

export type WriteCall = WriteRequest;

/** What the default research says of any company: a fact the default draft relies on. */
export function researchAbout(lead: LeadProfile): Research {
  return {
    text: `${lead.company} opened a new factory in Lyon in 2025 and hired 200 engineers.`,
    citations: [{ url: 'https://news.example/lyon-factory', title: 'A new factory in Lyon' }],
    model: 'fake/research-1',
    usage: { inputTokens: 4_000, outputTokens: 600 },
  };
}

/** A draft that passes the quality gates for `researchAbout`'s research. */
export const GOOD_DRAFT: Draft = {
  message: 'Congrats on the new Lyon factory and the 200 engineers joining it.',
  basis: 'opened a new factory in Lyon',
  model: 'fake/writer-1',
  usage: { inputTokens: 1_800, outputTokens: 120 },
};

/** A draft that fails the quality gates: an unfilled placeholder. */
export const PLACEHOLDER_DRAFT: Draft = {
  message: 'Hi [Name], congrats on the new Lyon factory.',
  basis: 'opened a new factory in Lyon',
  model: 'fake/writer-1',
  usage: { inputTokens: 1_800, outputTokens: 120 },
};

class Script<I, O> {
  readonly calls: I[] = [];
  readonly #queue: Scripted<I, O>[] = [];
  #standing: Scripted<I, O>;

  constructor(standing: Scripted<I, O>) {
    this.#standing = standing;
  }

  next(answers: readonly Scripted<I, O>[]): void {
    this.#queue.push(...answers);
  }

  always(answer: Scripted<I, O>): void {
    this.#standing = answer;
  }

  /** A call whose `beforeCall` refuses it is not sent: not recorded, and no answer is used. */
  async answer(input: I, signal: AbortSignal, options: ProviderCallOptions = {}): Promise<O> {
    await options.beforeCall?.();
    this.calls.push(input);
    const answer = this.#queue.shift() ?? this.#standing;
    if (answer instanceof Error) throw answer;
    if (typeof answer === 'function') return (answer as (input: I, signal: AbortSignal) => O | Promise<O>)(input, signal);
    return Promise.resolve(answer);
  }
}

export class ScriptedResearchProvider implements ResearchProvider {
  readonly #script = new Script<ResearchCall, Research>((input) => researchAbout(input.lead));

  /** Every call, in order. */
  get calls(): readonly ResearchCall[] {
    return this.#script.calls;
  }

  /** The next calls' answers, one each, in order. */
  answerNext(...answers: Scripted<ResearchCall, Research>[]): this {
    this.#script.next(answers);
    return this;
  }

  /** What every call answers once the script is used up (default: `researchAbout` the lead). */
  answerAlways(answer: Scripted<ResearchCall, Research>): this {
    this.#script.always(answer);
    return this;
  }

  research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal, options?: ProviderCallOptions): Promise<Research> {
    return this.#script.answer({ ...input }, signal, options);
  }
}

export class ScriptedMessageWriter implements MessageWriter {
  readonly #script = new Script<WriteCall, Draft>(GOOD_DRAFT);

  /** Every call, in order (a rewrite carries `feedback`). */
  get calls(): readonly WriteCall[] {
    return this.#script.calls;
  }

  answerNext(...answers: Scripted<WriteCall, Draft>[]): this {
    this.#script.next(answers);
    return this;
  }

  /** What every call answers once the script is used up (default: GOOD_DRAFT). */
  answerAlways(answer: Scripted<WriteCall, Draft>): this {
    this.#script.always(answer);
    return this;
  }

  write(input: WriteRequest, signal: AbortSignal, options?: ProviderCallOptions): Promise<Draft> {
    return this.#script.answer({ ...input }, signal, options);
  }
}
