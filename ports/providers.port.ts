import type { CanonicalValues } from '../domain/leads/lead.ts';
import type { OutputSpec } from '../domain/personalization/outputs.ts';

/** What a provider is told about a lead: its canonical fields only (no original columns). */
export interface LeadProfile {
  readonly email: string;
  readonly company: string;
  readonly canonical: CanonicalValues;
}

export interface Citation {
  readonly url: string;
  readonly title?: string;
}

export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface Research {
  readonly text: string;
  readonly citations: readonly Citation[];
  readonly model: string;
  readonly usage?: Usage;
}

/** How one provider call is made, besides its input. */
export interface ProviderCallOptions {
  /**
   * Awaited once the call has its turn (its slot and its place in the rate budget), just before
   * the request is sent; when it throws, nothing is sent and the call rejects with its error. The
   * pipeline checks here that the lead's run still takes calls (not cancelled or paused since the
   * call was claimed), so that no call starts after a cancel's answer however long it waited.
   */
  readonly beforeCall?: () => Promise<void>;
  /**
   * Aborts the call's wait for its turn (never a request already sent): the call then rejects with
   * the signal's reason and sends nothing. The pipeline aborts it when the lead's run is cancelled
   * or paused while the call waits, so that a cancel is not held up by every queued call's turn.
   */
  readonly waitSignal?: AbortSignal;
}

/** Researches a lead's company (Perplexity's Agent API in production; the sandbox in tests). */
export interface ResearchProvider {
  research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal, options?: ProviderCallOptions): Promise<Research>;
}

export interface Draft {
  /** The opening line. */
  readonly message: string;
  /** The research fact (or lead field) the line relies on. */
  readonly basis: string;
  /** The custom outputs asked for (`outputs` of the request), by name, as the writer wrote them. */
  readonly outputs?: Readonly<Record<string, string>>;
  readonly model: string;
  readonly usage?: Usage;
}

/** Why a draft is being written again: the rejected line and the quality gates' problems with it. */
export interface DraftFeedback {
  readonly draft: string;
  readonly problems: readonly string[];
  /** The rejected draft's custom outputs, when the campaign asked for some. */
  readonly outputs?: Readonly<Record<string, string>>;
}

/**
 * What the writer is asked to write for a lead.
 * - `prompt`: the campaign's personalization prompt, rendered for this lead: its variables are the
 *   lead's values, each between « and » (domain/personalization/template.ts quoteLeadValue).
 * - `outputs`: custom outputs to write with the line, their instructions rendered the same way.
 * - `feedback`: the writer is told what was wrong with its earlier draft and writes it again.
 */
export interface WriteRequest {
  readonly lead: LeadProfile;
  readonly research: Research;
  readonly prompt?: string;
  readonly outputs?: readonly OutputSpec[];
  readonly feedback?: DraftFeedback;
}

/** Writes the opening line from the lead and its research (Claude through OpenRouter in production). */
export interface MessageWriter {
  write(input: WriteRequest, signal: AbortSignal, options?: ProviderCallOptions): Promise<Draft>;
}
