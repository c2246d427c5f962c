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
import { RunStatusBody } from '../../adapters/http/routes/run-progress.ts';
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

    const processed = await postProcess(server.baseUrl, { token: alice.token, content: csv, fields: { campaign_name: `OpenAPI ${randomUUID()}` } });
    expectDocumented('POST /api/campaigns/process', processed);
    const accepted = v.parse(ProcessAccepted, await processed.clone().json());
    await expectBody(processed, ProcessAccepted);

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
