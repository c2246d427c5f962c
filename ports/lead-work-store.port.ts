/** Research's and personalization's reads and writes of one lead. */
import type { LeadStatus, RunStatus } from '../domain/campaigns/run.ts';
import type { OriginalField } from '../domain/leads/lead.ts';
import type { OutputSpec } from '../domain/personalization/outputs.ts';
import type { UsdAmount } from '../domain/pricing/pricing.ts';
import type { Draft, DraftFeedback, LeadProfile, Research, Usage } from './providers.port.ts';
import type { Change } from './unit-of-work.port.ts';

export interface LeadWork {
  readonly leadId: string;
  readonly runId: string;
  /** The lead's owner: research is shared among one user's leads only. */
  readonly userId: string;
  readonly status: LeadStatus;
  readonly lead: LeadProfile;
  /** The lead's original columns, in file order: what the personalization prompt's `{{Column Name}}` variables read. */
  readonly fields: readonly OriginalField[];
  readonly research: Research | null;
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
  /** The custom outputs the run asks for (campaign_runs.outputs), in order; none when empty. */
  readonly outputs: readonly OutputSpec[];
  /** The run is a sandbox run (PROVIDERS=sandbox): its research is made up, never shared with real runs. */
  readonly sandbox: boolean;
  /** A first draft of this run's personalization that failed the gates, with why: a retry rewrites it (keepRejectedDraft). */
  readonly rejectedDraft: DraftFeedback | null;
}

/** A stage that pays an outside API for each lead. */
export type PaidStage = 'research' | 'personalization';

/** One paid outside call made for a lead. */
export interface PaidCall {
  readonly stage: PaidStage;
  readonly model: string;
  readonly usage?: Usage;
  /** What the call cost (`costOf` of its usage). */
  readonly costUsd: UsdAmount;
}

/** A delivery's claim on the call of a lead's stage: who holds it, and for how long without renewal. */
export interface CallClaim {
  readonly leadId: string;
  readonly runId: string;
  readonly stage: PaidStage;
  /** The delivery that makes the call: unique per delivery, so a redelivery is another owner. */
  readonly owner: string;
  /**
   * How long the claim holds unless renewed: longer than the renewal period, no longer than the
   * consumer's ack wait, so a delivery that died leaves a claim that has lapsed by the time its
   * message is redelivered.
   */
  readonly leaseMs: number;
}

/**
 * What a claim found:
 * - `claimed`: the caller holds the claim and makes the call; `callsStarted` counts this one;
 * - `held`: another delivery holds a live claim (for `expiresInMs` more unless renewed): no call;
 * - `done`: the lead is not where the stage starts (its result is saved, it failed, or it belongs
 *   to another run now): no call;
 * - `ended`: the lead's run has ended (failed, or completed) before the lead was settled: no call,
 *   the lead is to be failed;
 * - `cancelled`: the lead's run was cancelled before the lead was settled: no call, the lead is to
 *   be cancelled (`cancelLead`);
 * - `paused`: the lead's run is paused: no call, and the lead is left as it is (its run's resume
 *   carries it on).
 */
export type ClaimOutcome =
  | { readonly kind: 'claimed'; readonly callsStarted: number }
  | { readonly kind: 'held'; readonly expiresInMs: number }
  | { readonly kind: 'done' }
  | { readonly kind: 'ended' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'paused' };

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
   * pending → researched, counting the attempt and adding the call's cost to the lead, and
   * releasing the stage's claim (whoever holds it: the result is saved). Reports
   * false when the lead was not pending for this run: then only the call's cost is added (it was
   * paid for all the same), in any status of a lead that still belongs to this run.
   */
  saveResearch(leadId: string, runId: string, research: Research, costUsd: UsdAmount): Change<boolean>;
  /**
   * Claims the call of the lead's stage for `claim.owner`, in one transaction: granted when the
   * lead is where the stage starts (`pending` for research, `researched` for personalization), its
   * run takes calls (not ended, not paused), and no other owner holds a live claim; then the stage's `callsStarted`
   * grows by one. A lapsed claim is taken over.
   */
  claimCall(claim: CallClaim): Change<ClaimOutcome>;
  /**
   * The run's status as a call that is about to go out must see it (null: the run is unknown):
   * read last, once the call has its turn, just before it is sent. The read and the owner's
   * cancel or pause of the run are ordered: a cancel or pause committed before it is seen, and
   * one not committed yet commits only after this read's transaction did, so the call the read
   * let through started before the cancel's (or pause's) answer. That is what "no new provider
   * call after the answer" rests on; the claim's own check of the run is earlier (a call may wait
   * long for its turn after its claim) and only saves the wait.
   */
  runStatusForCall(runId: string): Promise<RunStatus | null>;
  /** Extends the owner's claim by `leaseMs` from now while its call runs; false when it holds it no more. */
  renewClaim(claim: CallClaim): Change<boolean>;
  /**
   * Gives the owner's claim back without a saved result (the call failed, or was never made:
   * `called` false, e.g. the provider pushed back, and then the call is not counted as started).
   * A call that was made and failed marks the lead as waiting for its retry (the run's status
   * counts such leads) until the stage's result is saved or the lead settles.
   */
  releaseClaim(claim: Omit<CallClaim, 'leaseMs'>, called: boolean): Change<void>;
  /**
   * researched → personalized (`problems` absent) or needs_review (the quality gates' `problems`,
   * kept as the lead's error, the draft kept for a person; its custom outputs kept in the lead's
   * `outputs`), counting the attempt, adding the
   * call's cost and releasing the stage's claim. Reports false when the lead was not researched for this run: then only the cost
   * is added, as `saveResearch` does.
   */
  saveDraft(leadId: string, runId: string, draft: Draft, costUsd: UsdAmount, problems?: string): Change<boolean>;
  /**
   * Records a paid call whose result is not saved (a rejected first draft). Not idempotent, on
   * purpose: each call is paid for. When the lead's outcome is already counted, the cost goes to
   * the run's total too.
   */
  addCost(leadId: string, runId: string, call: PaidCall): Change<void>;
  /**
   * Records a first draft that failed the gates: its cost (as addCost), and the draft with its
   * problems on the lead's personalization claim, so that a retry of the stage rewrites it
   * (LeadWork.rejectedDraft) instead of paying for another first draft.
   */
  keepRejectedDraft(leadId: string, runId: string, call: PaidCall, rejected: DraftFeedback): Change<void>;
  /**
   * pending or researched → suppressed with the reason (its owner's list has it: see domain/suppression/), before
   * the lead's next paid call: settled, counted for its run (the run's `suppressed` counter, never processed
   * or the KPIs) in the same transaction. Only while the run has not ended; reports false when
   * the lead was not waiting for a call in this run.
   */
  saveSuppressed(leadId: string, runId: string, reason: string): Change<boolean>;
  /**
   * A lead of a cancelled run that is not final → `cancelled` (with RUN_CANCELLED_REASON), and
   * counted at once into its run's `cancelled` counter and cost (what was paid for the lead before
   * the cancel), in one transaction; reports false when the lead was final already, belongs to
   * another run, or its run is not cancelled. Counted here, not by the projection: a cancelled lead
   * has no event of its own. The caller then checks whether the run has ended
   * (ProjectionStore.completeIfSettled).
   */
  cancelLead(leadId: string, runId: string): Change<boolean>;
  /** Any non-final status → failed with the reason; reports false when the lead was already final. */
  saveFailed(leadId: string, runId: string, reason: string): Change<boolean>;
  /**
   * Counts one more attempt on a lead that is not final (shown to the user): an attempt that
   * failed. A successful one is counted by the save that ends it.
   */
  recordAttempt(leadId: string, runId: string): Change<void>;
}
