/**
 * The events the use cases publish, built from what the store reports. Handlers and the
 * reconciler re-publish a lead's event when its state moved on but the event may have been lost (a
 * crash between the database write and the publish, a broker that dropped messages): event ids
 * are deterministic, so a copy that did reach the broker is de-duplicated, and every handler is
 * idempotent for the copies that get through.
 */
import type { DomainEvent, RunCompleted } from '../../domain/campaigns/events.ts';
import type { LeadStatus } from '../../domain/campaigns/run.ts';
import type { LeadWorkStore, RunCompletion } from '../../ports/campaign-store.port.ts';
import type { HandlerContext } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import { isPushback } from '../../ports/outside-api.port.ts';

/** The event that carries a lead on from the state it is in. */
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
 * Publishes the event matching the lead's stored state, when that is not the event being handled
 * (which would only feed the handler its own input again). Nothing when the lead left the run.
 */
export async function republishLead(
  store: LeadWorkStore,
  publisher: EventPublisher,
  handled: { readonly type: DomainEvent['type']; readonly run_id: string; readonly lead_id: string },
): Promise<void> {
  const work = await store.leadWork(handled.lead_id, handled.run_id);
  if (work === null) return;
  const next = leadEvent(work.runId, work.leadId, work.status);
  if (next.type !== handled.type) await publisher.publish(next);
}

/**
 * Makes a lead's provider call (or calls) as one attempt. A successful attempt is counted by the
 * save that records its result, in the same statement: no write before the call. A failed one is
 * counted here, unless the provider pushed back (rate limited, out of credit, circuit open):
 * then no call was made, or none that failed for the lead.
 */
export async function attempt<T>(store: LeadWorkStore, lead: { readonly leadId: string; readonly runId: string }, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    // The count is for the user to see; the provider's error is what the retry and the lead's
    // failure reason are about, so a store that cannot count it (the database down) must not
    // replace it: the next delivery finds the database again, or fails on it by itself.
    if (!isPushback(error)) await store.recordAttempt(lead.leadId, lead.runId).catch(() => {});
    throw error;
  }
}

/** The reason a lead failed, as its owner reads it: "research failed after 6 attempts: provider unavailable (HTTP 503)". */
export function failureReason(stage: 'research' | 'personalization', reason: string, context: HandlerContext): string {
  const attempts = context.deliveryCount;
  return `${stage} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`;
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
