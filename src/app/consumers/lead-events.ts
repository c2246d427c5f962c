/** What the lead consumers share: the events a lead's states call for, attempts, and failure reasons. */
import type { DomainEvent, RunCompleted } from '../../../domain/campaigns/events.ts';
import { RUN_ENDED_REASON, takesCalls, type LeadStatus, type RunStatus } from '../../../domain/campaigns/run.ts';
import { suppressionKeys, suppressionMatch, suppressionReason } from '../../../domain/suppression/suppression.ts';
import { RetryLater, type HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { CallClaim, LeadWork, LeadWorkStore, PaidStage } from '../../../ports/lead-work-store.port.ts';
import { isPushback } from '../../../ports/outside-api.port.ts';
import type { ProjectionStore, RunCompletion } from '../../../ports/projection-store.port.ts';
import type { ProviderCallOptions } from '../../../ports/providers.port.ts';
import type { RunNotifier } from '../../../ports/run-notifications.port.ts';
import type { LeadScreen } from '../../../ports/suppression-store.port.ts';
import { decide, type Decision, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';

const SECOND = 1_000;

/**
 * The retries of a stage that pays an outside API for each lead (research, personalization): six
 * deliveries with backoff of 2 s to 2 min ride out about four minutes of failing calls before a
 * lead is failed. Pushback (429, a paused account, an open circuit) never fails one.
 */
export const PAID_CALL_RETRIES = {
  maxDeliver: 6,
  backoffMs: [2 * SECOND, 10 * SECOND, 30 * SECOND, 60 * SECOND, 120 * SECOND],
} as const;

/** The event that carries a lead on from the state it is in (the reconciler's re-drives). */
export function leadEvent(runId: string, leadId: string, status: LeadStatus): DomainEvent {
  const ids = { run_id: runId, lead_id: leadId };
  switch (status) {
    case 'pending':
      return { type: 'lead.extracted', ...ids };
    case 'researched':
      return { type: 'lead.researched', ...ids };
    case 'personalized':
      return { type: 'lead.personalized', ...ids };
    case 'needs_review':
      return { type: 'lead.needs_review', ...ids };
    // A cancelled lead is counted when it is cancelled and has no event of its own: a re-drive
    // of one (there is none: it is final and counted) would be a settled lead's.
    case 'failed':
    case 'cancelled':
      return { type: 'lead.failed', ...ids };
    // Counted for its run as it is suppressed, so never stalled; were one re-driven, the
    // projection would count nothing and only check whether its run is settled.
    case 'suppressed':
      return { type: 'lead.failed', ...ids };
  }
}

/** What a paid stage's delivery writes through: the lead's work, and the run's end once its last lead is settled. */
export interface PaidCallDeps {
  readonly uow: UnitOfWork;
  readonly leadWork: LeadWorkStore;
  readonly projectionStore: ProjectionStore;
}

/** What a delivery of a paid stage does after asking for the lead's call: make it, or settle without it. */
export type ClaimedCall =
  | { readonly kind: 'call'; readonly claim: CallClaim }
  | { readonly kind: 'settled'; readonly decision: Decision | null };

/** How much later than a live claim's expiry a redelivery that found it comes back. */
const CLAIM_RETRY_MARGIN_MS = SECOND;

/**
 * Claims the lead's call for this delivery before any provider is paid (at most one paid call per
 * lead and stage at a time; see LeadWorkStore.claimCall). The claim lasts the consumer's ack wait
 * as the broker applies it (`context.ackWaitMs`), and is renewed while the call runs (`paidCall`), so it lapses only after
 * its holder stopped, and no later than JetStream redelivers the holder's message.
 *
 * A copy that finds a live claim makes no call. A first delivery is acked and dropped: it is not
 * the holder's message (the holder got that on an earlier delivery), and the holder's own message
 * stays unacked until its result commits (which releases the claim with it) and is redelivered by
 * JetStream if the holder dies or fails, so the lead is never lost and no delivery is spent
 * waiting. A redelivery may be the holder's own message, given back by JetStream while the holder
 * still works (its heartbeats lost): dropping it would ack the holder's message, so it comes back
 * once the claim would have lapsed, and then finds the result saved or the claim free.
 *
 * A lead whose run has ended is failed with RUN_ENDED_REASON, no call made; one whose run was
 * cancelled is cancelled (counted as such), no call made; one whose run is paused is left as it
 * is and the message acked: it spends no delivery waiting, however long the pause, and the run's
 * resume carries the lead on (its event committed again with the resume).
 */
export async function claimPaidCall(
  deps: PaidCallDeps,
  lead: { readonly leadId: string; readonly runId: string },
  stage: PaidStage,
  context: HandlerContext,
): Promise<ClaimedCall> {
  const claim: CallClaim = { leadId: lead.leadId, runId: lead.runId, stage, owner: crypto.randomUUID(), leaseMs: context.ackWaitMs };
  const outcome = await deps.uow.commit(deps.leadWork.claimCall(claim));
  switch (outcome.kind) {
    case 'claimed':
      if (outcome.callsStarted > 1) context.log.info({ calls_started: outcome.callsStarted }, `${stage} call claimed again after an earlier attempt`);
      return { kind: 'call', claim };
    case 'done':
      return { kind: 'settled', decision: null };
    case 'ended':
      return { kind: 'settled', decision: failLeadOfEndedRun(deps.leadWork, lead, context) };
    case 'cancelled':
      return { kind: 'settled', decision: await cancelLeadOfCancelledRun(deps, lead, context) };
    case 'paused':
      context.log.info({}, `the run is paused: no ${stage} call; the lead waits for the run's resume`);
      return { kind: 'settled', decision: null };
    case 'held':
      // On the last delivery a retry would give the lead up (failing it while the holder works):
      // that copy is dropped too, and a lead lost that way is re-driven by the reconciler.
      if (context.deliveryCount === 1 || context.deliveryCount >= context.maxDeliver) {
        context.log.info({ claim_expires_in_ms: outcome.expiresInMs }, `another delivery holds the lead's ${stage} call: dropping this copy`);
        return { kind: 'settled', decision: null };
      }
      throw new RetryLater(`another delivery holds the lead's ${stage} call`, outcome.expiresInMs + CLAIM_RETRY_MARGIN_MS);
  }
}

/** A call refused at the last moment: the lead's run stopped taking calls after the call was claimed. */
class RunStopped extends Error {
  readonly status: RunStatus | null;

  constructor(status: RunStatus | null) {
    super(`the run ${status === null ? 'is gone' : `is ${status}`}: the call is not made`);
    this.name = 'RunStopped';
    this.status = status;
  }
}

/** The last check before a call could not read the run: the call is not sent. */
class CheckFailed extends Error {
  constructor(cause: unknown) {
    super('the run could not be read before the call', { cause });
    this.name = 'CheckFailed';
  }
}

/** How often a call waiting for its turn reads its run again (a cancel ends the wait within this). */
const RUN_CHECK_WHILE_WAITING_MS = 2_000;

/** A paid call's attempt: the value of the call, or the decision of a delivery whose run stopped before the call went out. */
export type PaidCallOutcome<T> =
  | { readonly kind: 'made'; readonly value: T }
  | { readonly kind: 'stopped'; readonly decision: Decision | null };

/**
 * Makes a lead's outside call (or calls) as one attempt, under `claim`: renewed every third of its
 * lease while the call runs. A successful attempt is counted, and its claim released, by the save
 * that records its result. A failed one gives the claim back (its message is redelivered with the
 * consumer's backoff) and is counted here, unless the outside API pushed back (rate limited,
 * paused, circuit open): then no call failed for the lead, and none is counted as started.
 *
 * `call` hands `options` to each provider call it makes: once a call has its turn, right before it
 * is sent, the run is read again (LeadWorkStore.runStatusForCall, ordered with its owner's cancel
 * and pause). A run that no longer takes calls stops the attempt there, nothing sent: the claim is
 * given back (counted as started only if an earlier call of this attempt was sent, e.g. a first
 * draft before its rewrite), and the lead is cancelled (a cancelled run), left for the resume (a
 * paused one) or failed (an ended one).
 */
export async function paidCall<T>(
  deps: PaidCallDeps,
  claim: CallClaim,
  context: HandlerContext,
  call: (options: ProviderCallOptions) => Promise<T>,
): Promise<PaidCallOutcome<T>> {
  let sent = 0;
  const beforeCall = async () => {
    const status = await deps.leadWork.runStatusForCall(claim.runId).catch((error: unknown) => {
      throw new CheckFailed(error);
    });
    if (status === null || !takesCalls(status)) throw new RunStopped(status);
    sent += 1;
  };
  // While the attempt's first call waits for its turn (the provider's rate budget can hold it for
  // minutes), the run is read every few seconds: a cancel or pause ends the wait at once rather
  // than at the turn, so a cancelled run's queued leads settle in seconds. Once a call is sent the
  // lead is in flight (a cancel waits for it anyway) and the reading stops. The check right before
  // each request (beforeCall) stays the one that decides.
  const stop = new AbortController();
  const watch = setInterval(() => {
    if (sent > 0) {
      clearInterval(watch);
      return;
    }
    deps.leadWork.runStatusForCall(claim.runId).then(
      (status) => {
        if (status === null || !takesCalls(status)) stop.abort(new RunStopped(status));
      },
      // Unread this time: the next tick, or beforeCall, reads it again.
      () => {},
    );
  }, RUN_CHECK_WHILE_WAITING_MS);
  const renewal = setInterval(() => {
    deps.uow.commit(deps.leadWork.renewClaim(claim)).then(
      (held) => {
        if (!held) context.log.warn({}, `the lead's ${claim.stage} claim was lost while its call ran`);
      },
      // A missed renewal is retried at the next tick; the lease outlasts two of them.
      () => {},
    );
  }, claim.leaseMs / 3);
  try {
    return { kind: 'made', value: await call({ beforeCall, waitSignal: stop.signal }) };
  } catch (error) {
    if (error instanceof RunStopped) {
      clearInterval(renewal);
      // Not swallowed: a claim left held would keep the resume's copy of the lead from calling.
      await deps.uow.commit(deps.leadWork.releaseClaim(claim, sent > 0));
      return { kind: 'stopped', decision: await stoppedRunDecision(deps, claim, error.status, context) };
    }
    if (error instanceof CheckFailed) {
      // The run could not be read (the database away): nothing was sent, nothing failed for the
      // lead; the delivery is retried as for any store error.
      await deps.uow.commit(deps.leadWork.releaseClaim(claim, sent > 0)).catch(() => {});
      throw error.cause;
    }
    // The count is for the user to see, and the release only lets a copy call sooner; the call's
    // error is what the retry and the lead's failure reason are about, so a store that cannot
    // write them (the database down) must not replace it: the claim lapses by itself.
    const pushback = isPushback(error);
    await deps.uow.commit(deps.leadWork.releaseClaim(claim, !pushback)).catch(() => {});
    if (!pushback) await deps.uow.commit(deps.leadWork.recordAttempt(claim.leadId, claim.runId)).catch(() => {});
    throw error;
  } finally {
    clearInterval(watch);
    clearInterval(renewal);
  }
}

/** What a delivery whose run stopped taking calls between its claim and its call does with the lead. */
async function stoppedRunDecision(deps: PaidCallDeps, claim: CallClaim, status: RunStatus | null, context: HandlerContext): Promise<Decision | null> {
  const lead = { leadId: claim.leadId, runId: claim.runId };
  if (status === 'paused') {
    context.log.info({}, `the run was paused before the ${claim.stage} call went out: the lead waits for the run's resume`);
    return null;
  }
  if (status === 'cancelled') return cancelLeadOfCancelledRun(deps, lead, context);
  return failLeadOfEndedRun(deps.leadWork, lead, context);
}

/**
 * A lead its run's cancel left unsettled: cancelled and counted as such (one commit), then the
 * run's end checked, since this lead may have been the last one in flight (its `run.completed`,
 * status `cancelled`, follows).
 */
async function cancelLeadOfCancelledRun(deps: PaidCallDeps, lead: { readonly leadId: string; readonly runId: string }, context: HandlerContext): Promise<Decision> {
  const cancelled = await deps.uow.commit(deps.leadWork.cancelLead(lead.leadId, lead.runId));
  if (cancelled) context.log.info({}, 'the run was cancelled: lead cancelled without a call');
  return decide(deps.projectionStore.completeIfSettled(lead.runId), {
    events: completionEvents,
    after: (completion) => {
      if (completion !== null) context.log.info({ status: completion.outcome.status }, 'run ended');
    },
  });
}

/** A lead its run's end left unsettled: failed with the reason, and `lead.failed` (never counted: the run has ended). */
function failLeadOfEndedRun(leadWork: LeadWorkStore, lead: { readonly leadId: string; readonly runId: string }, context: HandlerContext): Decision {
  return decide(leadWork.saveFailed(lead.leadId, lead.runId, RUN_ENDED_REASON), {
    events: (failed) => (failed ? [{ type: 'lead.failed', run_id: lead.runId, lead_id: lead.leadId }] : []),
    after: (failed) => {
      if (failed) context.log.info({}, 'the run has ended: lead failed without a call');
    },
  });
}

/**
 * A paid stage's `giveUp`: the lead ends `failed` with the reason as its owner reads it ("research
 * failed after 6 attempts: provider unavailable (HTTP 503)"), and `lead.failed` is published. A lead
 * settled meanwhile is left as it is.
 */
export function failLead(leadWork: LeadWorkStore, stage: 'research' | 'personalization', event: { readonly run_id: string; readonly lead_id: string }, reason: string, context: HandlerContext): Promise<Decision> {
  const attempts = context.deliveryCount;
  const why = `${stage} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`;
  return Promise.resolve(decide(leadWork.saveFailed(event.lead_id, event.run_id, why), {
    events: (failed) => (failed ? [{ type: 'lead.failed', run_id: event.run_id, lead_id: event.lead_id }] : []),
    after: (failed) => {
      if (failed) context.log.warn({ reason }, `lead failed in ${stage}`);
    },
  }));
}

export function runCompletedEvent(completion: RunCompletion): RunCompleted {
  return {
    type: 'run.completed',
    run_id: completion.runId,
    campaign_id: completion.campaignId,
    user_id: completion.userId,
    status: completion.outcome.status,
  };
}

/** The `run.completed` event of a change that may have ended the run. */
export function completionEvents(completion: RunCompletion | null): RunCompleted[] {
  return completion === null ? [] : [runCompletedEvent(completion)];
}

/**
 * Before a lead's paid call (research, or its line: a re-run takes a lead with stored research
 * straight to its line), the owner's suppression list is looked up again. When it has the lead now,
 * the lead ends suppressed, counted for its run as it is saved, and the run's completion is
 * checked, as the projection would after a count. Null when the list does not have it, or the lead
 * is no longer waiting for this call in a run that has not ended (the claim then says what to do).
 */
export async function suppressIfListed(
  deps: {
    readonly uow: UnitOfWork;
    readonly leadWork: LeadWorkStore;
    readonly suppressions: LeadScreen;
    readonly projectionStore: ProjectionStore;
    readonly notifier: RunNotifier;
  },
  work: LeadWork,
  stage: PaidStage,
  context: HandlerContext,
): Promise<Decision | null> {
  const { uow, leadWork, suppressions, projectionStore, notifier } = deps;
  const listed = await suppressions.listedFor(work.runId, suppressionKeys(work.lead));
  const match = listed.length === 0 ? null : suppressionMatch(work.lead, new Set(listed));
  if (match === null) return null;
  if (!(await uow.commit(leadWork.saveSuppressed(work.leadId, work.runId, suppressionReason(match))))) return null;
  context.log.info({ suppressed_by: match.by }, `lead suppressed before its ${stage}: no call made`);
  notifier.notify(work.runId);
  return decide(projectionStore.completeIfSettled(work.runId), {
    events: completionEvents,
    after: (completion) => {
      if (completion === null) return;
      context.log.info({ status: completion.outcome.status }, 'run settled');
      notifier.notify(work.runId);
    },
  });
}
