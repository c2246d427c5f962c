/**
 * The OpenAPI document against the app it documents: fetched over HTTP from the real edge (real
 * PostgreSQL and NATS), validated as OpenAPI 3.1, compared route by route with what the app
 * registers, and its schemas held against the real answers of the routes.
 */
import { randomUUID } from 'node:crypto';
import { validate, compileErrors } from '@readme/openapi-parser';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { ProblemBody, TAGS, UNDOCUMENTED_PATHS } from '../../adapters/http/openapi.ts';
import { MetricsBody } from '../../adapters/http/routes/metrics.ts';
import { HealthBody, ReadyBody } from '../../adapters/http/routes/health.ts';
import { PreviewBody, PreviewForm } from '../../adapters/http/routes/campaigns.ts';
import { ProcessAccepted, ProcessForm } from '../../adapters/http/routes/campaign-process.ts';
import { ImportReportBody, ResultsPage, RESULT_STATUSES } from '../../adapters/http/routes/campaign-results.ts';
import { campaignDetailBody, CampaignRunsPage, CampaignsPage } from '../../adapters/http/routes/campaign-management.ts';
import { ImportReportEntries } from '../../adapters/http/routes/preview-body.ts';
import { RunStatusBody } from '../../adapters/http/routes/run-progress.ts';
import { AddedSuppressionsBody, ImportedSuppressionsBody, SuppressionsPage } from '../../adapters/http/routes/suppressions.ts';
import { TemplateBody, TemplateList } from '../../adapters/http/routes/templates.ts';
import { campaignOptionFields } from '../../src/app/kernel/assemble.ts';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import { apiGet, postPreview, postProcess, seedRun, settleLead, startTestServer, testUser, type TestServer, type TestUser } from '../support/http.ts';

interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean; schema?: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> };
  responses: Record<string, { $ref?: string; content?: Record<string, unknown> }>;
}

interface Document {
  openapi: string;
  info: { title: string; version: string };
  security: Record<string, string[]>[];
  tags: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, { content: Record<string, unknown> }> };
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

/** Hono's `/runs/:runId/report` (or `:id{[0-9]+}`) as OpenAPI writes it: `/runs/{runId}/report`. */
function openApiPath(path: string): string {
  return path.replace(/:(\w+)(\{[^}]*\})?\??/g, '{$1}');
}

/** Every operation of the document, as "GET /api/metrics". */
function documented(doc: Document): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((method) => METHODS.includes(method)).map((method) => `${method.toUpperCase()} ${path}`));
}

function operation(doc: Document, key: string): Operation {
  const [method, path] = key.split(' ') as [string, string];
  const found = doc.paths[path]?.[method.toLowerCase()];
  if (found === undefined) throw new Error(`${key} is not in the document`);
  return found;
}

/** The body of an answer, held against the valibot schema its operation's document was generated from: every field documented, of its documented type. */
async function expectBody(res: Response, schema: v.GenericSchema): Promise<void> {
  const body: unknown = await res.json();
  const parsed = v.safeParse(schema, body);
  expect(parsed.issues?.map((issue) => `${v.getDotPath(issue) ?? ''}: ${issue.message}`) ?? []).toEqual([]);
  // An object schema drops the fields it does not know: any difference is an undocumented field.
  expect(parsed.output).toEqual(body);
}

describe('GET /openapi.json', () => {
  const options = campaignOptionFields(CONSUMERS);
  let server: TestServer;
  let doc: Document;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ campaignOptions: options });
    alice = await testUser();
    const res = await fetch(`${server.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as Document;
  });
  afterAll(() => server.close());

  /** A request as alice, with a JSON body when one is given. */
  function send(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${alice.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  /** Asserts that the operation documents the answer's status, with the answer's media type when it has a body. */
  function expectDocumented(key: string, res: Response): void {
    const response = operation(doc, key).responses[String(res.status)];
    expect(response, `${key} answered ${res.status}, which its documentation does not list`).toBeDefined();
    const content = response!.$ref === undefined ? response!.content : doc.components.responses[response!.$ref.split('/').pop()!]?.content;
    const mediaType = res.headers.get('content-type')?.split(';')[0];
    if (mediaType !== undefined) expect(Object.keys(content ?? {})).toContain(mediaType);
  }

  it('is valid OpenAPI 3.1, served without a token, named and versioned after package.json', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'AI Growth Accelerator API', version: packageJson.version });
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? '' : compileErrors(result)).toBe('');
    expect(result.warnings).toEqual([]);
  });

  it('documents every route the app serves, and only those', () => {
    const served = server.app.routes
      .filter((route) => route.method !== 'ALL' && !(UNDOCUMENTED_PATHS as readonly string[]).includes(route.path))
      .map((route) => `${route.method} ${openApiPath(route.path)}`);
    expect(served.length).toBeGreaterThan(0);
    // A route added without a describeApiRoute(...)/describePublicRoute(...) is missing on the right.
    expect([...new Set(documented(doc))].sort()).toEqual([...new Set(served)].sort());
  });

  it('gives every operation a unique id, a tag of the document, a summary and a success answer', () => {
    const ids = documented(doc).map((key) => operation(doc, key).operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.tags.map((tag) => tag.name)).toEqual(Object.keys(TAGS));
    for (const key of documented(doc)) {
      const op = operation(doc, key);
      expect(op.operationId, key).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.summary, key).toBeTruthy();
      expect(op.tags?.length, key).toBeGreaterThan(0);
      for (const tag of op.tags ?? []) expect(Object.keys(TAGS), key).toContain(tag);
      expect(Object.keys(op.responses).some((status) => status.startsWith('2')), key).toBe(true);
    }
  });

  it('asks for the bearer token exactly where the app does: every /api route answers 401 without one, the others not', async () => {
    expect(doc.security).toEqual([{ bearer: [] }]);
    for (const key of documented(doc)) {
      const [method, path] = key.split(' ') as [string, string];
      const op = operation(doc, key);
      const url = `${server.baseUrl}${path.replace(/\{\w+\}/g, randomUUID())}`;
      const res = await fetch(url, { method });
      if (path.startsWith('/api/')) {
        expect(op.security === undefined || op.security.some((requirement) => 'bearer' in requirement), key).toBe(true);
        expect(res.status, key).toBe(401);
        expectDocumented(key, res);
      } else {
        expect(op.security, key).toEqual([]);
        expect(res.status, key).toBe(200);
      }
      await res.body?.cancel();
    }
    const events = operation(doc, 'GET /api/campaigns/events/{runId}');
    expect(events.security).toEqual([{ bearer: [] }, { access_token: [] }]);
  });

  it("documents the results' status filter as exactly the statuses the route accepts", async () => {
    const { campaignId } = await seedRun(server, { userId: alice.id, csv: 'Email,Company\na@example.com,Acme' });
    const status = operation(doc, 'GET /api/campaigns/results/{campaignId}').parameters?.find((param) => param.in === 'query' && param.name === 'status');
    const documented = String((status as { description?: string } | undefined)?.description ?? '');
    for (const value of RESULT_STATUSES) {
      expect(documented, value).toContain(`\`${value}\``);
      const res = await apiGet(server.baseUrl, `/api/campaigns/results/${campaignId}?status=${value}`, alice);
      expect(res.status, value).toBe(200);
      await res.body?.cancel();
    }
    const several = await apiGet(server.baseUrl, `/api/campaigns/results/${campaignId}?status=${RESULT_STATUSES.slice(0, 2).join(',')}`, alice);
    expect(several.status).toBe(200);
    await several.body?.cancel();
    const refused = await apiGet(server.baseUrl, `/api/campaigns/results/${campaignId}?status=skipped`, alice);
    expect(refused.status).toBe(400);
    expectDocumented('GET /api/campaigns/results/{campaignId}', refused);
  });


  it('documents the upload forms with the fields the routes read, the declared campaign options included', () => {
    const form = (key: string) => operation(doc, key).requestBody?.content['multipart/form-data']?.schema;
    expect(Object.keys(form('POST /api/campaigns/preview')?.properties ?? {})).toEqual(Object.keys(PreviewForm.entries));
    expect(Object.keys(form('POST /api/campaigns/process')?.properties ?? {})).toEqual([...Object.keys(ProcessForm.pipe[0].entries), ...options.map((option) => option.field)]);
    expect(options.map((option) => option.field)).toContain('webhook_url');
    expect(form('POST /api/campaigns/process')?.required).toEqual(['csv_file']);
    expect(form('POST /api/campaigns/process')?.properties?.csv_file).toMatchObject({ type: 'string', format: 'binary' });
  });

  it('describes the real answers of the routes', async () => {
    const get = (path: string) => apiGet(server.baseUrl, path, alice);
    const csv = 'Email,Company,First Name\nada@example.com,Analytical Engines,Ada\nbob@,Acme,Bob';

    const health = await fetch(`${server.baseUrl}/healthz`);
    expectDocumented('GET /healthz', health);
    await expectBody(health, HealthBody);
    const ready = await fetch(`${server.baseUrl}/readyz`);
    expectDocumented('GET /readyz', ready);
    await expectBody(ready, ReadyBody);

    const preview = await postPreview(server.baseUrl, { token: alice.token, content: csv });
    expectDocumented('POST /api/campaigns/preview', preview);
    await expectBody(preview, PreviewBody);

    const campaignName = `OpenAPI ${randomUUID()}`;
    const processed = await postProcess(server.baseUrl, { token: alice.token, content: csv, fields: { campaign_name: campaignName } });
    expectDocumented('POST /api/campaigns/process', processed);
    const accepted = v.parse(ProcessAccepted, await processed.clone().json());
    await expectBody(processed, ProcessAccepted);
    const taken = await postProcess(server.baseUrl, { token: alice.token, content: csv, fields: { campaign_name: campaignName.toUpperCase() } });
    expect(taken.status).toBe(409);
    expectDocumented('POST /api/campaigns/process', taken);
    expect(await taken.clone().json()).toMatchObject({ campaign_id: accepted.campaign_id });
    await expectBody(taken, ProblemBody);
    const noLeads = await postProcess(server.baseUrl, { token: alice.token, content: 'Email,Company\nbob@,Acme', fields: { campaign_name: `OpenAPI ${randomUUID()}` } });
    expect(noLeads.status).toBe(422);
    expectDocumented('POST /api/campaigns/process', noLeads);
    const noLeadsReport = v.parse(v.object({ code: v.literal('NO_VALID_LEADS'), report: v.unknown() }), await noLeads.clone().json()).report;
    expect(v.parse(v.object(ImportReportEntries), noLeadsReport)).toEqual(noLeadsReport);
    await expectBody(noLeads, ProblemBody);

    const queued = await get(accepted.status_url);
    expectDocumented('GET /api/campaigns/status/{runId}', queued);
    await expectBody(queued, RunStatusBody);
    const reading = await get(`/api/campaigns/runs/${accepted.run_id}/report`);
    expectDocumented('GET /api/campaigns/runs/{runId}/report', reading);
    await expectBody(reading, ProblemBody);

    const run = await seedRun(server, { userId: alice.id, csv });
    await settleLead(server, run.runId, run.leadIds.get('ada@example.com')!, { message: 'Hi Ada' });
    const status = await get(`/api/campaigns/status/${run.runId}`);
    await expectBody(status, RunStatusBody);
    const results = await get(`/api/campaigns/results/${run.campaignId}`);
    expectDocumented('GET /api/campaigns/results/{campaignId}', results);
    await expectBody(results, ResultsPage);
    const report = await get(`/api/campaigns/runs/${run.runId}/report`);
    expectDocumented('GET /api/campaigns/runs/{runId}/report', report);
    await expectBody(report, ImportReportBody);
    const exported = await get(`/api/campaigns/export/${run.campaignId}`);
    expectDocumented('GET /api/campaigns/export/{campaignId}', exported);
    await exported.body?.cancel();
    const preset = await get(`/api/campaigns/export/${run.campaignId}?only=personalized&for=lemlist`);
    expectDocumented('GET /api/campaigns/export/{campaignId}', preset);
    expect((await preset.text()).split('\r\n')[0]).toContain('icebreaker');
    const badPreset = await get(`/api/campaigns/export/${run.campaignId}?for=mailchimp`);
    expectDocumented('GET /api/campaigns/export/{campaignId}', badPreset);
    await expectBody(badPreset, ProblemBody);
    const metrics = await get('/api/metrics');
    expectDocumented('GET /api/metrics', metrics);
    await expectBody(metrics, MetricsBody);
    const unknown = await get(`/api/campaigns/results/${randomUUID()}`);
    expectDocumented('GET /api/campaigns/results/{campaignId}', unknown);
    await expectBody(unknown, ProblemBody);

    const events = await fetch(`${server.baseUrl}/api/campaigns/events/${run.runId}?access_token=${alice.token}`);
    expectDocumented('GET /api/campaigns/events/{runId}', events);
    await events.body?.cancel();

    // Run control: each action answers the status (a paused run's with its notice), or a problem.
    const live = await seedRun(server, { userId: alice.id, csv });
    const control = (action: string, runId = live.runId) =>
      fetch(`${server.baseUrl}/api/campaigns/runs/${runId}/${action}`, { method: 'POST', headers: { Authorization: `Bearer ${alice.token}` } });
    const paused = await control('pause');
    expectDocumented('POST /api/campaigns/runs/{runId}/pause', paused);
    await expectBody(paused, RunStatusBody);
    const resumed = await control('resume');
    expectDocumented('POST /api/campaigns/runs/{runId}/resume', resumed);
    await expectBody(resumed, RunStatusBody);
    const notPaused = await control('resume');
    expectDocumented('POST /api/campaigns/runs/{runId}/resume', notPaused);
    await expectBody(notPaused, ProblemBody);
    const cancelled = await control('cancel');
    expectDocumented('POST /api/campaigns/runs/{runId}/cancel', cancelled);
    await expectBody(cancelled, RunStatusBody);
    const nobodys = await control('cancel', randomUUID());
    expectDocumented('POST /api/campaigns/runs/{runId}/cancel', nobodys);
    await expectBody(nobodys, ProblemBody);
  });

  it('describes the real answers of the campaign routes: list, read, change, erase, runs and re-runs', async () => {
    const detail = campaignDetailBody(options.map((option) => option.field));
    const csv = 'Email,Company\nada@example.com,Analytical Engines';
    const run = await seedRun(server, { userId: alice.id, csv });
    await settleLead(server, run.runId, run.leadIds.get('ada@example.com')!, { message: 'Hi Ada' });
    const other = await seedRun(server, { userId: alice.id, csv });

    const list = await send('GET', '/api/campaigns?limit=1');
    expectDocumented('GET /api/campaigns', list);
    const page = v.parse(CampaignsPage, await list.clone().json());
    expect(page.next_cursor).not.toBeNull();
    await expectBody(list, CampaignsPage);
    const next = await send('GET', `/api/campaigns?limit=1&cursor=${encodeURIComponent(page.next_cursor!)}`);
    await expectBody(next, CampaignsPage);
    const badCursor = await send('GET', '/api/campaigns?cursor=nonsense');
    expectDocumented('GET /api/campaigns', badCursor);
    await expectBody(badCursor, ProblemBody);

    const campaign = await send('GET', `/api/campaigns/${run.campaignId}`);
    expectDocumented('GET /api/campaigns/{id}', campaign);
    await expectBody(campaign, detail);
    const missing = await send('GET', `/api/campaigns/${randomUUID()}`);
    expectDocumented('GET /api/campaigns/{id}', missing);
    await expectBody(missing, ProblemBody);

    const changed = await send('PATCH', `/api/campaigns/${run.campaignId}`, { name: `OpenAPI ${randomUUID()}`, research_prompt: 'Find news.', allow_questions: true });
    expectDocumented('PATCH /api/campaigns/{id}', changed);
    await expectBody(changed, detail);
    const otherName = v.parse(detail, await (await send('GET', `/api/campaigns/${other.campaignId}`)).json()).name;
    const nameTaken = await send('PATCH', `/api/campaigns/${run.campaignId}`, { name: otherName });
    expectDocumented('PATCH /api/campaigns/{id}', nameTaken);
    expect(await nameTaken.clone().json()).toMatchObject({ status: 409, campaign_id: other.campaignId });
    await expectBody(nameTaken, ProblemBody);
    const unknownField = await send('PATCH', `/api/campaigns/${run.campaignId}`, { colour: 'blue' });
    expectDocumented('PATCH /api/campaigns/{id}', unknownField);
    await expectBody(unknownField, ProblemBody);

    const rerun = await send('POST', `/api/campaigns/${run.campaignId}/runs`, { statuses: ['personalized'], personalization_prompt: 'Be brief.' });
    expectDocumented('POST /api/campaigns/{id}/runs', rerun);
    const rerunAccepted = v.parse(ProcessAccepted, await rerun.clone().json());
    expect(rerunAccepted.campaign_id).toBe(run.campaignId);
    await expectBody(rerun, ProcessAccepted);
    const busy = await send('POST', `/api/campaigns/${run.campaignId}/runs`, { statuses: ['personalized'] });
    expectDocumented('POST /api/campaigns/{id}/runs', busy);
    expect(await busy.clone().json()).toMatchObject({ status: 409, run_id: rerunAccepted.run_id });
    await expectBody(busy, ProblemBody);
    const nothing = await send('POST', `/api/campaigns/${other.campaignId}/runs`, { statuses: ['failed'] });
    expectDocumented('POST /api/campaigns/{id}/runs', nothing);
    await expectBody(nothing, ProblemBody);
    const rerunStatus = await send('GET', rerunAccepted.status_url);
    await expectBody(rerunStatus, RunStatusBody);

    const runs = await send('GET', `/api/campaigns/${run.campaignId}/runs`);
    expectDocumented('GET /api/campaigns/{id}/runs', runs);
    expect(v.parse(CampaignRunsPage, await runs.clone().json()).runs.map((listed) => listed.id)).toEqual([rerunAccepted.run_id, run.runId]);
    await expectBody(runs, CampaignRunsPage);

    const inProgress = await send('DELETE', `/api/campaigns/${run.campaignId}`);
    expectDocumented('DELETE /api/campaigns/{id}', inProgress);
    expect(await inProgress.clone().json()).toMatchObject({ status: 409, run_ids: [rerunAccepted.run_id] });
    await expectBody(inProgress, ProblemBody);
    await settleLead(server, other.runId, other.leadIds.get('ada@example.com')!, { error: 'research failed' });
    const erased = await send('DELETE', `/api/campaigns/${other.campaignId}`);
    expect(erased.status).toBe(204);
    expectDocumented('DELETE /api/campaigns/{id}', erased);
    const gone = await send('GET', `/api/campaigns/${other.campaignId}/runs`);
    expectDocumented('GET /api/campaigns/{id}/runs', gone);
    await expectBody(gone, ProblemBody);
  });

  it('describes the real answers of the template routes', async () => {
    const name = `Intro ${randomUUID()}`;
    const created = await send('POST', '/api/templates', {
      name,
      personalization_prompt: 'Open with {{First Name | "there"}} and {{Company}}.',
      research_prompt: 'Find news.',
      outputs: [{ name: 'subject_line', instruction: 'A subject line for {{Company}}', max_words: 8 }],
    });
    expect(created.status).toBe(201);
    expectDocumented('POST /api/templates', created);
    const template = v.parse(TemplateBody, await created.clone().json());
    expect(template.variables.length).toBeGreaterThan(0);
    await expectBody(created, TemplateBody);
    const duplicate = await send('POST', '/api/templates', { name: name.toLowerCase(), personalization_prompt: 'Hi.' });
    expectDocumented('POST /api/templates', duplicate);
    expect(await duplicate.clone().json()).toMatchObject({ status: 409, existing_id: template.id });
    await expectBody(duplicate, ProblemBody);
    const bad = await send('POST', '/api/templates', { name: 'No prompt' });
    expectDocumented('POST /api/templates', bad);
    await expectBody(bad, ProblemBody);

    const list = await send('GET', '/api/templates');
    expectDocumented('GET /api/templates', list);
    await expectBody(list, TemplateList);
    const one = await send('GET', `/api/templates/${template.id}`);
    expectDocumented('GET /api/templates/{id}', one);
    await expectBody(one, TemplateBody);
    const changed = await send('PATCH', `/api/templates/${template.id}`, { research_prompt: null, outputs: [] });
    expectDocumented('PATCH /api/templates/{id}', changed);
    await expectBody(changed, TemplateBody);

    const processed = await postProcess(server.baseUrl, {
      token: alice.token,
      content: 'Email,Company,First Name\nada@example.com,Analytical Engines,Ada',
      fields: { campaign_name: `OpenAPI ${randomUUID()}`, template_id: template.id, outputs: JSON.stringify([{ name: 'ps', instruction: 'A P.S.', max_words: 10 }]) },
    });
    expectDocumented('POST /api/campaigns/process', processed);
    await expectBody(processed, ProcessAccepted);
    const unknownVariable = await postProcess(server.baseUrl, {
      token: alice.token,
      content: 'Email,Company\nada@example.com,Analytical Engines',
      fields: { campaign_name: `OpenAPI ${randomUUID()}`, personalization_prompt: 'Hi {{Favourite Colour}}' },
    });
    expect(unknownVariable.status).toBe(400);
    expectDocumented('POST /api/campaigns/process', unknownVariable);
    expect(await unknownVariable.clone().json()).toMatchObject({ unknown_variables: ['Favourite Colour'] });
    await expectBody(unknownVariable, ProblemBody);

    const deleted = await send('DELETE', `/api/templates/${template.id}`);
    expect(deleted.status).toBe(204);
    expectDocumented('DELETE /api/templates/{id}', deleted);
    for (const [method, key] of [['GET', 'GET /api/templates/{id}'], ['DELETE', 'DELETE /api/templates/{id}']] as const) {
      const res = await send(method, `/api/templates/${template.id}`);
      expectDocumented(key, res);
      await expectBody(res, ProblemBody);
    }
  });

  it('describes the real answers of the suppression routes', async () => {
    const added = await send('POST', '/api/suppressions', { entries: ['Ada@Example.com', 'https://www.example.org/about', 'not an entry', 'ada@example.com'] });
    expect(added.status).toBe(201);
    expectDocumented('POST /api/suppressions', added);
    const body = v.parse(AddedSuppressionsBody, await added.clone().json());
    expect(body).toMatchObject({ added: 2, duplicates: 1, invalid: [{ value: 'not an entry' }] });
    await expectBody(added, AddedSuppressionsBody);
    const again = await send('POST', '/api/suppressions', { value: 'example.org' });
    expect(again.status).toBe(200);
    expectDocumented('POST /api/suppressions', again);
    await expectBody(again, AddedSuppressionsBody);
    const invalid = await send('POST', '/api/suppressions', { value: 'nothing valid' });
    expectDocumented('POST /api/suppressions', invalid);
    await expectBody(invalid, ProblemBody);

    const form = (content: string) => {
      const data = new FormData();
      data.append('csv_file', new File([content], 'suppress.csv', { type: 'text/csv' }));
      return fetch(`${server.baseUrl}/api/suppressions/import`, { method: 'POST', headers: { Authorization: `Bearer ${alice.token}` }, body: data });
    };
    const imported = await form('Email\nbob@example.net\nnope');
    expect(imported.status).toBe(201);
    expectDocumented('POST /api/suppressions/import', imported);
    await expectBody(imported, ImportedSuppressionsBody);
    const noEntry = await form('Email\nnope');
    expectDocumented('POST /api/suppressions/import', noEntry);
    const { report } = v.parse(v.object({ code: v.literal('NO_VALID_ENTRIES'), report: v.unknown() }), await noEntry.clone().json());
    expect(v.parse(ImportedSuppressionsBody, report)).toEqual(report);
    await expectBody(noEntry, ProblemBody);

    const list = await send('GET', '/api/suppressions?limit=2');
    expectDocumented('GET /api/suppressions', list);
    const page = v.parse(SuppressionsPage, await list.clone().json());
    expect(page.suppressions).toHaveLength(2);
    await expectBody(list, SuppressionsPage);

    const byValue = await send('DELETE', '/api/suppressions?value=WWW.EXAMPLE.ORG');
    expect(byValue.status).toBe(204);
    expectDocumented('DELETE /api/suppressions', byValue);
    const noValue = await send('DELETE', '/api/suppressions?value=example.org');
    expectDocumented('DELETE /api/suppressions', noValue);
    await expectBody(noValue, ProblemBody);
    const byId = await send('DELETE', `/api/suppressions/${page.suppressions[0]!.id}`);
    expect(byId.status).toBe(204);
    expectDocumented('DELETE /api/suppressions/{id}', byId);
    const unknownId = await send('DELETE', `/api/suppressions/${page.suppressions[0]!.id}`);
    expectDocumented('DELETE /api/suppressions/{id}', unknownId);
    await expectBody(unknownId, ProblemBody);
  });

  it('serves a browsable reference of the document at /docs, with its own copy of Swagger UI', async () => {
    const page = await fetch(`${server.baseUrl}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((match) => match[1]!);
    expect(assets.sort()).toEqual(['/docs/init.js', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css']);
    for (const asset of assets) {
      const res = await fetch(`${server.baseUrl}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      const text = await res.text();
      if (asset === '/docs/init.js') expect(text).toContain("url: '/openapi.json'");
      else expect(text.length, asset).toBeGreaterThan(10_000);
    }
    const other = await fetch(`${server.baseUrl}/docs/package.json`);
    expect(other.status).toBe(404);
    await other.body?.cancel();
  });
});
