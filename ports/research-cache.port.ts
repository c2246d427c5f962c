/**
 * Research once per company (issue 10, item 4): a user's research of a company for a research
 * prompt, shared by every lead of that company in any of the user's runs while it is younger than
 * the TTL, and made by one delivery at a time (single flight) while the others wait for it.
 */
import type { UsdAmount } from '../domain/pricing/pricing.ts';
import type { Research } from './providers.port.ts';
import type { Change } from './unit-of-work.port.ts';

/** Whose research of which company for which question: never shared across users. */
export interface CompanyResearchKey {
  readonly userId: string;
  /** domain/research/company.ts companyKey. */
  readonly companyKey: string;
  /** The run's research prompt (null: none); the store keys by its hash. */
  readonly prompt: string | null;
}

/** A delivery's claim on a company's research call: a lease, as the lead's own paid-call claim. */
export interface CompanyResearchClaim {
  readonly key: CompanyResearchKey;
  /** The delivery that makes the call (unique per delivery). */
  readonly owner: string;
  /** How long the claim holds unless renewed (the consumer's ack wait). */
  readonly leaseMs: number;
}

/**
 * What asking for a company's research found:
 * - `cached`: research young enough exists: the lead uses it, no call;
 * - `claimed`: none exists and no one is making it: the caller holds the claim and makes the call;
 * - `held`: another delivery is making it (for `expiresInMs` more unless renewed): wait for it.
 */
export type CompanyResearchOutcome =
  | { readonly kind: 'cached'; readonly research: Research }
  | { readonly kind: 'claimed' }
  | { readonly kind: 'held'; readonly expiresInMs: number };

export interface ResearchCache {
  /**
   * The company's research when a young enough one exists (younger than `ttlMs`; for a run that
   * asked for new research, saved after the run was created), else the claim of its call for
   * `claim.owner` when no live claim of another owner holds it. One statement: two deliveries of
   * one company serialise on its row, so only one of them is granted the call.
   */
  claim(claim: CompanyResearchClaim, context: { readonly runId: string; readonly ttlMs: number }): Change<CompanyResearchOutcome>;
  /** Extends the owner's claim while its call runs; false when it holds it no more. */
  renew(claim: CompanyResearchClaim): Change<boolean>;
  /** Gives the owner's claim back without a result (the call failed, or was not made). */
  release(claim: Omit<CompanyResearchClaim, 'leaseMs'>): Change<void>;
  /**
   * The call's result: the lead pending → researched with its cost (as LeadWorkStore.saveResearch,
   * releasing the lead's claim), and the company's research saved for the others, releasing the
   * owner's claim; in one transaction. Reports whether the lead moved (false: only the cost was
   * added, the research is saved for the company all the same).
   */
  saveResearch(lead: { readonly leadId: string; readonly runId: string }, research: Research, costUsd: UsdAmount, claim: Omit<CompanyResearchClaim, 'leaseMs'>): Change<boolean>;
  /**
   * The lead pending → researched with the company's research, `research_cached` and no cost (no
   * call was made for it); false when the lead was not pending for this run.
   */
  useCached(lead: { readonly leadId: string; readonly runId: string }, research: Research): Change<boolean>;
}
