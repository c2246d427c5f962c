/** What the lead consumers share: the events a lead's states call for, attempts, and failure reasons. */
import type { DomainEvent, RunCompleted } from '../../../domain/campaigns/events.ts';
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import type { HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { LeadWorkStore } from '../../../ports/lead-work-store.port.ts';
import { isPushback } from '../../../ports/outside-api.port.ts';
import type { RunCompletion } from '../../../ports/projection-store.port.ts';
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
    case 'failed':
      return { type: 'lead.failed', ...ids };
  }
}

/**
 * Makes a lead's outside call (or calls) as one attempt. A successful attempt is counted by the
 * save that records its result. A failed one is counted here, unless the outside API pushed back
 * (rate limited, paused, circuit open): then no call failed for the lead.
 */
export async function attempt<T>(
  deps: { readonly uow: UnitOfWork; readonly leadWork: LeadWorkStore },
  lead: { readonly leadId: string; readonly runId: string },
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    // The count is for the user to see; the call's error is what the retry and the lead's failure
    // reason are about, so a store that cannot count it (the database down) must not replace it:
    // the next delivery finds the database again, or fails on it by itself.
    if (!isPushback(error)) await deps.uow.commit(deps.leadWork.recordAttempt(lead.leadId, lead.runId)).catch(() => {});
    throw error;
  }
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
