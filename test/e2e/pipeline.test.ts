/**
 * The pipeline end to end on the real NATS JetStream and PostgreSQL, through the real HTTP edge
 * and the sandbox provider over real HTTP (see system.ts). The tests share one system and run in
 * order; each uses its own user, so KPIs are per test.
 */
import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../adapters/nats/event-codec.ts';
import { eventSubject } from '../../adapters/nats/subjects.ts';
import { isRewriteRequest } from '../../adapters/sandbox/answers.ts';
import type { DomainEvent } from '../../domain/campaigns/events.ts';
import type { LeadResultBody } from '../../adapters/http/routes/campaign-results.ts';
import type { RunView } from '../../ports/campaign-queries.port.ts';
import { FILE_GONE_MESSAGE } from '../../src/app/consumers/extraction.ts';
import { runFileKey } from '../../src/app/submit-campaign.ts';
import { eventually } from '../support/nats.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

/** Companies whose provider calls the sandbox fails: research always unavailable, writing always rejected. */
const RESEARCH_DOWN = 'Unreachable Research Co';
const WRITER_REJECTS = 'Rejected Writer Co';
/** Research answers 429 for this company's first request: the provider pushing back, not the lead failing. */
const RATE_LIMITED_ONCE = 'Busy Provider Co';

interface Submitted {
  run_id: string;
  campaign_id: string;
  status_url: string;
  events_url: string;
  results_url: string;
}

interface SseEvent {
  event: string;
  data: unknown;
}

/** A file of `valid` leads of one domain, plus a duplicate of the first and a row without email. */
function leadFile(domain: string, companies: readonly string[]): string {
  const rows = companies.map((company, index) => `lead${index}@${domain},Lead${index},${company},Head of Sales`);
  return [
    'Email,First Name,Company,Title',
    ...rows,
    `LEAD0@${domain},Again,${companies[0] ?? ''},Duplicate`,
    `,Nobody,No Email Inc,Intern`,
  ].join('\r\n');
}

describe('the campaign pipeline, end to end', () => {
  let system: E2ESystem;
  /** Writer requests carrying the quality gates' feedback: the sandbox fails some first drafts on purpose. */
  let rewrites = 0;
  let rateLimited = false;

  beforeAll(async () => {
    system = await startE2ESystem({
      interceptors: [
        ({ endpoint, body }) => {
          if (endpoint === 'chatCompletions' && isRewriteRequest(body)) rewrites += 1;
          return undefined;
        },
        ({ endpoint, body }) =>
          endpoint === 'responses' && JSON.stringify(body).includes(RESEARCH_DOWN)
            ? { status: 503, body: { error: { message: 'sandbox: down for this lead', type: 'server_error' } } }
            : undefined,
        ({ endpoint, body }) => {
          if (endpoint !== 'responses' || rateLimited || !JSON.stringify(body).includes(RATE_LIMITED_ONCE)) return undefined;
          rateLimited = true;
          return { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'sandbox: slow down', type: 'rate_limit_exceeded' } } };
        },
        ({ endpoint, body }) =>
          endpoint === 'chatCompletions' && JSON.stringify(body).includes(WRITER_REJECTS)
            ? { status: 400, body: { error: { message: 'sandbox: refused for this lead', type: 'invalid_request_error' } } }
            : undefined,
      ],
    });
  });
  afterAll(() => system?.close());

  async function submit(user: TestUser, csv: string, fields: Record<string, string>): Promise<Submitted> {
    const res = await postProcess(system.baseUrl, { token: user.token, content: csv, fields });
    expect(res.status).toBe(202);
    return (await res.json()) as Submitted;
  }

  /** Follows the run's event stream until `end`, as a browser would. */
  async function follow(user: TestUser, runId: string): Promise<SseEvent[]> {
    const res = await fetch(`${system.baseUrl}/api/campaigns/events/${runId}`, {
      headers: { Authorization: `Bearer ${user.token}` },
      signal: AbortSignal.timeout(15_000),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: SseEvent[] = [];
    let buffered = '';
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
      }
    }
    return events;
  }

  async function status(user: TestUser, runId: string): Promise<RunView> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/status/${runId}`, user);
    expect(res.status).toBe(200);
    return (await res.json()) as RunView;
  }

  async function results(user: TestUser, campaignId: string): Promise<LeadResultBody[]> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/results/${campaignId}?limit=500`, user);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { leads: LeadResultBody[]; next_cursor: string | null };
    expect(page.next_cursor).toBeNull();
    return page.leads;
  }

  async function metrics(user: TestUser): Promise<{ leads_personalized: number; hours_saved: number; money_saved: number }> {
    const res = await apiGet(system.baseUrl, '/api/metrics', user);
    expect(res.status).toBe(200);
    return (await res.json()) as { leads_personalized: number; hours_saved: number; money_saved: number };
  }

  /** Provider calls so far, per endpoint, and how many of the writing calls were rewrites. */
  function calls(): { research: number; writing: number; rewrites: number } {
    const { responses, chatCompletions } = system.sandbox.stats.requests;
    return { research: responses, writing: chatCompletions, rewrites };
  }

  /** Moves a run's (and its leads') last sign of progress back past the reconciler's lease. */
  async function backdate(runId: string): Promise<void> {
    await system.sql.begin(async (tx) => {
      // The updated_at trigger would put the clock back to now(): off for this transaction only.
      await tx`set local session_replication_role = replica`;
      await tx`update campaign_runs set updated_at = now() - interval '10 minutes' where id = ${runId}`;
      await tx`update leads set updated_at = now() - interval '10 minutes' where run_id = ${runId}`;
    });
  }

  async function runRow(runId: string): Promise<{ status: string }> {
    const [row] = await system.sql<{ status: string }[]>`select status from campaign_runs where id = ${runId}`;
    if (row === undefined) throw new Error(`no run ${runId}`);
    return row;
  }

  // ── (a) the happy path, (b) replay, (c) re-run and (d) tracing share one campaign ─────────────

  const alice = { user: undefined as unknown as TestUser, csv: '', submitted: undefined as unknown as Submitted, leads: [] as LeadResultBody[] };
  const COMPANIES = ['Northwind Traders', 'Contoso Ltd', 'Fabrikam Inc', 'Tailspin Toys'];

  it('(a) personalizes every valid lead exactly once and accounts for duplicates, rejected rows and KPIs', async () => {
    alice.user = await testUser();
    alice.csv = leadFile('alice.example', COMPANIES);
    const before = calls();

    alice.submitted = await submit(alice.user, alice.csv, { campaign_name: 'Spring outreach' });
    const events = await follow(alice.user, alice.submitted.run_id);

    expect(events[0]?.event).toBe('summary');
    expect(events.at(-1)).toEqual({ event: 'end', data: { run_id: alice.submitted.run_id, status: 'completed' } });
    const leadEvents = events.filter((event) => event.event === 'lead').map((event) => event.data as { lead_id: string; status: string; message: string });
    expect(leadEvents).toHaveLength(COMPANIES.length);
    expect(new Set(leadEvents.map((lead) => lead.lead_id)).size).toBe(COMPANIES.length);
    expect(leadEvents.every((lead) => lead.status === 'personalized' && lead.message.length > 0)).toBe(true);

    expect(await status(alice.user, alice.submitted.run_id)).toMatchObject({
      status: 'completed',
      total_rows: COMPANIES.length + 2,
      valid: COMPANIES.length,
      duplicates: 1,
      rejected_rows: 1,
      skipped: 0,
      processed: COMPANIES.length,
      personalized: COMPANIES.length,
      failed: 0,
      error_message: null,
    });

    alice.leads = await results(alice.user, alice.submitted.campaign_id);
    expect(alice.leads.map((lead) => lead.email).sort()).toEqual(COMPANIES.map((_, index) => `lead${index}@alice.example`));
    for (const lead of alice.leads) {
      expect(lead).toMatchObject({ enrichment_status: 'personalized', run_id: alice.submitted.run_id, error: null, model: 'sandbox/writer-1', attempts: 2 });
      expect(lead).not.toHaveProperty('message');
      expect(lead.personalized_message).toBeTruthy();
      expect(lead.message_basis).toBeTruthy();
      expect(lead.research_summary).toMatch(/^\[sandbox research\]/);
      expect(lead.sources.length).toBeGreaterThan(0);
      expect(lead.sources.every((url) => url.startsWith('http'))).toBe(true);
    }
    // One research call per valid lead, and one writing call plus a rewrite for each first draft the
    // quality gates refused (at most one a lead): no more, no fewer.
    const after = calls();
    const rewritten = after.rewrites - before.rewrites;
    expect(rewritten).toBeLessThanOrEqual(COMPANIES.length);
    expect(after).toEqual({ research: before.research + COMPANIES.length, writing: before.writing + COMPANIES.length + rewritten, rewrites: after.rewrites });

    const exported = await apiGet(system.baseUrl, `/api/campaigns/export/${alice.submitted.campaign_id}`, alice.user);
    expect(exported.status).toBe(200);
    const csv = await exported.text();
    const rows = parse<Record<string, string>>(csv, { bom: true, columns: true });
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'Email',
      'First Name',
      'Company',
      'Title',
      'personalized_message',
      'enrichment_status',
      'error',
      'unsupported_specifics',
      'research_summary',
      'sources',
      'message_basis',
      'model',
      'research_model',
      'cost_usd',
    ]);
    // A row for every row of the file, in file order: each lead as the results show it, then the
    // duplicate and the rejected row with their reasons.
    expect(rows.map((row) => [row.Email, row.enrichment_status, row.error])).toEqual([
      ...alice.leads.map((lead) => [lead.email, 'personalized', '']),
      ['LEAD0@alice.example', 'duplicate', 'row 6: same email as row 2'],
      ['', 'rejected', 'row 7: email is empty'],
    ]);
    expect(rows[5]).toMatchObject({ 'First Name': 'Nobody', Company: 'No Email Inc', Title: 'Intern', personalized_message: '', cost_usd: '0.000000' });
    alice.leads.forEach((lead, index) =>
      expect(rows[index]).toMatchObject({
        personalized_message: lead.personalized_message,
        enrichment_status: 'personalized',
        research_summary: lead.research_summary,
        sources: lead.sources.join(' '),
        message_basis: lead.message_basis,
        model: lead.model,
        research_model: lead.research_model,
        cost_usd: lead.cost_usd.toFixed(6),
      }),
    );

    expect(await metrics(alice.user)).toMatchObject({ leads_personalized: COMPANIES.length, hours_saved: 0.08, money_saved: 0.16 });
  });

  it('(b) a replay of every lead event, under new message ids, changes nothing and calls no provider', async () => {
    const { run_id: runId, campaign_id: campaignId } = alice.submitted;
    const before = { status: await status(alice.user, runId), metrics: await metrics(alice.user), calls: calls() };
    const js = jetstream(system.nc);
    const replayed: DomainEvent[] = alice.leads.flatMap((lead) =>
      (['lead.extracted', 'lead.researched', 'lead.personalized'] as const).map((type) => ({ type, run_id: runId, lead_id: lead.id })),
    );
    replayed.push({ type: 'campaign.submitted', run_id: runId, campaign_id: campaignId, user_id: alice.user.id });
    for (const event of replayed) {
      // A fresh msgID: the broker's de-duplication cannot help; the handlers must.
      const ack = await js.publish(eventSubject(event.type, system.names.prefix), encode(event), { msgID: randomUUID() });
      expect(ack.duplicate).toBe(false);
    }
    await system.idle();

    expect(await status(alice.user, runId)).toEqual(before.status);
    expect(await metrics(alice.user)).toEqual(before.metrics);
    expect(await results(alice.user, campaignId)).toEqual(alice.leads);
    expect(calls()).toEqual(before.calls);
  });

  it('(c) a re-run of the same file into the same campaign skips every lead and calls no provider', async () => {
    const before = { metrics: await metrics(alice.user), calls: calls() };
    const rerun = await submit(alice.user, alice.csv, { campaign_id: alice.submitted.campaign_id });
    expect(rerun.campaign_id).toBe(alice.submitted.campaign_id);
    const events = await follow(alice.user, rerun.run_id);

    expect(events.at(-1)).toEqual({ event: 'end', data: { run_id: rerun.run_id, status: 'completed' } });
    expect(events.filter((event) => event.event === 'lead')).toEqual([]);
    expect(await status(alice.user, rerun.run_id)).toMatchObject({
      status: 'completed',
      valid: COMPANIES.length,
      skipped: COMPANIES.length,
      processed: 0,
      personalized: 0,
      failed: 0,
    });
    expect(calls()).toEqual(before.calls);
    expect(await metrics(alice.user)).toEqual(before.metrics);
    // The leads keep their first run's line.
    expect(await results(alice.user, alice.submitted.campaign_id)).toEqual(alice.leads);
  });

  it('(d) one lead has one trace across extraction, research, personalization and projection', () => {
    const lead = alice.leads[0]!;
    const spans = system.telemetry.exporter.getFinishedSpans();
    const [root] = spans.filter((span) => span.name === 'lead' && span.attributes.lead_id === lead.id);
    expect(root).toBeDefined();
    const traceId = root!.spanContext().traceId;

    const consumerSpans = spans.filter((span) => span.attributes['aga.lead_id'] === lead.id && span.attributes['messaging.operation.type'] === 'process');
    // (b) replayed this lead's events outside any trace, so keep the first delivery of each consumer.
    const firstDeliveries = consumerSpans.filter((span) => span.attributes['messaging.message.delivery_count'] === 1 && span.spanContext().traceId === traceId);
    expect(new Set(firstDeliveries.map((span) => span.attributes['messaging.consumer.group.name']))).toEqual(
      new Set(['research', 'personalization', 'projection-lead-personalized']),
    );

    // The lead's trace starts in the extraction consumer and links back to the submission's trace.
    const extraction = spans.find(
      (span) => span.attributes['messaging.consumer.group.name'] === 'extraction' && span.attributes['aga.run_id'] === alice.submitted.run_id,
    );
    expect(extraction).toBeDefined();
    expect(root!.links.map((link) => link.context.traceId)).toEqual([extraction!.spanContext().traceId]);
    // Provider calls are child spans within the lead's trace.
    const inTrace = spans.filter((span) => span.spanContext().traceId === traceId);
    expect(inTrace.length).toBeGreaterThan(firstDeliveries.length + 1);

    // Every log line a consumer wrote about this lead names its trace, run and lead.
    const lines = system.log.entries.filter((entry) => entry.fields.lead_id === lead.id && entry.fields.consumer !== undefined);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line.fields.run_id).toBe(alice.submitted.run_id);
      expect(line.fields.trace_id).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(lines.some((line) => line.fields.trace_id === traceId)).toBe(true);
  });

  it('(e) a lead whose provider keeps failing is failed with the reason; the others are personalized', async () => {
    const bob = await testUser();
    const companies = ['Good One', RESEARCH_DOWN, 'Good Two', WRITER_REJECTS, RATE_LIMITED_ONCE];
    const before = calls();
    const submitted = await submit(bob, leadFile('bob.example', companies), { campaign_name: 'Hard leads' });
    const events = await follow(bob, submitted.run_id);

    expect(events.at(-1)).toEqual({ event: 'end', data: { run_id: submitted.run_id, status: 'completed' } });
    expect(await status(bob, submitted.run_id)).toMatchObject({ status: 'completed', valid: 5, processed: 5, personalized: 3, failed: 2 });
    const leads = await results(bob, submitted.campaign_id);
    const byCompany = new Map(leads.map((lead) => [lead.company, lead]));
    // Unavailable is retried up to the consumer's maxDeliver (3 here); rejected fails at once.
    expect(byCompany.get(RESEARCH_DOWN)).toMatchObject({ enrichment_status: 'failed', personalized_message: null, attempts: 3 });
    expect(byCompany.get(RESEARCH_DOWN)!.error).toMatch(/^research failed after 3 attempts: .*503/);
    expect(byCompany.get(WRITER_REJECTS)).toMatchObject({ enrichment_status: 'failed', personalized_message: null });
    expect(byCompany.get(WRITER_REJECTS)!.error).toMatch(/^personalization failed after 1 attempt: .*400/);
    // One attempt for each stage: a 429 is the provider's pushback, and is not counted against the lead.
    for (const company of ['Good One', 'Good Two', RATE_LIMITED_ONCE]) {
      expect(byCompany.get(company)).toMatchObject({ enrichment_status: 'personalized', error: null, attempts: 2 });
    }
    expect(rateLimited).toBe(true);
    const after = calls();
    expect(after.rewrites - before.rewrites).toBeLessThanOrEqual(2);
    // Research: three deliveries of the failing lead, one call for each other lead, and the 429.
    expect(after).toEqual({ research: before.research + 3 + 4 + 1, writing: before.writing + 4 + after.rewrites - before.rewrites, rewrites: after.rewrites });
    expect(await metrics(bob)).toMatchObject({ leads_personalized: 3 });
  });

  it("(e) a LinkedIn connections export: its preamble skipped, every row back in the export in file order", async () => {
    const erin = await testUser();
    const { readFile } = await import('node:fs/promises');
    const file = await readFile(new URL('../fixtures/csv/linkedin-connections.csv', import.meta.url));
    const res = await postProcess(system.baseUrl, { token: erin.token, content: new Uint8Array(file), fileName: 'Connections.csv', fields: { campaign_name: 'LinkedIn Q4' } });
    expect(res.status).toBe(202);
    const submitted = (await res.json()) as Submitted;
    const events = await follow(erin, submitted.run_id);
    expect(events.at(-1)).toEqual({ event: 'end', data: { run_id: submitted.run_id, status: 'completed' } });
    expect(await status(erin, submitted.run_id)).toMatchObject({ total_rows: 6, valid: 3, rejected_rows: 3, personalized: 3 });

    const leads = await results(erin, submitted.campaign_id);
    expect(leads.map((lead) => [lead.row, lead.email, lead.enrichment_status])).toEqual([
      [5, 'nadia@brightwave.example', 'personalized'],
      [7, 'priya.raman@lotusleaf.example', 'personalized'],
      [10, 'elena.garcia@ribera.example', 'personalized'],
    ]);
    const report = await apiGet(system.baseUrl, `/api/campaigns/runs/${submitted.run_id}/report`, erin);
    expect(((await report.json()) as { rejected: { row: number }[] }).rejected.map((rejected) => rejected.row)).toEqual([6, 8, 9]);

    const exported = await apiGet(system.baseUrl, `/api/campaigns/export/${submitted.campaign_id}?for=lemlist`, erin);
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-disposition')).toMatch(/^attachment; filename="linkedin-q4-\d{4}-\d{2}-\d{2}-lemlist\.csv"; filename\*=UTF-8''linkedin-q4-\d{4}-\d{2}-\d{2}-lemlist\.csv$/);
    const rows = parse<Record<string, string>>(await exported.text(), { bom: true, columns: true });
    expect(rows.map((row) => [row['First Name'], row.enrichment_status, row.error])).toEqual([
      ['Nadia', 'personalized', ''],
      ['Tomasz', 'rejected', 'row 6: email is empty'],
      ['Priya', 'personalized', ''],
      ['Lucas', 'rejected', 'row 8: company is empty'],
      ['Hana', 'rejected', 'row 9: email is empty'],
      ['Elena', 'personalized', ''],
    ]);
    expect(rows[1]).toMatchObject({ 'Last Name': 'Wiśniewski', Company: 'Vistula Robotics', Position: 'CTO', 'Connected On': '02 Feb 2025', icebreaker: '' });
    expect(rows.filter((row) => row.enrichment_status === 'personalized').map((row) => row.icebreaker)).toEqual(leads.map((lead) => lead.personalized_message));
  });

  // ── (f) the reconciler ──────────────────────────────────────────────────────────────────────

  it('(f) the reconciler re-drives a run whose events were lost, until it completes', async () => {
    const carol = await testUser();
    const companies = ['Lost Alpha', 'Lost Beta', 'Lost Gamma'];
    // The broker loses the submission, then every lead's first event.
    system.publisher.drop((event) => event.type === 'campaign.submitted' || event.type === 'lead.extracted');
    const submitted = await submit(carol, leadFile('carol.example', companies), { campaign_name: 'Lost and found' });
    const runId = submitted.run_id;
    await system.idle();
    expect(system.publisher.dropped).toContainEqual(expect.objectContaining({ type: 'campaign.submitted', run_id: runId }));
    expect(await runRow(runId)).toEqual({ status: 'queued' });

    // Inside the lease nothing is stuck yet.
    expect(await system.reconciler.runOnce()).toEqual({ runs: 0, leads: 0, completed: 0, brokerReset: false });

    // The broker keeps losing the leads' first events, not the re-driven submission.
    system.publisher.drop((event) => event.type === 'lead.extracted');
    await backdate(runId);
    expect(await system.reconciler.runOnce()).toEqual({ runs: 1, leads: 0, completed: 0, brokerReset: false });
    await eventually('extraction of the re-driven run', async () => (await runRow(runId)).status === 'personalizing');
    await system.idle();
    const lost = system.publisher.dropped.filter((event) => event.type === 'lead.extracted' && event.run_id === runId);
    expect(lost).toHaveLength(companies.length);
    const [pending] = await system.sql<{ count: number }[]>`select count(*)::int as count from leads where run_id = ${runId} and status = 'pending'`;
    expect(pending?.count).toBe(companies.length);

    system.publisher.drop(() => false);
    await backdate(runId);
    expect(await system.reconciler.runOnce()).toEqual({ runs: 0, leads: companies.length, completed: 0, brokerReset: false });
    await eventually('the re-driven run to complete', async () => (await runRow(runId)).status === 'completed', 10_000);
    await system.idle();

    expect(await status(carol, runId)).toMatchObject({ status: 'completed', valid: 3, processed: 3, personalized: 3, failed: 0 });
    expect(await metrics(carol)).toMatchObject({ leads_personalized: 3 });
    expect(await system.reconciler.runOnce()).toEqual({ runs: 0, leads: 0, completed: 0, brokerReset: false });
  });

  it('(f) the reconciler re-drives runs whose file turns out gone or unreadable: they fail with the reason', async () => {
    const dave = await testUser();
    system.publisher.drop((event) => event.type === 'campaign.submitted');
    const submitted = await submit(dave, leadFile('dave.example', ['Gone Corp']), { campaign_name: 'No file' });
    await system.idle();
    system.publisher.drop(() => false);
    await system.files.delete(runFileKey(submitted.run_id));

    await backdate(submitted.run_id);
    expect(await system.reconciler.runOnce()).toEqual({ runs: 1, leads: 0, completed: 0, brokerReset: false });
    await eventually('the run without a file to fail', async () => (await runRow(submitted.run_id)).status === 'failed');
    expect(await status(dave, submitted.run_id)).toMatchObject({ status: 'failed', error_message: FILE_GONE_MESSAGE, valid: 0 });

    // A whole-file problem found only at extraction (here: the stored bytes are not a CSV any more).
    system.publisher.drop((event) => event.type === 'campaign.submitted');
    const garbled = await submit(dave, leadFile('dave.example', ['Garbled Corp']), { campaign_name: 'Garbled' });
    await system.idle();
    system.publisher.drop(() => false);
    const binary = new Uint8Array(4096).map((_, index) => (index * 7) % 256);
    await system.files.put(runFileKey(garbled.run_id), ReadableStream.from([binary]), { fileName: 'leads.csv' });
    await backdate(garbled.run_id);
    expect(await system.reconciler.runOnce()).toEqual({ runs: 1, leads: 0, completed: 0, brokerReset: false });
    await eventually('the run with an unreadable file to fail', async () => (await runRow(garbled.run_id)).status === 'failed');
    const failed = await status(dave, garbled.run_id);
    expect(failed.error_message).toMatch(/^The file holds binary data, not CSV text\./);
  });

  it('(f) the reconciler ends a settled run whose completion was lost', async () => {
    // Every lead counted, but the completion never happened (a crash between the two).
    const erin = await testUser();
    const done = await submit(erin, leadFile('erin.example', ['Settled Co']), { campaign_name: 'Almost done' });
    await follow(erin, done.run_id);
    await system.sql`update campaign_runs set status = 'personalizing', completed_at = null where id = ${done.run_id}`;
    expect(await system.reconciler.runOnce()).toEqual({ runs: 0, leads: 0, completed: 1, brokerReset: false });
    expect(await status(erin, done.run_id)).toMatchObject({ status: 'completed', personalized: 1 });
  });
});
