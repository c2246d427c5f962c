/**
 * The quality gates end to end (real HTTP edge, JetStream, PostgreSQL, sandbox provider over real
 * HTTP): a draft that breaks a rule is written once more with the reasons; a lead whose rewrite
 * breaks a rule too ends `needs_review` with its draft and reasons, outside the KPIs, and is
 * exported with that status. The sandbox's company-name markers force both paths. Then a run
 * against a writer that invents a specific in every line (the sandbox's fabricate rate at 1)
 * ships none of them: each lead ends `needs_review`, its reasons and `unsupported_specifics`
 * naming what was made up, in the results and the export, and never in the logs or the traces.
 */
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../adapters/nats/event-codec.ts';
import { eventSubject } from '../../adapters/nats/subjects.ts';
import { REWRITE_HEADING } from '../../adapters/providers/prompts.ts';
import { INVENTIONS, isRewriteRequest, NEEDS_REVIEW_MARKER, REDRAFT_MARKER } from '../../adapters/sandbox/answers.ts';
import { faultInterceptors } from '../../adapters/sandbox/faults.ts';
import { DEFAULT_BANNED_PHRASES } from '../../domain/personalization/banned-phrases.ts';
import { checkDraft } from '../../domain/personalization/quality-gates.ts';
import type { LeadResultBody } from '../../adapters/http/routes/campaign-results.ts';
import type { RunView } from '../../ports/campaign-queries.port.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { eventually } from '../support/nats.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

const REVIEWED = `${NEEDS_REVIEW_MARKER} Corp`;
const REDRAFTED = `${REDRAFT_MARKER} Labs`;
const COMPANIES = ['Plain Alpha', REDRAFTED, REVIEWED, 'Plain Beta'];

interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

describe('quality gates, end to end', () => {
  let system: E2ESystem;
  let user: TestUser;
  let submitted: { run_id: string; campaign_id: string };
  let leads: Map<string, LeadResultBody>;

  beforeAll(async () => {
    system = await startE2ESystem();
    user = await testUser();
    const csv = ['Email,First Name,Company', ...COMPANIES.map((company, index) => `lead${index}@gates.example,Lead${index},${company}`)].join('\r\n');
    const res = await postProcess(system.baseUrl, { token: user.token, content: csv, fields: { campaign_name: 'Gated' } });
    expect(res.status).toBe(202);
    submitted = (await res.json()) as { run_id: string; campaign_id: string };
    await eventually('the run to end', async () => ['completed', 'failed'].includes((await status()).status), 15_000);
    await system.idle();
    const page = await apiGet(system.baseUrl, `/api/campaigns/results/${submitted.campaign_id}?limit=100`, user);
    expect(page.status).toBe(200);
    leads = new Map(((await page.json()) as { leads: LeadResultBody[] }).leads.map((lead) => [lead.company, lead]));
  });
  afterAll(() => system?.close());

  async function status(): Promise<RunView> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/status/${submitted.run_id}`, user);
    expect(res.status).toBe(200);
    return (await res.json()) as RunView;
  }

  /** The writer requests the sandbox received for a company, in order. */
  function writerRequests(company: string): ChatMessage[][] {
    return system.sandbox.stats.lastRequests
      .filter((record) => record.endpoint === 'chatCompletions' && JSON.stringify(record.body).includes(company))
      .map((record) => record.body?.messages as ChatMessage[]);
  }

  function lead(company: string): LeadResultBody {
    const found = leads.get(company);
    if (found === undefined) throw new Error(`no lead for ${company}`);
    return found;
  }

  it('ends the run completed, with the lead left for review counted apart from the personalized ones', async () => {
    expect(await status()).toMatchObject({
      status: 'completed',
      valid: 4,
      processed: 4,
      personalized: 3,
      needs_review: 1,
      failed: 0,
      error_message: null,
    });
    const res = await apiGet(system.baseUrl, '/api/metrics', user);
    expect(await res.json()).toMatchObject({ leads_personalized: 3 });
  });

  it('keeps the rejected rewrite and the reasons on the lead that needs review', () => {
    const reviewed = lead(REVIEWED);
    expect(reviewed).toMatchObject({ enrichment_status: 'needs_review', model: 'sandbox/writer-1', attempts: 2 });
    expect(reviewed.error).toMatch(/^needs review: \d+ words \(at most 25\)$/);
    const words = Number(/(\d+) words/.exec(reviewed.error ?? '')?.[1]);
    expect(reviewed.personalized_message?.split(/\s+/)).toHaveLength(words);
    expect(words).toBeGreaterThan(25);

    // Two writer calls: the first draft, then the rewrite told what was wrong with it.
    const [first, second, ...more] = writerRequests(REVIEWED);
    expect(more).toEqual([]);
    expect(isRewriteRequest({ messages: first })).toBe(false);
    const feedback = second?.at(-1);
    expect(feedback?.role).toBe('user');
    expect(feedback?.content.startsWith(REWRITE_HEADING)).toBe(true);
    expect(feedback?.content).toMatch(/^- \d+ words \(at most 25\)$/m);
    expect(second?.slice(0, -1)).toEqual(first);
  });

  it('ships a rewrite that passes the gates, after exactly two writer calls', () => {
    const redrafted = lead(REDRAFTED);
    expect(redrafted).toMatchObject({ enrichment_status: 'personalized', error: null, attempts: 2 });
    const requests = writerRequests(REDRAFTED);
    expect(requests.map((messages) => isRewriteRequest({ messages }))).toEqual([false, true]);
  });

  it('ships only lines that pass the gates, and writes each lead once or twice', () => {
    for (const company of COMPANIES.filter((name) => name !== REVIEWED)) {
      const shipped = lead(company);
      expect(shipped.enrichment_status).toBe('personalized');
      const context = { research: shipped.research_summary ?? '', leadFields: shipped.canonical, allowQuestions: false, bannedPhrases: DEFAULT_BANNED_PHRASES };
      expect(checkDraft({ message: shipped.personalized_message ?? '', basis: shipped.message_basis ?? '' }, context), company).toEqual({ ok: true });
      // A first draft, then a rewrite only if the gates refused it.
      const requests = writerRequests(company).map((messages) => isRewriteRequest({ messages }));
      expect([[false], [false, true]], company).toContainEqual(requests);
    }
  });

  it('exports the lead that needs review with its status, draft and reasons', async () => {
    const res = await apiGet(system.baseUrl, `/api/campaigns/export/${submitted.campaign_id}`, user);
    expect(res.status).toBe(200);
    const rows = parse<Record<string, string>>(await res.text(), { bom: true, columns: true });
    expect(rows.map((row) => [row.Company, row.enrichment_status])).toEqual([
      ['Plain Alpha', 'personalized'],
      [REDRAFTED, 'personalized'],
      [REVIEWED, 'needs_review'],
      ['Plain Beta', 'personalized'],
    ]);
    const reviewed = rows.find((row) => row.Company === REVIEWED);
    expect(reviewed).toMatchObject({ personalized_message: lead(REVIEWED).personalized_message, error: lead(REVIEWED).error });
  });

  it('counts a replayed lead.needs_review once', async () => {
    const before = await status();
    const js = jetstream(system.nc);
    const event = { type: 'lead.needs_review', run_id: submitted.run_id, lead_id: lead(REVIEWED).id } as const;
    await js.publish(eventSubject(event.type, system.names.prefix), encode(event), { msgID: randomUUID() });
    await system.idle();
    expect(await status()).toEqual(before);
  });
});

describe('quality gates, end to end, against a writer that invents a specific in every line', () => {
  const FABRICATED = ['Fable Alpha', 'Fable Beta', 'Fable Gamma', 'Fable Delta', 'Fable Epsilon'];
  let system: E2ESystem;
  let user: TestUser;
  let submitted: { run_id: string; campaign_id: string };
  let leads: LeadResultBody[];

  beforeAll(async () => {
    system = await startE2ESystem({ interceptors: faultInterceptors({ fabricateRate: 1 }) });
    user = await testUser();
    const csv = ['Email,First Name,Company', ...FABRICATED.map((company, index) => `lead${index}@fable.example,Lead,${company}`)].join('\r\n');
    const res = await postProcess(system.baseUrl, { token: user.token, content: csv, fields: { campaign_name: 'Fabricated' } });
    expect(res.status).toBe(202);
    submitted = (await res.json()) as { run_id: string; campaign_id: string };
    await eventually('the run to end', async () => ['completed', 'failed'].includes((await status()).status), 15_000);
    await system.idle();
    const page = await apiGet(system.baseUrl, `/api/campaigns/results/${submitted.campaign_id}?limit=100`, user);
    expect(page.status).toBe(200);
    leads = ((await page.json()) as { leads: LeadResultBody[] }).leads;
  });
  afterAll(() => system?.close());

  async function status(): Promise<RunView> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/status/${submitted.run_id}`, user);
    expect(res.status).toBe(200);
    return (await res.json()) as RunView;
  }

  /** The number an invention holds (each holds one): what the gates must name. */
  const inventedNumber = (message: string) => {
    const invention = INVENTIONS.find((text) => message.includes(text));
    return invention === undefined ? undefined : /\$37M|217%|14|13th|2019/.exec(invention)?.[0];
  };

  it('ships none of the lines: every lead ends needs_review, none counted as personalized', async () => {
    expect(await status()).toMatchObject({ status: 'completed', valid: FABRICATED.length, personalized: 0, needs_review: FABRICATED.length, failed: 0 });
    const res = await apiGet(system.baseUrl, '/api/metrics', user);
    expect(await res.json()).toMatchObject({ leads_personalized: 0 });
    expect(leads.map((lead) => lead.enrichment_status)).toEqual(FABRICATED.map(() => 'needs_review'));
  });

  it('names the invented specifics in each lead\'s reasons and in unsupported_specifics, after one rewrite told about them', () => {
    for (const lead of leads) {
      const number = inventedNumber(lead.personalized_message ?? '');
      expect(number, lead.personalized_message ?? '').toBeDefined();
      expect(lead.error).toContain(`unsupported specific: "${number}"`);
      expect(lead.error).toMatch(/^needs review: unsupported specific: "[^"]+" \(/);
      expect(lead.unsupported_specifics).toContain(number);
      expect(lead.attempts).toBe(2);
      // The rewrite was told which specifics were unsupported, and invented again.
      const requests = system.sandbox.stats.lastRequests.filter((record) => record.endpoint === 'chatCompletions' && JSON.stringify(record.body).includes(lead.company));
      expect(requests.map((record) => isRewriteRequest(record.body))).toEqual([false, true]);
      const feedback = (requests[1]?.body?.messages as ChatMessage[] | undefined)?.at(-1)?.content ?? '';
      expect(feedback).toMatch(/^- unsupported specific: "[^"]+" \(/m);
    }
    expect(system.sandbox.stats.requests.chatCompletions).toBe(FABRICATED.length * 2);
  });

  it("keeps what the lines invent out of the logs and the traces: the reasons are for the lead's owner", () => {
    const logs = JSON.stringify(system.log.entries);
    const spans = system.telemetry.exporter.getFinishedSpans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status }));
    // Both were recorded: the first drafts' refusals are logged (by their number), the writer's calls traced.
    expect(logs).toContain('draft failed the quality gates');
    expect(spans.length).toBeGreaterThan(0);
    const traced = JSON.stringify(spans);
    // The named specifics with words ("Sequoia", "last week"): a bare "14" could be any duration.
    const named = leads.flatMap((lead) => lead.unsupported_specifics).filter((specific) => /\p{L}{4}/u.test(specific));
    expect(named.length).toBeGreaterThan(0);
    for (const text of ['unsupported specific', ...INVENTIONS, ...named, ...leads.map((lead) => lead.email)]) {
      expect(logs, text).not.toContain(text);
      expect(traced, text).not.toContain(text);
    }
  });

  it('exports each lead with its status and the specifics it was refused for', async () => {
    const res = await apiGet(system.baseUrl, `/api/campaigns/export/${submitted.campaign_id}`, user);
    expect(res.status).toBe(200);
    const rows = parse<Record<string, string>>(await res.text(), { bom: true, columns: true });
    expect(rows.map((row) => [row.Company, row.enrichment_status, row.unsupported_specifics])).toEqual(
      leads.map((lead) => [lead.company, 'needs_review', lead.unsupported_specifics.join('; ')]),
    );
    for (const row of rows) expect(row.unsupported_specifics).not.toBe('');
  });
});
