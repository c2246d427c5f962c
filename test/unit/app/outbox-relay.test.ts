/** The outbox relay against the in-memory outbox (on a fake clock) and a recording publisher. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DomainEvent, EventType } from '../../../domain/campaigns/events.ts';
import { OutboxRelay, type OutboxRelayOptions } from '../../../src/app/kernel/outbox-relay.ts';
import { FakeClock, FakeEventSubscriptions, FakeUnitOfWork, InMemoryOutbox, logged, RecordingEventPublisher, RecordingLog } from '../../support/fakes/index.ts';

const RUN = '11111111-1111-4111-8111-111111111111';
const extracted = (lead: string): DomainEvent => ({ type: 'lead.extracted', run_id: RUN, lead_id: lead });
const SMALL_RUN = '22222222-2222-4222-8222-222222222222';
const smallExtracted = (lead: string): DomainEvent => ({ type: 'lead.extracted', run_id: SMALL_RUN, lead_id: lead });
const completed: DomainEvent = { type: 'run.completed', run_id: RUN, campaign_id: RUN, user_id: RUN, status: 'completed' };
const CONSUMED: ReadonlyMap<EventType, readonly string[]> = new Map<EventType, readonly string[]>([
  ['campaign.submitted', ['extraction']],
  ['lead.extracted', ['research']],
  ['lead.researched', ['personalization']],
  ['lead.personalized', ['projection']],
  ['lead.needs_review', ['projection']],
  ['lead.failed', ['projection']],
]);

function relayOf(options: Partial<OutboxRelayOptions> = {}) {
  const clock = new FakeClock();
  const outbox = new InMemoryOutbox(clock);
  const uow = new FakeUnitOfWork(outbox);
  const publisher = new RecordingEventPublisher();
  const subscriptions = new FakeEventSubscriptions();
  const log = new RecordingLog();
  const relay = new OutboxRelay({ outbox, publisher, subscriptions, consumed: CONSUMED, log, retryAfterMs: 2_000, now: () => clock.now(), ...options });
  return { clock, outbox, uow, publisher, subscriptions, log, relay };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('OutboxRelay', () => {
  it('publishes the committed events in order, with their traces, and removes them', async () => {
    const { outbox, uow, publisher, relay } = relayOf();
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    await uow.enqueue([{ event: extracted('a'), trace }, extracted('b'), completed]);

    expect(await relay.relayOnce()).toBe(3);

    expect(publisher.batches).toEqual([[{ event: extracted('a'), trace }, { event: extracted('b'), trace: null }, { event: completed, trace: null }]]);
    expect(outbox.events()).toEqual([]);
    expect(await relay.relayOnce()).toBe(0);
    expect(publisher.batches).toHaveLength(1);
  });

  it('claims at most a batch at a time, oldest first', async () => {
    const { uow, publisher, relay } = relayOf({ batchSize: 2 });
    await uow.enqueue([extracted('a'), extracted('b'), extracted('c')]);
    expect(await relay.relayOnce()).toBe(2);
    expect(await relay.relayOnce()).toBe(1);
    expect(publisher.published).toEqual([extracted('a'), extracted('b'), extracted('c')]);
  });

  it('holds back an event some consumer will want until that consumer exists, and publishes the rest', async () => {
    const { clock, outbox, uow, publisher, subscriptions, log, relay } = relayOf();
    subscriptions.remove('lead.extracted');
    subscriptions.remove('run.completed'); // nobody is configured to receive it: published all the same
    await uow.enqueue([extracted('a'), completed, extracted('b')]);

    expect(await relay.relayOnce()).toBe(3);
    expect(publisher.published).toEqual([completed]);
    expect(outbox.events()).toEqual([extracted('a'), extracted('b')]);
    expect(logged(log, 'no consumer of them exists yet', 'warn').map((entry) => entry.fields)).toEqual([{ event_type: 'lead.extracted' }]);

    // Not due again before the retry delay, even with the consumer there.
    subscriptions.add('lead.extracted');
    expect(await relay.relayOnce()).toBe(0);
    clock.advance(2_000);
    expect(await relay.relayOnce()).toBe(2);
    expect(publisher.published).toEqual([completed, extracted('a'), extracted('b')]);
    expect(outbox.events()).toEqual([]);
  });

  it('holds an event back while any one of its consumers is missing, and leaves the held rows untouched', async () => {
    const consumed = new Map<EventType, readonly string[]>([...CONSUMED, ['run.completed', ['webhook', 'crm']]]);
    const { clock, outbox, uow, publisher, subscriptions, relay } = relayOf({ consumed });
    subscriptions.missing.add('crm'); // the webhook's durable exists, the CRM push's not yet
    await uow.enqueue([completed, extracted('a')]);
    const before = outbox.events();
    expect(await relay.relayOnce()).toBe(2);
    expect(publisher.published).toEqual([extracted('a')]);
    expect(outbox.events()).toEqual([completed]);
    // Not claimed again (no write per look) until the retry delay has passed.
    expect(await relay.relayOnce()).toBe(0);
    subscriptions.missing.delete('crm');
    clock.advance(2_000);
    expect(await relay.relayOnce()).toBe(1);
    expect(publisher.published).toEqual([extracted('a'), completed]);
    expect(before).toHaveLength(2);
  });

  it('logs a held event type at most once a minute', async () => {
    const { clock, uow, subscriptions, log, relay } = relayOf();
    subscriptions.remove('lead.extracted');
    await uow.enqueue([extracted('a')]);
    await relay.relayOnce();
    clock.advance(2_000);
    await relay.relayOnce();
    expect(logged(log, 'no consumer of them exists yet')).toHaveLength(1);
  });

  it('parks an event that can never be published, for an operator, and goes on with the others', async () => {
    const { clock, outbox, uow, publisher, log, relay } = relayOf();
    publisher.resultFor((event) => ('lead_id' in event && event.lead_id === 'bad' ? { ok: false, permanent: true, reason: 'does not encode' } : { ok: true }));
    await uow.enqueue([extracted('a'), extracted('bad'), extracted('c')]);

    await relay.relayOnce();
    expect(publisher.published).toEqual([extracted('a'), extracted('c')]);
    expect(outbox.parked().map((row) => row.event)).toEqual([extracted('bad')]);
    expect(logged(log, 'parked for an operator', 'error')[0]?.fields).toMatchObject({ event_type: 'lead.extracted', run_id: RUN, reason: 'does not encode', outbox_id: outbox.parked()[0]!.id });

    clock.advance(24 * 60 * 60_000);
    expect(await relay.relayOnce()).toBe(0);
    expect(publisher.batches).toHaveLength(1);
  });

  it('postpones an event the broker did not take, and publishes it once it is due again', async () => {
    const { clock, outbox, uow, publisher, log, relay } = relayOf();
    let refuse = true;
    publisher.resultFor((event) => (refuse && event.type === 'run.completed' ? { ok: false, permanent: false, reason: 'timeout' } : { ok: true }));
    await uow.enqueue([extracted('a'), completed]);

    await relay.relayOnce();
    expect(outbox.events()).toEqual([completed]);
    expect(logged(log, 'did not take some events', 'warn')[0]?.fields).toEqual({ events: 1 });

    refuse = false;
    clock.advance(1_999);
    expect(await relay.relayOnce()).toBe(0);
    clock.advance(1);
    expect(await relay.relayOnce()).toBe(1);
    expect(publisher.published).toEqual([extracted('a'), completed]);
    expect(outbox.events()).toEqual([]);
  });

  it('changes nothing when publishing throws (the broker unreachable): the events stay due', async () => {
    const { outbox, uow, publisher, relay } = relayOf();
    await uow.enqueue([extracted('a')]);
    publisher.failWith(new Error('connection refused'));
    await expect(relay.relayOnce()).rejects.toThrow('connection refused');
    expect(outbox.events()).toEqual([extracted('a')]);
    publisher.failWith(undefined);
    expect(await relay.relayOnce()).toBe(1);
  });

  it('wakes at once on a commit instead of waiting for its poll, and stops promptly', async () => {
    const { outbox, uow, publisher, relay } = relayOf({ pollMs: 60 * 60_000 });
    const relayed: Promise<number>[] = [];
    const relayOnce = outbox.relay.bind(outbox);
    vi.spyOn(outbox, 'relay').mockImplementation((limit, publish) => {
      const claimed = relayOnce(limit, publish);
      relayed.push(claimed);
      return claimed;
    });
    await relay.start();
    await vi.waitFor(() => expect(relayed).toHaveLength(1));
    expect(await relayed[0]).toBe(0); // nothing yet: the relay goes idle for an hour

    const batch = publisher.nextBatch();
    await uow.enqueue([extracted('a')]);
    expect(await batch).toEqual([{ event: extracted('a'), trace: null }]);

    await relay.stop();
    expect(publisher.published).toEqual([extracted('a')]);
  });

  it('goes on after the outbox itself failed, saying so once and again when it works', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { outbox, uow, publisher, log, relay } = relayOf({ pollMs: 60 * 60_000 });
    const failing = vi.spyOn(outbox, 'relay').mockRejectedValueOnce(new Error('database restarting')).mockRejectedValueOnce(new Error('database restarting'));
    await uow.enqueue([extracted('a')]);
    const batch = publisher.nextBatch();
    await relay.start();
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    failing.mockRestore();
    await batch;
    await relay.stop();
    expect(logged(log, 'outbox relay failed; retrying', 'error')).toHaveLength(1);
    expect(logged(log, 'outbox relay works again', 'info')).toHaveLength(1);
    expect(publisher.published).toEqual([extracted('a')]);
  });

  it("meters a type into the broker by what its consumers hold, taking users' events in turns", async () => {
    const clock = new FakeClock();
    const owners = new Map([[RUN, 'big-user'], [SMALL_RUN, 'small-user']]);
    const outbox = new InMemoryOutbox(clock, (runId) => owners.get(runId) ?? runId);
    const uow = new FakeUnitOfWork(outbox);
    const publisher = new RecordingEventPublisher();
    const subscriptions = new FakeEventSubscriptions();
    const relay = new OutboxRelay({ outbox, publisher, subscriptions, consumed: CONSUMED, log: new RecordingLog(), minWaiting: 4, now: () => clock.now() });
    await uow.enqueue(Array.from({ length: 20 }, (_, index) => extracted(`big-${index}`)));
    await uow.enqueue([smallExtracted('s-1'), smallExtracted('s-2')]);

    // Research has 3 in flight and 1 waiting: room for max(4, 3) - 1 = 3, taken in turns (the
    // first of each user, then the second of each), handed over oldest first.
    subscriptions.setBacklog('lead.extracted', { waiting: 1, inFlight: 3 });
    expect(await relay.relayOnce()).toBe(3);
    expect(publisher.published).toEqual([extracted('big-0'), extracted('big-1'), smallExtracted('s-1')]);

    // Full: nothing more until the consumers take some.
    subscriptions.setBacklog('lead.extracted', { waiting: 10, inFlight: 8 });
    expect(await relay.relayOnce()).toBe(0);
    subscriptions.setBacklog('lead.extracted', { waiting: 0, inFlight: 8 });
    expect(await relay.relayOnce()).toBe(8);
    expect(publisher.published).toContainEqual(smallExtracted('s-2'));
    expect(outbox.events('lead.extracted')).toHaveLength(11);
  });

  it('publishes a re-drive after a lost stream under its own de-duplication id', async () => {
    const { uow, publisher, relay } = relayOf();
    await uow.enqueue([extracted('a')], { redrive: 'stream-2' });
    await uow.enqueue([extracted('b')]);
    await relay.relayOnce();
    expect(publisher.batches[0]).toEqual([
      { event: extracted('a'), trace: null, msgId: `lead.extracted:${RUN}:a@stream-2` },
      { event: extracted('b'), trace: null },
    ]);
  });
});
