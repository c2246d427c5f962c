/**
 * Templates and variables over HTTP on the real services: the saved templates' CRUD
 * (`/api/templates`), and what `POST /api/campaigns/process` does with `template_id`, `outputs`
 * and a personalization prompt whose variables the file cannot fill.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGet, postProcess, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';
import { expectProblem, readJson } from './helpers.ts';

const CSV = ['Email,First Name,Company Name,Recent Post', 'ada@example.com,Ada,Analytical Engines,On engines', 'bob@example.com,,Babbage Ltd,'].join('\n');

interface TemplateJson {
  id: string;
  name: string;
  personalization_prompt: string;
  research_prompt: string | null;
  outputs: { name: string; instruction: string; max_words: number }[];
  variables: string[];
  created_at: string;
  updated_at: string;
}

const SUBJECT = { name: 'subject_line', instruction: 'A subject line about {{Company Name}}', max_words: 8 };

describe('/api/templates and templates at submit', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([testUser(), testUser()]);
  });
  afterAll(() => server.close());

  function send(method: string, path: string, user: TestUser, body?: unknown): Promise<Response> {
    return fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${user.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  }

  async function create(user: TestUser, body: Record<string, unknown>): Promise<TemplateJson> {
    const res = await send('POST', '/api/templates', user, body);
    expect(res.status).toBe(201);
    return readJson<TemplateJson>(res);
  }

  describe('CRUD', () => {
    it('creates a template, answers 201 with it and where it lives, and lists and reads it', async () => {
      const res = await send('POST', '/api/templates', alice, {
        name: '  Intro  ',
        personalization_prompt: ' Greet {{first_name | "there"}} and mention {{Recent Post}}. ',
        research_prompt: 'Hiring news.',
        outputs: [SUBJECT],
      });
      expect(res.status).toBe(201);
      const created = await readJson<TemplateJson>(res);
      expect(res.headers.get('location')).toBe(`/api/templates/${created.id}`);
      expect(created).toEqual({
        id: expect.any(String) as unknown,
        name: 'Intro',
        personalization_prompt: 'Greet {{first_name | "there"}} and mention {{Recent Post}}.',
        research_prompt: 'Hiring news.',
        outputs: [SUBJECT],
        variables: ['first_name', 'Recent Post', 'Company Name'],
        created_at: expect.any(String) as unknown,
        updated_at: expect.any(String) as unknown,
      });

      const one = await apiGet(server.baseUrl, `/api/templates/${created.id}`, alice);
      expect(one.status).toBe(200);
      expect(await readJson(one)).toEqual(created);
      const list = await readJson<{ templates: TemplateJson[] }>(await apiGet(server.baseUrl, '/api/templates', alice));
      expect(list.templates.map((template) => template.id)).toContain(created.id);
    });

    it('keeps names unique per user whatever their case: 409 with the existing id', async () => {
      const first = await create(alice, { name: 'Follow-up', personalization_prompt: 'Be brief.' });
      const res = await send('POST', '/api/templates', alice, { name: 'FOLLOW-UP', personalization_prompt: 'Be briefer.' });
      const problem = await expectProblem(res, 409);
      expect(problem.existing_id).toBe(first.id);
      expect(problem.detail).toContain('You have a template of this name already');
      // Another user may use the name.
      await create(bob, { name: 'Follow-up', personalization_prompt: 'Be brief.' });
      // A rename onto a taken name is refused alike.
      const other = await create(alice, { name: 'Other', personalization_prompt: 'x' });
      expect((await expectProblem(await send('PATCH', `/api/templates/${other.id}`, alice, { name: 'follow-up' }), 409)).existing_id).toBe(first.id);
    });

    it('changes only the fields sent, clears the research prompt with null and the outputs with []', async () => {
      const template = await create(alice, { name: 'Patchable', personalization_prompt: 'One.', research_prompt: 'Funding.', outputs: [SUBJECT] });
      const res = await send('PATCH', `/api/templates/${template.id}`, alice, { personalization_prompt: 'Two {{title}}.', research_prompt: null, outputs: [] });
      expect(res.status).toBe(200);
      const patched = await readJson<TemplateJson>(res);
      expect(patched).toMatchObject({ name: 'Patchable', personalization_prompt: 'Two {{title}}.', research_prompt: null, outputs: [], variables: ['title'] });
      expect(Date.parse(patched.updated_at)).toBeGreaterThanOrEqual(Date.parse(template.updated_at));

      await expectProblem(await send('PATCH', `/api/templates/${template.id}`, alice, {}), 400);
    });

    it('deletes a template: 204, then 404', async () => {
      const template = await create(alice, { name: 'Doomed', personalization_prompt: 'x' });
      expect((await send('DELETE', `/api/templates/${template.id}`, alice)).status).toBe(204);
      await expectProblem(await apiGet(server.baseUrl, `/api/templates/${template.id}`, alice), 404);
      await expectProblem(await send('DELETE', `/api/templates/${template.id}`, alice), 404);
    });

    it("never shows or changes another user's template: 404 as for none", async () => {
      const template = await create(alice, { name: 'Private', personalization_prompt: 'x' });
      await expectProblem(await apiGet(server.baseUrl, `/api/templates/${template.id}`, bob), 404);
      await expectProblem(await send('PATCH', `/api/templates/${template.id}`, bob, { name: 'Mine now' }), 404);
      await expectProblem(await send('DELETE', `/api/templates/${template.id}`, bob), 404);
      const list = await readJson<{ templates: TemplateJson[] }>(await apiGet(server.baseUrl, '/api/templates', bob));
      expect(list.templates.map((one) => one.id)).not.toContain(template.id);
      await expectProblem(await apiGet(server.baseUrl, '/api/templates/not-a-uuid', alice), 404);
      expect((await fetch(`${server.baseUrl}/api/templates`)).status).toBe(401);
    });

    it.each([
      ['a body that is not JSON', '{"name": ', 'The body must be a JSON object'],
      ['no name', { personalization_prompt: 'x' }, 'a template has only name'],
      ['a blank prompt', { name: 'x', personalization_prompt: '  ' }, 'personalization_prompt must not be blank'],
      ['an unknown field', { name: 'x', personalization_prompt: 'x', personalisation_prompt: 'y' }, 'a template has only name, personalization_prompt'],
      ['a nameless variable', { name: 'x', personalization_prompt: 'Hi {{}}' }, 'a variable without a name'],
      ['the email as a variable', { name: 'x', personalization_prompt: 'Write to {{ Email }}' }, "the lead's email address and phone number are never sent to the writer"],
      ['an output named like a built-in column', { name: 'x', personalization_prompt: 'x', outputs: [{ ...SUBJECT, name: 'enrichment_status' }] }, 'taken by a built-in field'],
    ])('refuses %s with a 400 that says why', async (_case, body, message) => {
      const problem = await expectProblem(await send('POST', '/api/templates', alice, body), 400);
      expect(problem.detail).toContain(message);
    });
  });

  describe('at submit', () => {
    async function runRow(runId: string) {
      const [run] = await server.sql`
        select research_prompt, personalization_prompt, outputs, template_id from campaign_runs where id = ${runId}`;
      return run;
    }

    it("takes the template's prompts and outputs, each unless the form gives its own, and keeps them on the run", async () => {
      const template = await create(alice, {
        name: 'For submit',
        personalization_prompt: 'Greet {{first_name | "there"}}.',
        research_prompt: 'Hiring news.',
        outputs: [SUBJECT],
      });
      const res = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Templated', template_id: template.id } });
      expect(res.status).toBe(202);
      const { run_id: runId } = await readJson<{ run_id: string }>(res);
      expect(await runRow(runId)).toEqual({
        research_prompt: 'Hiring news.',
        personalization_prompt: 'Greet {{first_name | "there"}}.',
        outputs: [SUBJECT],
        template_id: template.id,
      });

      const overridden = await postProcess(server.baseUrl, {
        token: alice.token,
        content: CSV,
        fields: { campaign_name: 'Templated, overridden', template_id: template.id, personalization_prompt: 'Mention {{Recent Post | "their work"}}.', outputs: '[]' },
      });
      expect(overridden.status).toBe(202);
      expect(await runRow((await readJson<{ run_id: string }>(overridden)).run_id)).toEqual({
        research_prompt: 'Hiring news.',
        personalization_prompt: 'Mention {{Recent Post | "their work"}}.',
        outputs: null,
        template_id: template.id,
      });
    });

    it('keeps the outputs of the form on the run', async () => {
      const res = await postProcess(server.baseUrl, {
        token: alice.token,
        content: CSV,
        fields: { campaign_name: 'Outputs', outputs: JSON.stringify([SUBJECT, { name: 'ps', instruction: 'A P.S.', max_words: 20 }]) },
      });
      expect(res.status).toBe(202);
      expect((await runRow((await readJson<{ run_id: string }>(res)).run_id))?.outputs).toEqual([SUBJECT, { name: 'ps', instruction: 'A P.S.', max_words: 20 }]);
    });

    it('answers 400 naming the variables the file cannot fill, and records nothing', async () => {
      const before = await server.sql`select count(*)::int as count from campaign_runs where user_id = ${alice.id}`;
      const res = await postProcess(server.baseUrl, {
        token: alice.token,
        content: CSV,
        fields: {
          campaign_name: 'Unknown variables',
          personalization_prompt: 'Hi {{ first_name }} of {{Company Name}}: {{Favourite Colour | "blue"}}, {{Job Titel}}.',
          outputs: JSON.stringify([{ name: 'ps', instruction: 'Mention {{Favourite Colour}} and {{Hobby}}', max_words: 20 }]),
        },
      });
      const problem = await expectProblem(res, 400);
      expect(problem.unknown_variables).toEqual(['Favourite Colour', 'Job Titel', 'Hobby']);
      expect(problem.detail).toContain('uses {{Favourite Colour}}, {{Job Titel}}, {{Hobby}}, which are neither a column of the file nor a lead field');
      expect(problem.detail).toContain("The file's columns: Email, First Name, Company Name, Recent Post");
      const after = await server.sql`select count(*)::int as count from campaign_runs where user_id = ${alice.id}`;
      expect(after).toEqual(before);
    });

    it("checks a template's prompt against the file too", async () => {
      const template = await create(alice, { name: 'Needs a column', personalization_prompt: 'Mention {{LinkedIn Headline}}.' });
      const res = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Template vs file', template_id: template.id } });
      expect((await expectProblem(res, 400)).unknown_variables).toEqual(['LinkedIn Headline']);
    });

    it('refuses a variable naming a column of phone numbers, as the header table reads it', async () => {
      const csv = ['Email,Company,Cell', 'ada@example.com,Acme,+1 555 0100'].join('\n');
      const res = await postProcess(server.baseUrl, { token: alice.token, content: csv, fields: { campaign_name: 'Phones', personalization_prompt: 'Call {{Cell}}.' } });
      expect((await expectProblem(res, 400)).detail).toBe(
        "personalization_prompt uses {{Cell}}: the lead's email address and phone number are never sent to the writer; remove it.",
      );
    });

    it("answers 404 for a template_id that is not one of the user's, 400 for one that is not an id", async () => {
      const template = await create(bob, { name: 'Bob only', personalization_prompt: 'x' });
      const res = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Not mine', template_id: template.id } });
      expect((await expectProblem(res, 404)).detail).toBe('No template with this template_id: list yours with GET /api/templates.');
      const bad = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Bad id', template_id: 'intro' } });
      expect((await expectProblem(bad, 400)).detail).toContain('template_id must be the id of one of your templates');
    });

    it.each([
      ['outputs that are not JSON', { outputs: 'subject_line' }, 'outputs must be JSON'],
      ['a duplicate output name', { outputs: JSON.stringify([SUBJECT, SUBJECT]) }, 'output name "subject_line" is used twice'],
      ['a prompt with the phone', { personalization_prompt: 'Call {{phone}}' }, "the lead's email address and phone number are never sent"],
    ])('refuses %s with a 400', async (_case, fields, message) => {
      const res = await postProcess(server.baseUrl, { token: alice.token, content: CSV, fields: { campaign_name: 'Bad fields', ...fields } });
      expect((await expectProblem(res, 400)).detail).toContain(message);
    });
  });
});
