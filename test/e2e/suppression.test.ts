/**
 * Suppression end to end on the real NATS JetStream and PostgreSQL, through the real HTTP edge and
 * the sandbox over real HTTP (see system.ts): leads on the user's suppression list, and leads
 * personalized recently in another campaign, end `suppressed` with no provider call; runs count
 * them and complete. The tests share one system; each uses its own user.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeadResultBody } from '../../adapters/http/routes/campaign-results.ts';
import type { RunView } from '../../ports/campaign-queries.port.ts';
import { eventually } from '../support/nats.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

interface Submitted {
  run_id: string;
  campaign_id: string;
}

describe('suppression, end to end', () => {
  let system: E2ESystem;
  /** The research and writing requests the sandbox received, as the adapter sent them. */
  const bodies: { endpoint: string; text: string }[] = [];

  beforeAll(async () => {
    system = await startE2ESystem({
      interceptors: [
        ({ endpoint, body }) => {
          bodies.push({ endpoint, text: JSON.stringify(body) });
          return undefined;
        },
      ],
    });
  });
  afterAll(() => system?.close());

  /** Provider requests that name this company (the adapters send the company, never the email). */
  const callsFor = (company: string) => bodies.filter((request) => request.text.includes(company)).length;
  const totalCalls = () => ({ research: system.sandbox.stats.requests.responses, writing: system.sandbox.stats.requests.chatCompletions });

  async function suppress(user: TestUser, entries: string[]): Promise<void> {
    const res = await fetch(`${system.baseUrl}/api/suppressions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ entries }),
    });
    expect(res.status).toBe(201);
  }

  async function submit(user: TestUser, csv: string, fields: Record<string, string>): Promise<Submitted> {
    const res = await postProcess(system.baseUrl, { token: user.token, content: csv, fields });
    expect(res.status).toBe(202);
    return (await res.json()) as Submitted;
  }

  async function status(user: TestUser, runId: string): Promise<RunView> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user);
    expect(res.status).toBe(200);
    return (await res.json()) as RunView;
  }

  async function ended(user: TestUser, runId: string): Promise<RunView> {
    await eventually('the run to end', async () => ['completed', 'failed'].includes((await status(user, runId)).status), 15_000);
    await system.idle();
    return status(user, runId);
  }

  async function results(user: TestUser, campaignId: string, query = ''): Promise<LeadResultBody[]> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/results/${campaignId}?limit=500${query}`, user);
    expect(res.status).toBe(200);
    return ((await res.json()) as { leads: LeadResultBody[] }).leads;
  }

  async function metrics(user: TestUser): Promise<{ leads_personalized: number }> {
    const res = await apiGet(system.baseUrl, '/api/metrics', user);
    return (await res.json()) as { leads_personalized: number };
  }

  const file = (rows: readonly (readonly [email: string, company: string])[]) =>
    ['Email,First Name,Company,Title', ...rows.map(([email, company], index) => `${email},Lead${index},${company},Head of Sales`)].join('\r\n');

  let ann: TestUser;
  let first: Submitted;

  it('makes no provider call for leads on the list (by email, by domain): they end suppressed, and the run completes with the right counts', async () => {
    ann = await testUser();
    await suppress(ann, ['Blocked.Person@Example.com', 'https://www.blocked-domain.example/']);
    const before = totalCalls();

    first = await submit(
      ann,
      file([
        ['blocked.person@example.com', 'Suppressed By Email Co'],
        ['anyone@eu.blocked-domain.example', 'Suppressed By Domain Co'],
        ['cy@fine.example', 'Fine Company One'],
        ['di@fine.example', 'Fine Company Two'],
      ]),
      { campaign_name: 'Suppression e2e' },
    );
    const run = await ended(ann, first.run_id);

    expect(run).toMatchObject({ status: 'completed', valid: 4, suppressed: 2, processed: 2, personalized: 2, failed: 0, skipped: 0, error_message: null });
    expect(callsFor('Suppressed By Email Co')).toBe(0);
    expect(callsFor('Suppressed By Domain Co')).toBe(0);
    expect(callsFor('Fine Company One')).toBeGreaterThan(0);
    const after = totalCalls();
    expect(after.research - before.research).toBe(2);

    const suppressed = await results(ann, first.campaign_id, '&status=suppressed');
    const byEmail = (a: LeadResultBody, b: LeadResultBody) => (a.email < b.email ? -1 : 1);
    expect([...suppressed].sort(byEmail).map((lead) => [lead.email, lead.enrichment_status, lead.error, lead.attempts, lead.cost_usd, lead.research_summary, lead.personalized_message])).toEqual([
      ['anyone@eu.blocked-domain.example', 'suppressed', "Suppressed: the email's domain blocked-domain.example is on your suppression list.", 0, 0, null, null],
      ['blocked.person@example.com', 'suppressed', 'Suppressed: the email address is on your suppression list.', 0, 0, null, null],
    ]);
    expect((await results(ann, first.campaign_id, '&status=personalized')).map((lead) => lead.email).sort()).toEqual(['cy@fine.example', 'di@fine.example']);
    expect(await metrics(ann)).toMatchObject({ leads_personalized: 2 });

    // The export says why.
    const exported = await apiGet(system.baseUrl, `/api/campaigns/export/${first.campaign_id}`, ann);
    const rows = parse<Record<string, string>>(await exported.text(), { bom: true, columns: true });
    expect(rows.find((row) => row.Email === 'blocked.person@example.com')).toMatchObject({ enrichment_status: 'suppressed', error: 'Suppressed: the email address is on your suppression list.', personalized_message: '' });
  });

  it('completes a run of only suppressed leads, with a message, and no call at all', async () => {
    const before = totalCalls();
    const submitted = await submit(ann, file([['blocked.person@example.com', 'Suppressed Again Co'], ['x@blocked-domain.example', 'Suppressed Again Two']]), { campaign_name: 'Only suppressed' });
    const run = await ended(ann, submitted.run_id);
    expect(run).toMatchObject({ status: 'completed', valid: 2, suppressed: 2, processed: 0, error_message: "Nothing was processed: 2 leads are suppressed (each suppressed lead's error says why)." });
    expect(totalCalls()).toEqual(before);
  });

  it('skip_personalized_within_days suppresses leads personalized in another campaign of the user, and is kept for later runs', async () => {
    const before = totalCalls();
    const second = await submit(ann, file([['cy@fine.example', 'Fine Company One Again'], ['eve@new.example', 'New Company Eve']]), {
      campaign_name: 'Cross-campaign e2e',
      skip_personalized_within_days: '30',
    });
    const run = await ended(ann, second.run_id);
    expect(run).toMatchObject({ status: 'completed', valid: 2, suppressed: 1, personalized: 1 });
    expect(callsFor('Fine Company One Again')).toBe(0);
    expect(totalCalls().research - before.research).toBe(1);
    const [cy] = await results(ann, second.campaign_id, '&status=suppressed');
    expect(cy?.email).toBe('cy@fine.example');
    expect(cy?.error).toMatch(/^Suppressed: personalized in campaign "Suppression e2e" on \d{4}-\d{2}-\d{2} \(skip_personalized_within_days: within the last 30 days\)\.$/);

    // Another campaign without the option processes the same lead.
    const third = await submit(ann, file([['cy@fine.example', 'Fine Company One Third']]), { campaign_name: 'No skip e2e' });
    expect(await ended(ann, third.run_id)).toMatchObject({ status: 'completed', personalized: 1, suppressed: 0 });
    expect(callsFor('Fine Company One Third')).toBeGreaterThan(0);

    // The option is kept on its campaign: a later run of it skips the lead personalized elsewhere.
    const again = await submit(ann, file([['di@fine.example', 'Fine Company Two Again']]), { campaign_id: second.campaign_id });
    expect(await ended(ann, again.run_id)).toMatchObject({ status: 'completed', suppressed: 1, processed: 0 });
    expect(callsFor('Fine Company Two Again')).toBe(0);

    const refused = await postProcess(system.baseUrl, { token: ann.token, content: file([['z@z.example', 'Z']]), fields: { campaign_name: 'Bad option', skip_personalized_within_days: '5000' } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { detail: string }).detail).toBe('skip_personalized_within_days must be a whole number of days from 1 to 3650 (0 turns it off)');
  });

  it('an entry added while a run is in progress stops its leads not yet researched', async () => {
    const gus = await testUser();
    // The broker loses the leads' first events: they wait, stored and pending, until the reconciler re-drives them.
    system.publisher.drop((event) => event.type === 'lead.extracted');
    const submitted = await submit(gus, file([['late@late-blocked.example', 'Late Suppressed Co'], ['ok@fine-late.example', 'Late Fine Co']]), { campaign_name: 'Late entry' });
    await eventually('the leads to be stored', async () => (await status(gus, submitted.run_id)).status === 'personalizing');
    await system.idle();
    system.publisher.drop(() => false);

    await suppress(gus, ['late-blocked.example']);
    await system.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update campaign_runs set updated_at = now() - interval '10 minutes' where id = ${submitted.run_id}`;
      await tx`update leads set updated_at = now() - interval '10 minutes' where run_id = ${submitted.run_id}`;
    });
    expect(await system.reconciler.runOnce()).toMatchObject({ leads: 2 });

    const run = await ended(gus, submitted.run_id);
    expect(run).toMatchObject({ status: 'completed', valid: 2, suppressed: 1, personalized: 1, processed: 1 });
    expect(callsFor('Late Suppressed Co')).toBe(0);
    expect(callsFor('Late Fine Co')).toBeGreaterThan(0);
    const [late] = await results(gus, submitted.campaign_id, '&status=suppressed');
    expect(late).toMatchObject({ email: 'late@late-blocked.example', error: "Suppressed: the email's domain late-blocked.example is on your suppression list.", attempts: 0 });
  });

  it('a re-run of a lead suppressed since its first run makes no call for it, its stored research reused or not', async () => {
    const hal = await testUser();
    const submitted = await submit(hal, file([['hal@later-blocked.example', 'Later Blocked Co'], ['ok@fine-rerun.example', 'Rerun Fine Co']]), { campaign_name: 'Re-run after suppression' });
    expect(await ended(hal, submitted.run_id)).toMatchObject({ status: 'completed', personalized: 2 });
    await suppress(hal, ['hal@later-blocked.example']);
    const before = callsFor('Later Blocked Co');

    const res = await fetch(`${system.baseUrl}/api/campaigns/${submitted.campaign_id}/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${hal.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ statuses: ['personalized'] }),
    });
    expect(res.status).toBe(202);
    const { run_id: rerunId } = (await res.json()) as Submitted;
    expect(await ended(hal, rerunId)).toMatchObject({ status: 'completed', valid: 2, suppressed: 1, personalized: 1, processed: 1 });
    expect(callsFor('Later Blocked Co')).toBe(before);
    const [blocked] = await results(hal, submitted.campaign_id, '&status=suppressed');
    expect(blocked).toMatchObject({ email: 'hal@later-blocked.example', enrichment_status: 'suppressed', personalized_message: null });
  });
});
