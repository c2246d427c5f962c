/**
 * The NATS subjects of the pipeline. Each event type has a versioned subject
 * (`lead.extracted` → `lead.v1.extracted`): a breaking change to a payload gets a `v2` subject that
 * runs beside `v1` while old messages drain, instead of breaking the consumers in place.
 *
 * Every subject can carry a prefix (empty in production) so tests and side-by-side deployments
 * can share one NATS server without seeing each other's messages.
 */
import type { EventType } from '../../domain/campaigns/events.ts';

/** Exhaustive over EventType: a new event does not compile until it has a subject. */
const EVENT_SUBJECTS: Readonly<Record<EventType, string>> = {
  'campaign.submitted': 'campaign.v1.submitted',
  'lead.extracted': 'lead.v1.extracted',
  'lead.researched': 'lead.v1.researched',
  'lead.personalized': 'lead.v1.personalized',
  'lead.needs_review': 'lead.v1.needs_review',
  'lead.failed': 'lead.v1.failed',
  'run.completed': 'run.v1.completed',
};

const EVENT_TYPE_LIST = Object.keys(EVENT_SUBJECTS) as EventType[];

/** Empty, or tokens of letters, digits, `_` and `-` each followed by a dot, e.g. `t1a2b.`. */
const PREFIX_PATTERN = /^(?:[A-Za-z0-9_-]+\.)*$/;

/** Throws when the prefix would change the meaning of a subject (wildcards, spaces, no final dot). */
export function assertSubjectPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`invalid NATS subject prefix "${prefix}": use tokens of [A-Za-z0-9_-], each followed by a dot`);
  }
}

export function eventSubject(type: EventType, prefix = ''): string {
  return `${prefix}${EVENT_SUBJECTS[type]}`;
}

/**
 * The event type a subject carries, whatever its prefix (a prefix ends with a dot, so no event
 * subject is mistaken for the tail of another). Undefined for a subject that is not an event's.
 */
export function eventTypeOfSubject(subject: string): EventType | undefined {
  return EVENT_TYPE_LIST.find((type) => {
    const own = EVENT_SUBJECTS[type];
    return subject === own || subject.endsWith(`.${own}`);
  });
}

/** Where a consumer puts the messages it could not decode (see consumer-runner.ts). */
export function deadLetterSubject(consumer: string, prefix = ''): string {
  return `${prefix}deadletter.v1.${consumer}`;
}

/** Every dead-letter subject under a prefix (the dead-letter stream's filter). */
export function deadLetterSubjects(prefix = ''): string {
  return `${prefix}deadletter.v1.>`;
}

/** The core NATS subject that says "this run changed" (run-notifications.ts). */
export function runChangedSubject(runId: string, prefix = ''): string {
  return `${prefix}aga.run.${runId}.changed`;
}

/**
 * The durable name of the JetStream consumer that delivers one event type to a declaration.
 * NATS 2.9 has no multi-filter consumers, so a declaration over several events gets one consumer
 * per event: `projection-lead-personalized`, `projection-lead-failed`; a single-event declaration
 * keeps its own name (`research`).
 */
export function consumerName(
  declaration: { readonly name: string; readonly events: readonly EventType[] },
  type: EventType,
): string {
  return declaration.events.length === 1 ? declaration.name : `${declaration.name}-${type.replaceAll('.', '-')}`;
}
