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
        cost_usd: 0,
        error_message: null,
        created_at: anIsoTimestamp,
        updated_at: anIsoTimestamp,
        completed_at: null,
        notices: [],
      });
    });

    it('tells why a run in progress waits: a provider paused for lack of credit, and no more once it resumes', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const board = await NatsPauseBoard.open(server.nc, { bucket: server.providerBucket, apis: PROVIDER_APIS, log: new RecordingLog() });
      try {
        await board.pause('research', { failure: 'out_of_credit', reason: 'provider out of credit' }, 60_000);
        const paused = await readJson<RunJson>(await apiGet(server.baseUrl, `/api/campaigns/status/${run.runId}`, alice));
        expect(paused.notices).toEqual(['research paused: provider out of credit']);

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
      expect(first?.event).toBe('status');
      expect(data(first)).toMatchObject({ run_id: run.runId, status: 'personalizing', processed: 1, personalized: 1 });

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
      expect(rest.at(-1)).toEqual({ event: 'end', data: JSON.stringify({ run_id: run.runId, status: 'completed' }) });
      expect(rest.findIndex((event) => event.event === 'end')).toBe(rest.length - 1);
      expect(await stream.next()).toBeNull();
    });

    it('replays a finished run at once: status, every lead, end', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      for (const [email, leadId] of run.leadIds) await settleLead(server, run.runId, leadId, { error: `no ${email}` });

      const events = await drain(await follow(run.runId, alice), 5_000);
      expect(events.map((event) => event.event)).toEqual(['status', 'lead', 'lead', 'lead', 'end']);
      expect(data(events[0])).toMatchObject({ status: 'failed' });
      expect(data(events[0]).error_message).toMatch(/No lead could be personalized/);
      expect(events.slice(1, 4).map((event) => data(event).lead_id).sort()).toEqual([...run.leadIds.values()].sort());
    });

    it('wakes on the run\'s notifications rather than waiting for its 2 s poll', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const stream = await follow(run.runId, alice);
      expect((await stream.next())?.event).toBe('status');
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
      expect((await stream.next())?.event).toBe('status');
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
      expect((await stream.next())?.event).toBe('status');
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
      expect((await stream.next())?.event).toBe('status');
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
});
