// The wire format on its own (no broker): subjects, and what decode accepts and refuses.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, type DomainEvent } from '../../domain/campaigns/events.ts';
import { decode, encode, EventDecodeError } from '../../adapters/nats/event-codec.ts';
import { consumerName, eventSubject, eventTypeOfSubject } from '../../adapters/nats/subjects.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('subjects', () => {
  it('versions every event subject and maps it back, with or without a prefix', () => {
    expect(eventSubject('campaign.submitted')).toBe('campaign.v1.submitted');
    expect(eventSubject('run.completed', 'ab1.')).toBe('ab1.run.v1.completed');
    for (const type of EVENT_TYPES) {
      expect(eventTypeOfSubject(eventSubject(type))).toBe(type);
      expect(eventTypeOfSubject(eventSubject(type, 't1.x.'))).toBe(type);
    }
    expect(eventTypeOfSubject('xlead.v1.extracted')).toBeUndefined();
    expect(eventTypeOfSubject('lead.v2.extracted')).toBeUndefined();
  });

  it('names a consumer after its declaration, and after the event when it has several', () => {
    expect(consumerName({ name: 'research', events: ['lead.extracted'] }, 'lead.extracted')).toBe('research');
    const projection = { name: 'projection', events: ['lead.personalized', 'lead.failed'] } as const;
    expect(consumerName(projection, 'lead.failed')).toBe('projection-lead-failed');
  });
});

describe('event codec', () => {
  const completed: DomainEvent = {
    type: 'run.completed',
    run_id: randomUUID(),
    campaign_id: randomUUID(),
    user_id: randomUUID(),
    status: 'completed',
  };

  it('round-trips an event through its subject', () => {
    expect(decode(eventSubject('run.completed', 'p.'), encode(completed))).toEqual(completed);
  });

  it('refuses a payload that is not UTF-8 JSON', () => {
    const result = decode('lead.v1.extracted', bytes('{"type":'));
    expect(result).toBeInstanceOf(EventDecodeError);
    expect((result as EventDecodeError).reason).toBe('payload is not UTF-8 JSON');
    expect(decode('lead.v1.extracted', new Uint8Array([0xff, 0xfe]))).toBeInstanceOf(EventDecodeError);
  });

  it('refuses extra keys, non-UUID ids and a type that is not the subject\'s, without echoing values', () => {
    const leadId = randomUUID();
    const runId = randomUUID();
    const json = (value: object) => bytes(JSON.stringify(value));
    const extra = decode('lead.v1.extracted', json({ type: 'lead.extracted', run_id: runId, lead_id: leadId, email: 'a@b.test' }));
    expect((extra as EventDecodeError).reason).toBe('not a lead.extracted event: email expected never');

    const badId = decode('lead.v1.extracted', json({ type: 'lead.extracted', run_id: 'secret-value', lead_id: leadId }));
    expect((badId as EventDecodeError).reason).toMatch(/^not a lead\.extracted event: run_id expected/);
    expect((badId as EventDecodeError).message).not.toContain('secret-value');

    const wrongType = decode('lead.v1.researched', json({ type: 'lead.extracted', run_id: runId, lead_id: leadId }));
    expect((wrongType as EventDecodeError).reason).toBe('not a lead.researched event: type expected "lead.researched"');

    expect((decode('other.subject', bytes('{}')) as EventDecodeError).reason).toBe('no event is published on other.subject');
  });
});
