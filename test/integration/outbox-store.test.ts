/**
 * The relay's claims on the real PostgreSQL outbox: in turns across users (one user's backlog does
 * not stand in front of another's first events), at most a type's room, published oldest first,
 * and never the same row to two relays at once.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../domain/campaigns/events.ts';
import type { RelayOutcome, StoredEvent } from '../../ports/outbox.port.ts';
import { useTestStore } from '../support/store.ts';

const t = useTestStore();

const extracted = (runId: string, lead: number): DomainEvent => ({ type: 'lead.extracted', run_id: runId, lead_id: `00000000-0000-4000-8000-${String(lead).padStart(12, '0')}` });

async function runOf(userId: string): Promise<string> {
  const run = await t.store.createRun({ userId, campaignName: 'Outbox', demo: false, fileName: 'leads.csv' });
  return run.runId;
}

/** Claims once and publishes everything it was handed; resolves with the events in the order handed. */
async function claim(room?: ReadonlyMap<DomainEvent['type'], number>, limit = 1_000): Promise<DomainEvent[]> {
  const handed: DomainEvent[] = [];
  await t.stores.outbox.relay(
    limit,
    (events: readonly StoredEvent[]): Promise<RelayOutcome> => {
      handed.push(...events.map((stored) => stored.event));
      return Promise.resolve({ published: events.map((stored) => stored.id), postponed: [], parked: [], retryAfterMs: 1_000 });
    },
    room === undefined ? {} : { room },
  );
  return handed;
}

describe('PostgresOutboxStore claims', () => {
  it("takes users' events in turns, at most a type's room, and hands them over oldest first", async () => {
    await t.db.sql`delete from outbox`;
    const big = await runOf(randomUUID());
    const small = await runOf(randomUUID());
    // The big user's 50 leads were committed first; the small user's 3 after them.
    await t.stores.uow.enqueue(Array.from({ length: 50 }, (_, index) => extracted(big, index)));
    await t.stores.uow.enqueue([extracted(small, 1_000), extracted(small, 1_001), extracted(small, 1_002)]);
    const completed: DomainEvent = { type: 'run.completed', run_id: big, campaign_id: big, user_id: big, status: 'completed' };
    await t.stores.uow.enqueue([completed]);

    // Room for 6 leads: the first three turns of both users, and the type without room set comes too.
    const first = await claim(new Map([['lead.extracted', 6]]));
    expect(first.filter((event) => event.run_id === small)).toHaveLength(3);
    expect(first.filter((event) => event.type === 'lead.extracted' && event.run_id === big)).toEqual([0, 1, 2].map((lead) => extracted(big, lead)));
    expect(first).toContainEqual(completed);
    // Oldest first within the claim.
    expect(first.filter((event) => event.type === 'lead.extracted')).toEqual([...[0, 1, 2].map((lead) => extracted(big, lead)), ...[1_000, 1_001, 1_002].map((lead) => extracted(small, lead))]);

    // No room: nothing of that type.
    expect(await claim(new Map([['lead.extracted', 0]]))).toEqual([]);
    // The rest, oldest first.
    const rest = await claim();
    expect(rest).toEqual(Array.from({ length: 47 }, (_, index) => extracted(big, index + 3)));
  });

  it('never hands the same row to two relays claiming at once', async () => {
    await t.db.sql`delete from outbox`;
    const run = await runOf(randomUUID());
    await t.stores.uow.enqueue(Array.from({ length: 200 }, (_, index) => extracted(run, index)));
    const seen: string[] = [];
    const slowRelay = () =>
      t.stores.outbox.relay(150, async (events) => {
        seen.push(...events.map((stored) => stored.id));
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { published: events.map((stored) => stored.id), postponed: [], parked: [], retryAfterMs: 1_000 };
      });
    // The second relay ranks the rows the first holds and skips them: it gets what is left of its
    // places, possibly nothing (relays in several processes are for availability, not speed).
    const [a, b] = await Promise.all([slowRelay(), slowRelay()]);
    expect(a + b).toBeGreaterThanOrEqual(150);
    while ((await slowRelay()) > 0);
    expect(seen).toHaveLength(200);
    expect(new Set(seen).size).toBe(200);
    expect((await t.db.sql`select count(*)::int as n from outbox`)[0]!.n).toBe(0);
  });
});
