/**
 * Templates and variables end to end (real HTTP edge, JetStream, PostgreSQL, sandbox provider over
 * real HTTP): a saved template whose prompt uses a `{{Column Name}}` of the file and a canonical
 * field with a fallback, and two custom outputs; a run submitted with its `template_id` gives the
 * writer each lead's rendered prompt, writes the outputs through the quality gates (one lead's
 * first draft breaks their limits and is rewritten), shows them in the results and exports them
 * as columns, and leaves the leads' data out of the logs.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRewriteRequest, REDRAFT_MARKER } from '../../adapters/sandbox/answers.ts';
import { countWords } from '../../domain/personalization/quality-gates.ts';
import type { LeadResultBody } from '../../adapters/http/routes/campaign-results.ts';
import type { RunView } from '../../ports/campaign-queries.port.ts';
import { apiGet, postProcess, testUser, type TestUser } from '../support/http.ts';
import { eventually } from '../support/nats.ts';
import { startE2ESystem, type E2ESystem } from './system.ts';

const REDRAFTED = `${REDRAFT_MARKER} Works`;
const ROWS = [
  { email: 'ada@templates.example', first: 'Ada', company: 'Analytical Engines', post: 'Why engines need notes' },
  { email: 'grace@templates.example', first: '', company: 'Compiler Co', post: '' },
  { email: 'alan@templates.example', first: 'Alan', company: REDRAFTED, post: 'Machines that think' },
];
const CSV = ['Email,First Name,Company,Recent Post', ...ROWS.map((row) => `${row.email},${row.first},${row.company},${row.post}`)].join('\r\n');

const OUTPUTS = [
  { name: 'subject_line', instruction: 'A short subject line about {{Recent Post | "their latest news"}}', max_words: 6 },
  { name: 'ps', instruction: 'A P.S. inviting {{first_name | "them"}} to reply', max_words: 12 },
];

interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

describe('templates and custom outputs, end to end', () => {
  let system: E2ESystem;
  let user: TestUser;
  let submitted: { run_id: string; campaign_id: string };
  let leads: Map<string, LeadResultBody>;

  beforeAll(async () => {
    system = await startE2ESystem();
    user = await testUser();
    const created = await fetch(`${system.baseUrl}/api/templates`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'Posts',
        personalization_prompt: 'Open with {{first_name | "there"}} and refer to their post "{{ Recent Post | "their work" }}".',
        outputs: OUTPUTS,
      }),
    });
    expect(created.status).toBe(201);
    const template = (await created.json()) as { id: string };
    const res = await postProcess(system.baseUrl, { token: user.token, content: CSV, fields: { campaign_name: 'Templated run', template_id: template.id } });
    expect(res.status).toBe(202);
    submitted = (await res.json()) as { run_id: string; campaign_id: string };
    await eventually('the run to end', async () => ['completed', 'failed'].includes((await status()).status), 15_000);
    await system.idle();
    const page = await apiGet(system.baseUrl, `/api/campaigns/results/${submitted.campaign_id}?limit=100`, user);
    expect(page.status).toBe(200);
    leads = new Map(((await page.json()) as { leads: LeadResultBody[] }).leads.map((lead) => [lead.email, lead]));
  });
  afterAll(() => system?.close());

  async function status(): Promise<RunView> {
    const res = await apiGet(system.baseUrl, `/api/campaigns/status/${submitted.run_id}`, user);
    expect(res.status).toBe(200);
    return (await res.json()) as RunView;
  }

  /** The writer requests the sandbox received for a company, in order. */
  function writerRequests(company: string): { messages: ChatMessage[]; body: Record<string, unknown> }[] {
    return system.sandbox.stats.lastRequests
      .filter((record) => record.endpoint === 'chatCompletions' && JSON.stringify(record.body).includes(company))
      .map((record) => ({ messages: record.body?.messages as ChatMessage[], body: record.body ?? {} }));
  }

  it('personalizes every lead, each with its outputs within their limits', async () => {
    expect(await status()).toMatchObject({ status: 'completed', valid: 3, personalized: 3, needs_review: 0, failed: 0 });
    for (const row of ROWS) {
      const lead = leads.get(row.email)!;
      expect(lead.enrichment_status).toBe('personalized');
      expect(Object.keys(lead.outputs).sort()).toEqual(['ps', 'subject_line']);
      expect(countWords(lead.outputs.subject_line!)).toBeLessThanOrEqual(6);
      expect(countWords(lead.outputs.ps!)).toBeLessThanOrEqual(12);
    }
    expect(leads.get('ada@templates.example')?.outputs.subject_line).toBe('Sandbox subject line for Analytical Engines');
  });

  it("gives the writer each lead's prompt with its own values, quoted, and fallbacks where a value is blank", () => {
    const [ada] = writerRequests('Analytical Engines');
    const system0 = ada!.messages[0]!.content;
    expect(system0).toContain('Open with «Ada» and refer to their post "«Why engines need notes»".');
    expect(system0).toContain('- "subject_line" (at most 6 words): A short subject line about «Why engines need notes»');
    expect(system0).toContain('- "ps" (at most 12 words): A P.S. inviting «Ada» to reply');
    expect(system0.slice(system0.indexOf('## Campaign instructions'))).not.toContain('{{');

    const [grace] = writerRequests('Compiler Co');
    expect(grace!.messages[0]!.content).toContain('Open with there and refer to their post "their work".');
    expect(grace!.messages[0]!.content).toContain('A short subject line about their latest news');
  });

  it('rewrites a draft whose outputs break their limits, telling the writer which and how', () => {
    const requests = writerRequests(REDRAFTED);
    expect(requests).toHaveLength(2);
    expect(isRewriteRequest(requests[1]!.body)).toBe(true);
    const rewrite = requests[1]!.messages.at(-1)!.content;
    expect(rewrite).toContain('- subject_line: 9 words (at most 6)');
    expect(rewrite).toContain('- ps: 15 words (at most 12)');
    expect(rewrite).toContain('The previous outputs, as JSON:');
  });

  it('exports each output as a column after the line, for every lead', async () => {
    const res = await apiGet(system.baseUrl, `/api/campaigns/export/${submitted.campaign_id}`, user);
    expect(res.status).toBe(200);
    const rows = parse<Record<string, string>>(await res.text(), { bom: true, columns: true });
    expect(Object.keys(rows[0]!)).toEqual(['Email', 'First Name', 'Company', 'Recent Post', 'personalized_message', 'enrichment_status', 'error', 'unsupported_specifics', 'research_summary', 'sources', 'message_basis', 'model', 'research_model', 'cost_usd', 'subject_line', 'ps']);
    for (const row of ROWS) {
      const exported = rows.find((line) => line.Email === row.email)!;
      const lead = leads.get(row.email)!;
      expect(exported).toMatchObject({ subject_line: lead.outputs.subject_line, ps: lead.outputs.ps, enrichment_status: 'personalized' });
    }
  });

  it("keeps the leads' values out of the logs", () => {
    const logs = JSON.stringify(system.log.entries);
    for (const value of ['ada@templates.example', 'Why engines need notes', 'Machines that think', 'Analytical Engines']) expect(logs).not.toContain(value);
  });
});
