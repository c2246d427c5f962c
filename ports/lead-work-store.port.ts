/** Research's and personalization's reads and writes of one lead. */
import type { LeadStatus } from '../domain/campaigns/run.ts';
import type { UsdAmount } from '../domain/pricing/pricing.ts';
import type { Draft, LeadProfile, Research, Usage } from './providers.port.ts';
import type { Change } from './unit-of-work.port.ts';

export interface LeadWork {
  readonly leadId: string;
  readonly runId: string;
  readonly status: LeadStatus;
  readonly lead: LeadProfile;
  readonly research: Research | null;
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
}

/** One paid outside call made for a lead. */
export interface PaidCall {
  readonly stage: 'research' | 'personalization';
  readonly model: string;
  readonly usage?: Usage;
  /** What the call cost (`costOf` of its usage). */
  readonly costUsd: UsdAmount;
}

/**
 * Every paid call is recorded with the lead: its cost is added to the lead's `cost_usd` and its
 * usage kept with the lead. A save records the call whose result it saves, in the same statement;
 * a call whose result is not saved (a draft sent back by the quality gates, a result another
 * delivery saved first) still costs: `saveResearch` and `saveDraft` then record the cost alone,
 * and `addCost` records a rejected draft. A call that failed is not recorded: what a provider
 * bills for a failed call is not known here.
 */
export interface LeadWorkStore {
  /** The lead as its run knows it; null when the lead is unknown or now belongs to another run. */
  leadWork(leadId: string, runId: string): Promise<LeadWork | null>;
  /**
   * pending → researched, counting the attempt and adding the call's cost to the lead. Reports
   * false when the lead was not pending for this run: then only the call's cost is added (it was
   * paid for all the same), in any status of a lead that still belongs to this run.
   */
  saveResearch(leadId: string, runId: string, research: Research, costUsd: UsdAmount): Change<boolean>;
  /**
   * researched → personalized (`problems` absent) or needs_review (the quality gates' `problems`,
   * kept as the lead's error, the draft kept for a person), counting the attempt and adding the
   * call's cost. Reports false when the lead was not researched for this run: then only the cost
   * is added, as `saveResearch` does.
   */
  saveDraft(leadId: string, runId: string, draft: Draft, costUsd: UsdAmount, problems?: string): Change<boolean>;
  /**
   * Records a paid call whose result is not saved (a rejected first draft). Not idempotent, on
   * purpose: each call is paid for. When the lead's outcome is already counted, the cost goes to
   * the run's total too.
   */
  addCost(leadId: string, runId: string, call: PaidCall): Change<void>;
  /** Any non-final status → failed with the reason; reports false when the lead was already final. */
  saveFailed(leadId: string, runId: string, reason: string): Change<boolean>;
  /**
   * Counts one more attempt on a lead that is not final (shown to the user): an attempt that
   * failed. A successful one is counted by the save that ends it.
   */
  recordAttempt(leadId: string, runId: string): Change<void>;
}
