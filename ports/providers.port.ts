import type { CanonicalValues } from '../domain/leads/lead.ts';

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

/** Researches a lead's company (Perplexity's Agent API in production; the sandbox in tests). */
export interface ResearchProvider {
  research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal): Promise<Research>;
}

export interface Draft {
  /** The opening line. */
  readonly message: string;
  /** The research fact (or lead field) the line relies on. */
  readonly basis: string;
  readonly model: string;
  readonly usage?: Usage;
}

/** Why a draft is being written again: the rejected line and the quality gates' problems with it. */
export interface DraftFeedback {
  readonly draft: string;
  readonly problems: readonly string[];
}

/** Writes the opening line from the lead and its research (Claude through OpenRouter in production). */
export interface MessageWriter {
  /** With `feedback`, the writer is told what was wrong with its earlier line and writes it again. */
  write(input: { lead: LeadProfile; research: Research; prompt?: string; feedback?: DraftFeedback }, signal: AbortSignal): Promise<Draft>;
}
