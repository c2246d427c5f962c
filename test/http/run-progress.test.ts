import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsPauseBoard } from '../../adapters/nats/api-status.ts';
import { PROVIDER_APIS } from '../../adapters/providers/apis.ts';
import { RecordingLog } from '../support/nats.ts';
import {
  apiGet,
  openEventStream,
  seedRun,
  settleLead,
  startTestServer,
  testUser,
  type EventStream,
  type ServerSentEvent,
  type TestServer,
  type TestUser,
} from '../support/http.ts';
import { hs256Token } from '../support/tokens.ts';
import { PROGRESS_START } from '../../ports/campaign-queries.port.ts';
import { DEFAULT_MAX_STREAMS_PER_USER, REPLAYED_LEADS } from '../../adapters/http/routes/run-progress.ts';
import { expectProblem, readJson } from './helpers.ts';

/** Five data rows: three valid leads, one duplicate, one rejected (no company). */
const CSV = [
  'email,company,first_name',
  'ann@example.com,Acme,Ann',
  'bob@example.com,Beta,Bob',
  'cid@example.com,Gamma,Cid',
  'ann@example.com,Acme,Ann again',
  'dee@example.com,,Dee',
].join('\n');

const anIsoTimestamp: unknown = expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);

interface RunJson {
  run_id: string;
  campaign_id: string;
  status: string;
  processed: number;
  personalized: number;
  failed: number;
  [key: string]: unknown;
}

describe('run progress', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  describe('GET /api/campaigns/status/:runId', () => {
    it('answers the run with its totals and counters', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });

      const res = await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice);
      expect(res.status).toBe(200);
      const body = await readJson<RunJson>(res);
      expect(body).toEqual({
        run_id: run.runId,
        campaign_id: run.campaignId,
        status: 'personalizing',
        total_rows: 5,
        valid: 3,
        duplicates: 1,
        rejected_rows: 1,
        skipped: 0,
        processed: 1,
        personalized: 1,
        needs_review: 0,
        failed: 0,
        suppressed: 0,
        cancelled: 0,
        cost_usd: 0,
        research_cache_hits: 0,
        error_message: null,
        created_at: anIsoTimestamp,
        updated_at: anIsoTimestamp,
        completed_at: null,
        sandbox: false,
        // One lead settled since the run began: the other two at that rate.
        eta: { seconds: expect.any(Number) as unknown, at: anIsoTimestamp },
        cancelled_at: null,
        paused_at: null,
        notices: [],
      });
    });

    it('tells why a run in progress waits: a provider paused for lack of credit, and no more once it resumes', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const board = await NatsPauseBoard.open(server.nc, { bucket: server.providerBucket, apis: PROVIDER_APIS, log: new RecordingLog() });
      try {
        await board.pause('research', { failure: 'out_of_credit', reason: 'provider out of credit' }, 60_000);
        const paused = await readJson<RunJson>(await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice));
        expect(paused.notices).toEqual([{ code: 'provider_paused', api: 'research', message: 'research paused: provider out of credit' }]);
        expect(paused.eta).toBeNull();

        const pause = board.pauseOf('research');
        expect(pause).toBeDefined();
        if (pause !== undefined) await board.resume('research', pause);
        const resumed = await readJson<RunJson>(await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice));
        expect(resumed.notices).toEqual([]);
      } finally {
        board.close();
      }
    });

    it('answers 404, with nothing of the run, for another user\'s run, an unknown id and a malformed id', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      for (const [user, id] of [
        [bob, run.runId],
        [alice, randomUUID()],
        [alice, 'not-a-uuid'],
        [alice, `${run.runId}x`],
      ] as const) {
        const body = await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/status/${id}`, user), 404);
        expect(JSON.stringify(body)).not.toContain(run.campaignId);
      }
    });

    it('answers 401 without a token, and ignores ?access_token= on this route', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      await expectProblem(await fetch(`${server.baseUrl}/api/campaigns/status/${run.runId}`), 401);
      await expectProblem(await fetch(`${server.baseUrl}/api/campaigns/status/${run.runId}?access_token=${alice.token}`), 401);
    });
  });

  describe('GET /api/campaigns/events/:runId', () => {
    const streams: EventStream[] = [];
    afterAll(() => {
      for (const stream of streams) stream.close();
    });

    async function follow(runId: string, user: TestUser): Promise<EventStream> {
      const stream = await openEventStream(`${server.baseUrl}/api/campaigns/events/${runId}`, { Authorization: `Bearer ${user.token}` });
      streams.push(stream);
      return stream;
    }

    /** Every event up to the end of the stream. */
    async function drain(stream: EventStream, timeoutMs = 15_000): Promise<ServerSentEvent[]> {
      const events: ServerSentEvent[] = [];
      const deadline = Date.now() + timeoutMs;
      for (let event = await stream.next(timeoutMs); event !== null; event = await stream.next(deadline - Date.now())) {
        events.push(event);
      }
      return events;
    }

    const data = (event: ServerSentEvent | null | undefined) => JSON.parse(event?.data ?? 'null') as Record<string, unknown>;

    it('gives a late client the current state first, then each settled lead and status change, then end', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const ann = run.leadIds.get('ann@example.com')!;
      const bobLead = run.leadIds.get('bob@example.com')!;
      const cid = run.leadIds.get('cid@example.com')!;
      await settleLead(server, run.runId, ann, { message: 'Hi Ann' });

      const stream = await follow(run.runId, alice);
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const first = await stream.next();
      expect(first?.event).toBe('summary');
      expect(data(first)).toMatchObject({ run_id: run.runId, status: 'personalizing', processed: 1, personalized: 1, earlier_leads: false });
      // The lead settled before the client came is among the latest, so it is replayed.

      await settleLead(server, run.runId, bobLead, { message: 'Hi Bob' });
      await settleLead(server, run.runId, cid, { error: 'research failed: rejected' });
      const rest = await drain(stream);

      const leads = rest.filter((event) => event.event === 'lead').map(data);
      expect(leads).toHaveLength(3);
      expect(leads).toEqual(
        expect.arrayContaining([
          { lead_id: ann, row: 2, status: 'personalized', message: 'Hi Ann', error: null },
          { lead_id: bobLead, row: 3, status: 'personalized', message: 'Hi Bob', error: null },
          { lead_id: cid, row: 4, status: 'failed', message: null, error: 'research failed: rejected' },
        ]),
      );
      const statuses = rest.filter((event) => event.event === 'status').map(data);
      expect(statuses.at(-1)).toMatchObject({ status: 'completed', processed: 3, personalized: 2, failed: 1 });
      // Counters only move forward, each status differs from the one before.
      const processed = statuses.map((status) => status.processed as number);
      expect(processed).toEqual([...processed].sort((a, b) => a - b));
      expect(new Set(statuses.map((status) => JSON.stringify(status))).size).toBe(statuses.length);

      // The end comes last, after the final status and every lead; then the server closes the stream.
      expect(rest.at(-1)).toMatchObject({ event: 'end', data: JSON.stringify({ run_id: run.runId, status: 'completed' }) });
      expect(rest.findIndex((event) => event.event === 'end')).toBe(rest.length - 1);
      expect(await stream.next()).toBeNull();
    });

    it('replays a finished run at once: summary, every lead (fewer than the replayed number), end', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      for (const [email, leadId] of run.leadIds) await settleLead(server, run.runId, leadId, { error: `no ${email}` });

      const events = await drain(await follow(run.runId, alice), 5_000);
      expect(events.map((event) => event.event)).toEqual(['summary', 'lead', 'lead', 'lead', 'end']);
      expect(data(events[0])).toMatchObject({ status: 'failed' });
      expect(data(events[0]).error_message).toMatch(/No lead could be personalized/);
      expect(events.slice(1, 4).map((event) => data(event).lead_id).sort()).toEqual([...run.leadIds.values()].sort());
    });

    it('wakes on the run\'s notifications rather than waiting for its 2 s poll', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const stream = await follow(run.runId, alice);
      expect((await stream.next())?.event).toBe('summary');
      // Changes the store has no writer for (so no lead event, no visibility delay): one counter at a time.
      for (let i = 1; i <= 5; i += 1) {
        await server.sql`update campaign_runs set total_rows = total_rows + 1 where id = ${run.runId}`;
        const changed = Date.now();
        server.notifier.notify(run.runId);
        const event = await stream.next(5_000);
        expect(event?.event).toBe('status');
        expect(data(event).total_rows).toBe(5 + i);
        // A poll would come after 0-2 s; five notifications all answered within 1 s is not chance.
        expect(Date.now() - changed).toBeLessThan(1_000);
      }
      stream.close();
    });

    it('notices a change that was never signalled, by polling', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const stream = await follow(run.runId, alice);
      expect((await stream.next())?.event).toBe('summary');
      await server.sql`update campaign_runs set status = 'failed', error_message = 'stopped by test', completed_at = now() where id = ${run.runId}`;
      const events = await drain(stream, 5_000);
      expect(events.map((event) => event.event)).toEqual(['status', 'end']);
      expect(data(events[0])).toMatchObject({ status: 'failed', error_message: 'stopped by test' });
    });

    it('takes the token as ?access_token= (EventSource cannot send headers), and rejects a bad one', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const stream = await openEventStream(`${server.baseUrl}/api/campaigns/events/${run.runId}?access_token=${alice.token}`);
      streams.push(stream);
      expect(stream.response.status).toBe(200);
      expect((await stream.next())?.event).toBe('summary');
      stream.close();

      const forged = await hs256Token({ sub: alice.id }, 'some-other-secret-0123456789abcdef0123');
      const bad = await fetch(`${server.baseUrl}/api/campaigns/events/${run.runId}?access_token=${forged}`);
      const body = await expectProblem(bad, 401);
      expect(JSON.stringify(body)).not.toContain(forged);
      await expectProblem(await fetch(`${server.baseUrl}/api/campaigns/events/${run.runId}`), 401);
      await expectProblem(await fetch(`${server.baseUrl}/api/campaigns/events/${run.runId}?access_token=`), 401);
    });

    it('answers a plain 404 problem, not a stream, for another user\'s run, an unknown id and a malformed id', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      for (const [user, id] of [
        [bob, run.runId],
        [alice, randomUUID()],
        [alice, 'nope'],
      ] as const) {
        await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/events/${id}`, user), 404);
      }
      const viaQuery = await fetch(`${server.baseUrl}/api/campaigns/events/${run.runId}?access_token=${bob.token}`);
      await expectProblem(viaQuery, 404);
    });

    it('stops watching the run when the client disconnects', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      /** Signals for the run that reached the server's own NATS connection, i.e. that someone there watches. */
      const delivered = async () => {
        const before = server.nc.stats().inMsgs;
        server.notifier.notify(run.runId);
        await server.nc.flush();
        return server.nc.stats().inMsgs - before;
      };
      const stream = await follow(run.runId, alice);
      expect((await stream.next())?.event).toBe('summary');
      expect(await delivered()).toBe(1);

      stream.close();
      // At once, not at the stream's next poll (up to 2 s later). A signal would wake the stream
      // and end it too, so the check is made once, after a pause, not polled for.
      await sleep(300);
      expect(await delivered()).toBe(0);
      const res = await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice);
      expect(res.status).toBe(200);
    });
  });

  describe('bounded replay, event ids and resuming', () => {
    const streams: EventStream[] = [];
    afterAll(() => {
      for (const stream of streams) stream.close();
    });

    const eventsUrl = (runId: string) => `${server.baseUrl}/api/campaigns/events/${runId}`;
    async function open(url: string, headers: Record<string, string>): Promise<EventStream> {
      const stream = await openEventStream(url, headers);
      streams.push(stream);
      return stream;
    }
    const data = (event: ServerSentEvent | null | undefined) => JSON.parse(event?.data ?? 'null') as Record<string, unknown>;

    /** The next `count` events of `stream` (fails after `timeoutMs`). */
    async function take(stream: EventStream, count: number, timeoutMs = 10_000): Promise<ServerSentEvent[]> {
      const events: ServerSentEvent[] = [];
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        const event = await stream.next(Math.max(1, deadline - Date.now()));
        if (event === null) break;
        events.push(event);
      }
      return events;
    }

    /** Every lead event of `stream` until `count` of them came (status events skipped), then what else came with them. */
    async function leadsOf(stream: EventStream, count: number): Promise<ServerSentEvent[]> {
      const leads: ServerSentEvent[] = [];
      const deadline = Date.now() + 15_000;
      while (leads.length < count) {
        const event = await stream.next(Math.max(1, deadline - Date.now()));
        if (event === null) break;
        if (event.event === 'lead') leads.push(event);
      }
      return leads;
    }

    /** Orders progress ids as the feed does: by settling transaction, then sequence value. */
    const progressKey = (id: string | undefined) => {
      expect(id).toMatch(/^\d+-\d+$/);
      const [xid, seq] = (id ?? '').split('-').map(BigInt) as [bigint, bigint];
      return xid * 2n ** 64n + seq;
    };
    const strictlyIncreasing = (ids: readonly (string | undefined)[]) => ids.every((id, i) => i === 0 || progressKey(id) > progressKey(ids[i - 1]));

    const csvOf = (count: number) => ['email,company', ...Array.from({ length: count }, (_, i) => `lead${i}@example.com,Company ${i}`)].join('\n');

    it('gives every event an id, increasing lead after lead, and resumes exactly after Last-Event-ID', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: csvOf(10) });
      const leadIds = [...run.leadIds.values()];
      for (const leadId of leadIds.slice(0, 4)) await settleLead(server, run.runId, leadId, { message: 'Hi' });

      const first = await open(eventsUrl(run.runId), { Authorization: `Bearer ${alice.token}` });
      const [summary] = await take(first, 1);
      expect(summary).toMatchObject({ event: 'summary', id: PROGRESS_START, retry: 3_000 });
      expect(data(summary)).toMatchObject({ run_id: run.runId, processed: 4, earlier_leads: false });
      const seen = await leadsOf(first, 4);
      expect(strictlyIncreasing(seen.map((event) => event.id))).toBe(true);
      const lastId = seen.at(-1)?.id;
      first.close();

      // Settled while the client was away; then it reconnects as EventSource does.
      for (const leadId of leadIds.slice(4, 7)) await settleLead(server, run.runId, leadId, { message: 'Hi' });
      const resumed = await open(eventsUrl(run.runId), { Authorization: `Bearer ${alice.token}`, 'Last-Event-ID': lastId! });
      const [again] = await take(resumed, 1);
      expect(again).toMatchObject({ event: 'summary', id: lastId });
      const missed = await leadsOf(resumed, 3);
      for (const leadId of leadIds.slice(7)) await settleLead(server, run.runId, leadId, { message: 'Hi' });
      const rest = await take(resumed, 100);
      const after = [...missed, ...rest.filter((event) => event.event === 'lead')];

      // Every event carries an id; the leads' ids only go up, across both connections.
      expect([...rest, ...missed].every((event) => event.id !== undefined)).toBe(true);
      const all = [...seen, ...after];
      expect(strictlyIncreasing(all.map((event) => event.id))).toBe(true);
      // No gap, no repeat: each of the ten leads exactly once.
      expect(all.map((event) => data(event).lead_id).sort()).toEqual([...leadIds].sort());
      expect(rest.at(-1)).toMatchObject({ event: 'end', id: all.at(-1)?.id });

      // The query parameter does the same for a client that cannot set headers; the header wins over it.
      const viaQuery = await open(`${eventsUrl(run.runId)}?lastEventId=${encodeURIComponent(lastId!)}`, { Authorization: `Bearer ${alice.token}` });
      const fromQuery = (await take(viaQuery, 100)).filter((event) => event.event === 'lead');
      expect(fromQuery.map((event) => event.id)).toEqual(after.map((event) => event.id));
      const both = await open(`${eventsUrl(run.runId)}?lastEventId=${PROGRESS_START}`, { Authorization: `Bearer ${alice.token}`, 'Last-Event-ID': after.at(-2)!.id! });
      expect((await take(both, 100)).filter((event) => event.event === 'lead').map((event) => event.id)).toEqual([after.at(-1)?.id]);
    });

    it('sends a new client the summary and the latest 50 of 500 settled leads, not all of them', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: csvOf(500) });
      await server.sql`update leads set status = 'failed', error = 'test', settled_at = clock_timestamp() where run_id = ${run.runId}`;
      await server.sql`
        update campaign_runs set status = 'failed', processed = 500, failed = 500, error_message = 'stopped by test', completed_at = now()
        where id = ${run.runId}`;

      const events = await take(await open(eventsUrl(run.runId), { Authorization: `Bearer ${alice.token}` }), 1_000);
      expect(events.map((event) => event.event)).toEqual(['summary', ...Array<string>(REPLAYED_LEADS).fill('lead'), 'end']);
      expect(data(events[0])).toMatchObject({ processed: 500, earlier_leads: true });
      const leads = events.filter((event) => event.event === 'lead');
      expect(strictlyIncreasing(leads.map((event) => event.id))).toBe(true);

      // The latest: nothing after the last one; and resuming at the summary's id gives exactly those 50.
      const resumed = await take(await open(eventsUrl(run.runId), { Authorization: `Bearer ${alice.token}`, 'Last-Event-ID': events[0]!.id! }), 1_000);
      expect(resumed.filter((event) => event.event === 'lead').map((event) => event.id)).toEqual(leads.map((event) => event.id));
      const after = await take(await open(eventsUrl(run.runId), { Authorization: `Bearer ${alice.token}`, 'Last-Event-ID': leads.at(-1)!.id! }), 1_000);
      expect(after.map((event) => event.event)).toEqual(['summary', 'end']);
    });

    it('answers 400, before any stream, for an event id it never sent', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const res = await fetch(eventsUrl(run.runId), { headers: { Authorization: `Bearer ${alice.token}`, 'Last-Event-ID': 'yesterday' } });
      expect((await expectProblem(res, 400)).detail).toMatch(/Last-Event-ID/);
    });

    it(`caps a user's open streams at ${DEFAULT_MAX_STREAMS_PER_USER}: one more is a 429 naming the limit, until one closes`, async () => {
      const carol = await testUser();
      const run = await seedRun(server, { userId: carol.id, csv: CSV });
      const mine: EventStream[] = [];
      for (let i = 0; i < DEFAULT_MAX_STREAMS_PER_USER; i += 1) {
        const stream = await open(eventsUrl(run.runId), { Authorization: `Bearer ${carol.token}` });
        expect(stream.response.status).toBe(200);
        mine.push(stream);
      }
      const over = await fetch(eventsUrl(run.runId), { headers: { Authorization: `Bearer ${carol.token}` } });
      const body = await expectProblem(over, 429);
      expect(body).toMatchObject({ limit: 'sse_streams_per_user', max: DEFAULT_MAX_STREAMS_PER_USER });
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      // Through the query-string token too; another user is not affected.
      await expectProblem(await fetch(`${eventsUrl(run.runId)}?access_token=${carol.token}`), 429);
      const otherRun = await seedRun(server, { userId: bob.id, csv: CSV });
      const bobs = await open(eventsUrl(otherRun.runId), { Authorization: `Bearer ${bob.token}` });
      expect(bobs.response.status).toBe(200);
      bobs.close();

      mine[0]!.close();
      let reopened: Response | undefined;
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
        const stream = await open(eventsUrl(run.runId), { Authorization: `Bearer ${carol.token}` });
        if (stream.response.status === 200) {
          reopened = stream.response;
          break;
        }
        stream.close();
        await sleep(100);
      }
      expect(reopened?.status).toBe(200);
      // A 400 or a 404 holds no slot once answered.
      for (const stream of mine) stream.close();
      await sleep(300);
      for (let i = 0; i <= DEFAULT_MAX_STREAMS_PER_USER; i += 1) {
        await expectProblem(await fetch(eventsUrl(run.runId), { headers: { Authorization: `Bearer ${carol.token}`, 'Last-Event-ID': 'x' } }), 400);
        await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/events/${randomUUID()}`, carol), 404);
      }
      const afterErrors = await open(eventsUrl(run.runId), { Authorization: `Bearer ${carol.token}` });
      expect(afterErrors.response.status).toBe(200);
    });
  });
});
