/**
 * `POST /api/campaigns/runs/:runId/cancel`, `/pause` and `/resume` over HTTP on the real edge and
 * PostgreSQL (no consumer runs: the tests seed and settle leads through the store as the pipeline
 * would): the answers (200 with the status, 409 for an action that makes no sense, 404 for another
 * user's run), what the status, the live stream and the results then say, and what a resume
 * commits to the outbox. The calls a cancel stops are counted end to end in
 * test/e2e/run-control.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_CANCELLED_REASON } from '../../domain/campaigns/run.ts';
import { pausedNotice } from '../../adapters/http/routes/run-progress.ts';
import { FileNotFoundError } from '../../ports/lead-file-store.port.ts';
import { runFileKey } from '../../src/app/submit-campaign.ts';
import { apiGet, openEventStream, postProcess, seedRun, settleLead, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

const CSV = ['email,company', 'ann@example.com,Acme', 'bob@example.com,Beta', 'cid@example.com,Gamma'].join('\n');

interface StatusJson {
  run_id: string;
  status: string;
  valid: number;
  processed: number;
  personalized: number;
  failed: number;
  cancelled: number;
  completed_at: string | null;
  cancelled_at: string | null;
  paused_at: string | null;
  notices: { code: string; api: string | null; message: string }[];
}

const anIsoTimestamp: unknown = expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);

describe('run control', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  function post(runId: string, action: string, user: TestUser | null = alice): Promise<Response> {
    return fetch(`${server.baseUrl}/api/campaigns/runs/${runId}/${action}`, {
      method: 'POST',
      headers: user === null ? {} : { Authorization: `Bearer ${user.token}` },
    });
  }

  async function status(runId: string): Promise<StatusJson> {
    return readJson<StatusJson>(await apiGet(server.baseUrl, `/api/campaigns/status/${runId}`, alice));
  }

  describe('POST /runs/:runId/cancel', () => {
    it('answers 200 with the cancelled run: its unsettled leads cancelled and counted, nothing in flight so it has ended; again, 200 and the same', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });

      const res = await post(run.runId, 'cancel');
      expect(res.status).toBe(200);
      const body = await readJson<StatusJson>(res);
      expect(body).toMatchObject({
        run_id: run.runId,
        status: 'cancelled',
        valid: 3,
        processed: 1,
        personalized: 1,
        cancelled: 2,
        cancelled_at: anIsoTimestamp,
        completed_at: anIsoTimestamp,
        paused_at: null,
        notices: [],
      });
      expect(body.processed + body.cancelled).toBe(body.valid);
      expect(await status(run.runId)).toEqual(body);

      const again = await post(run.runId, 'cancel');
      expect(again.status).toBe(200);
      expect(await readJson(again)).toEqual(body);

      // The results list the cancelled leads, filtered by their status, with why.
      const results = await readJson<{ leads: { email: string; enrichment_status: string; error: string | null; cost_usd: number }[] }>(
        await apiGet(server.baseUrl, `/api/campaigns/results/${run.campaignId}?status=cancelled`, alice),
      );
      expect(results.leads.map((lead) => [lead.email, lead.enrichment_status, lead.error, lead.cost_usd]).sort()).toEqual([
        ['bob@example.com', 'cancelled', RUN_CANCELLED_REASON, 0],
        ['cid@example.com', 'cancelled', RUN_CANCELLED_REASON, 0],
      ]);
      // Not KPIs: only the personalized lead counts.
      expect(await readJson(await apiGet(server.baseUrl, '/api/metrics', alice))).toMatchObject({ leads_personalized: 1 });
    });

    it("ends the run's live stream with status cancelled, after its cancelled leads", async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      const stream = await openEventStream(`${server.baseUrl}/api/campaigns/events/${run.runId}`, { Authorization: `Bearer ${alice.token}` });
      try {
        expect((await stream.next())?.event).toBe('summary');
        expect((await post(run.runId, 'cancel')).status).toBe(200);
        const events = [];
        for (let event = await stream.next(); event !== null; event = await stream.next()) events.push(event);
        const leads = events.filter((event) => event.event === 'lead').map((event) => JSON.parse(event.data) as { status: string; error: string });
        expect(leads).toHaveLength(3);
        expect(leads.every((lead) => lead.status === 'cancelled' && lead.error === RUN_CANCELLED_REASON)).toBe(true);
        expect(events.at(-1)).toMatchObject({ event: 'end', data: JSON.stringify({ run_id: run.runId, status: 'cancelled' }) });
      } finally {
        stream.close();
      }
    });

    it('is a 409 for a run that has ended, naming its status', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: 'email,company\nann@example.com,Acme' });
      await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });
      expect((await status(run.runId)).status).toBe('completed');
      for (const action of ['cancel', 'pause']) {
        const problem = await expectProblem(await post(run.runId, action), 409);
        expect(problem).toMatchObject({ run_status: 'completed', detail: expect.stringContaining('The run has ended (completed)') as unknown });
      }
      expect((await status(run.runId)).status).toBe('completed');
    });

    it("is a 404 for another user's run, an unknown or malformed id; a 401 without a token; and changes nothing", async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      for (const action of ['cancel', 'pause', 'resume']) {
        expect((await expectProblem(await post(run.runId, action, bob), 404)).detail).toBe('No run with this id.');
        await expectProblem(await post(randomUUID(), action), 404);
        await expectProblem(await post('not-a-run', action), 404);
        expect((await post(run.runId, action, null)).status).toBe(401);
      }
      expect(await status(run.runId)).toMatchObject({ status: 'personalizing', cancelled: 0, paused_at: null });
    });

    it('deletes the uploaded file of a run cancelled before it was read, and says there is no import report', async () => {
      const submitted = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: `Queued ${randomUUID()}` } });
      expect(submitted.status).toBe(202);
      const { run_id: runId } = await readJson<{ run_id: string }>(submitted);
      await expect(server.files.get(runFileKey(runId))).resolves.toBeDefined();

      expect(await readJson(await post(runId, 'cancel'))).toMatchObject({ status: 'cancelled', valid: 0, cancelled: 0, completed_at: anIsoTimestamp });
      await expect(server.files.get(runFileKey(runId))).rejects.toBeInstanceOf(FileNotFoundError);
      const report = await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/runs/${runId}/report`, alice), 404);
      expect(report.detail).toBe('This run has no import report: it was cancelled before its file was read to the end.');
    });
  });

  describe('POST /runs/:runId/pause and /resume', () => {
    it('pauses (200, paused, with a notice; again 200), refuses to resume what is not paused (409), resumes (200) and commits each unsettled lead again under ids of its own', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      await settleLead(server, run.runId, run.leadIds.get('ann@example.com')!, { message: 'Hi Ann' });
      const bobLead = run.leadIds.get('bob@example.com')!;
      await server.store.saveResearch(bobLead, run.runId, { text: 'Research.', citations: [], model: 'test-model' });

      const resumeRunning = await expectProblem(await post(run.runId, 'resume'), 409);
      expect(resumeRunning).toMatchObject({ run_status: 'personalizing', detail: 'The run is not paused (it is personalizing): only a paused run can be resumed.' });

      const paused = await post(run.runId, 'pause');
      expect(paused.status).toBe(200);
      const body = await readJson<StatusJson>(paused);
      expect(body).toMatchObject({ status: 'paused', paused_at: anIsoTimestamp, completed_at: null, notices: [pausedNotice(run.runId)] });
      expect((await post(run.runId, 'pause')).status).toBe(200);
      expect(await status(run.runId)).toMatchObject({ status: 'paused', paused_at: body.paused_at });

      const before = await server.sql<{ id: string }[]>`select id::text from outbox where run_id = ${run.runId}`;
      const resumed = await post(run.runId, 'resume');
      expect(resumed.status).toBe(200);
      expect(await readJson(resumed)).toMatchObject({ status: 'personalizing', paused_at: null, notices: [] });
      const redriven = await server.sql<{ event_type: string; msg_id: string; payload: { lead_id: string } }[]>`
        select event_type, msg_id, payload from outbox where run_id = ${run.runId} and not (id::text = any(${before.map((row) => row.id)}::text[])) order by id`;
      const cid = run.leadIds.get('cid@example.com')!;
      expect(redriven.map((row) => [row.event_type, row.payload.lead_id]).sort()).toEqual([
        ['lead.extracted', cid],
        ['lead.researched', bobLead],
      ]);
      for (const row of redriven) expect(row.msg_id).toMatch(new RegExp(`^${row.event_type}:${run.runId}:${row.payload.lead_id}@resume-[0-9a-f-]{36}$`));

      await expectProblem(await post(run.runId, 'resume'), 409);
    });

    it('a resumed run whose leads all settled while it was paused ends at once', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: 'email,company\nann@example.com,Acme' });
      const ann = run.leadIds.get('ann@example.com')!;
      await post(run.runId, 'pause');
      // The call in flight at the pause lands: saved and counted, but a paused run does not end.
      await settleLead(server, run.runId, ann, { message: 'Hi Ann' });
      expect(await status(run.runId)).toMatchObject({ status: 'paused', personalized: 1, completed_at: null });

      expect(await readJson(await post(run.runId, 'resume'))).toMatchObject({ status: 'completed', personalized: 1, completed_at: anIsoTimestamp });
    });

    it('a paused run can be cancelled; a cancelled one can be neither paused nor resumed', async () => {
      const run = await seedRun(server, { userId: alice.id, csv: CSV });
      await post(run.runId, 'pause');
      expect(await readJson(await post(run.runId, 'cancel'))).toMatchObject({ status: 'cancelled', cancelled: 3, paused_at: null, completed_at: anIsoTimestamp });
      expect(await expectProblem(await post(run.runId, 'pause'), 409)).toMatchObject({ run_status: 'cancelled' });
      expect(await expectProblem(await post(run.runId, 'resume'), 409)).toMatchObject({ run_status: 'cancelled' });
    });

    it('while a paused run\'s file is still being read, its import report is not ready yet (409)', async () => {
      const { runId } = await server.store.createRun({ userId: alice.id, campaignName: `Paused ${randomUUID()}`, demo: false, fileName: 'leads.csv' });
      expect(await readJson(await post(runId, 'pause'))).toMatchObject({ status: 'paused' });
      await expectProblem(await apiGet(server.baseUrl, `/api/campaigns/runs/${runId}/report`, alice), 409);
    });
  });
});
