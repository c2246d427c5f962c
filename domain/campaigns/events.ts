/**
 * The pipeline's events. They carry ids, never lead data or files: the database is the source of
 * truth and the uploaded file sits in the object store (claim check). Each event type maps to a
 * versioned subject (`campaign.v1.submitted`, ...) in the messaging adapter.
 */

export interface CampaignSubmitted {
  readonly type: 'campaign.submitted';
  readonly run_id: string;
  readonly campaign_id: string;
  readonly user_id: string;
}

/** A lead was stored for a run and waits for research. */
export interface LeadExtracted {
  readonly type: 'lead.extracted';
  readonly run_id: string;
  readonly lead_id: string;
}

export interface LeadResearched {
  readonly type: 'lead.researched';
  readonly run_id: string;
  readonly lead_id: string;
}

/**
 * A lead reached a final state for its run: personalized, failed, or needs_review (its line failed
 * the quality gates twice: the draft waits for a person).
 */
export interface LeadSettled {
  readonly type: 'lead.personalized' | 'lead.needs_review' | 'lead.failed';
  readonly run_id: string;
  readonly lead_id: string;
}

export interface RunCompleted {
  readonly type: 'run.completed';
  readonly run_id: string;
  readonly campaign_id: string;
  readonly user_id: string;
  /** How the run ended; `cancelled` once nothing its owner cancelled is in flight any more. */
  readonly status: 'completed' | 'failed' | 'cancelled';
}

export type DomainEvent = CampaignSubmitted | LeadExtracted | LeadResearched | LeadSettled | RunCompleted;
export type EventType = DomainEvent['type'];
/** The event of type `T` (an intersection, so that a single settled type such as `lead.failed` is not `never`). */
export type EventOf<T extends EventType> = DomainEvent & { readonly type: T };

export const EVENT_TYPES: readonly EventType[] = [
  'campaign.submitted',
  'lead.extracted',
  'lead.researched',
  'lead.personalized',
  'lead.needs_review',
  'lead.failed',
  'run.completed',
];

/**
 * The de-duplication id of an event: the same fact published twice (a redelivered handler, a
 * replay by the reconciler) gets the same id, so the broker keeps one copy.
 */
export function eventId(event: DomainEvent): string {
  switch (event.type) {
    case 'campaign.submitted':
    case 'run.completed':
      return `${event.type}:${event.run_id}`;
    default:
      return `${event.type}:${event.run_id}:${event.lead_id}`;
  }
}
