/**
 * Events on the wire: JSON, one strict valibot schema per event type. The consumer never trusts a
 * payload: ids must be UUIDs, the keys exactly the event's, and the `type` the one its subject
 * carries. The publisher checks with the same schemas, so nothing is published that a consumer
 * would reject.
 */
import * as v from 'valibot';
import type { DomainEvent, EventType } from '../../domain/campaigns/events.ts';
import { eventTypeOfSubject } from './subjects.ts';

const id = v.pipe(v.string(), v.uuid());

const SCHEMAS: Readonly<Record<EventType, v.GenericSchema<unknown, DomainEvent>>> = {
  'campaign.submitted': v.strictObject({ type: v.literal('campaign.submitted'), run_id: id, campaign_id: id, user_id: id }),
  'lead.extracted': v.strictObject({ type: v.literal('lead.extracted'), run_id: id, lead_id: id }),
  'lead.researched': v.strictObject({ type: v.literal('lead.researched'), run_id: id, lead_id: id }),
  'lead.personalized': v.strictObject({ type: v.literal('lead.personalized'), run_id: id, lead_id: id }),
  'lead.needs_review': v.strictObject({ type: v.literal('lead.needs_review'), run_id: id, lead_id: id }),
  'lead.failed': v.strictObject({ type: v.literal('lead.failed'), run_id: id, lead_id: id }),
  'run.completed': v.strictObject({
    type: v.literal('run.completed'),
    run_id: id,
    campaign_id: id,
    user_id: id,
    status: v.picklist(['completed', 'failed', 'cancelled']),
  }),
};

/**
 * A payload that is not a valid event. `reason` names the offending keys and what was expected,
 * never the received values, so it can be logged and put in a header.
 */
export class EventDecodeError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(`undecodable event: ${reason}`);
    this.name = 'EventDecodeError';
    this.reason = reason;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The wire form of an event; throws when the event does not match its schema. */
export function encode(event: DomainEvent): Uint8Array {
  const result = v.safeParse(SCHEMAS[event.type], event);
  if (!result.success) throw new EventDecodeError(`refusing to publish ${event.type}: ${describe(result.issues)}`);
  return encoder.encode(JSON.stringify(result.output));
}

/** The event a message carries, or why it is not one. */
export function decode(subject: string, data: Uint8Array): DomainEvent | EventDecodeError {
  const type = eventTypeOfSubject(subject);
  if (type === undefined) return new EventDecodeError(`no event is published on ${subject}`);
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return new EventDecodeError('payload is not UTF-8 JSON');
  }
  const result = v.safeParse(SCHEMAS[type], json);
  return result.success ? result.output : new EventDecodeError(`not a ${type} event: ${describe(result.issues)}`);
}

function describe(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => `${v.getDotPath(issue) ?? '(root)'} expected ${issue.expected ?? issue.kind}`)
    .join('; ');
}
