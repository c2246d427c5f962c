/**
 * The API's OpenAPI 3.1 document, generated from the routes themselves.
 *
 * Each route carries its description as a middleware, `describeApiRoute({...})` (routes under
 * /api/, which take the user's token) or `describePublicRoute({...})`, placed first in its handler
 * list; hono-openapi collects them from the app's routes and serves the document. The schemas in a
 * description are the valibot schemas the route validates with (`queryParams(ResultsQuery)`,
 * `formBody(ProcessForm)`, `jsonBody(...)`) and valibot schemas of its answers
 * (`jsonResponse(...)`), converted by @valibot/to-json-schema to JSON Schema 2020-12, OpenAPI 3.1's
 * dialect. Nothing in the document is written by hand but the prose.
 *
 * A route without a description is left out of the document; test/http/openapi.test.ts compares
 * the document with the app's routes, so such a route fails the tests.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toJsonSchema, type ConversionConfig } from '@valibot/to-json-schema';
import { Hono } from 'hono';
import { describeRoute, openAPIRouteHandler, type DescribeRouteOptions } from 'hono-openapi';
import * as v from 'valibot';
import packageJson from '../../package.json' with { type: 'json' };
import type { AppEnv } from './context.ts';
import { PROBLEM_CONTENT_TYPE, type ProblemStatus } from './problem.ts';
import { WEB_APP_PATHS } from '../web/web-app.ts';

type Parameter = NonNullable<DescribeRouteOptions['parameters']>[number];
type RequestBody = NonNullable<DescribeRouteOptions['requestBody']>;
type Responses = NonNullable<DescribeRouteOptions['responses']>;
type Response = Responses[string];
type Content = NonNullable<Exclude<Response, { $ref: string }>['content']>;
type Headers = NonNullable<Exclude<Response, { $ref: string }>['headers']>;
/** A JSON Schema as OpenAPI 3.1 takes it. */
type Schema = Exclude<NonNullable<Content[string]['schema']>, { readonly toOpenAPISchema: unknown }>;

/** The route's description, as hono-openapi's `describeRoute` takes it; `operationId` and `tags` required. */
export type RouteDoc = DescribeRouteOptions & { readonly operationId: string; readonly tags: readonly [Tag, ...Tag[]] };

/** The document's tags, in the order the reference page lists them. */
export const TAGS = {
  Health: 'Liveness and readiness, for orchestrators and load balancers. No token.',
  Campaigns: 'Upload a CSV of leads: preview its import, or submit it for processing into a campaign. List, read, rename, change and erase your campaigns; re-run their leads.',
  Runs: 'Follow a run (its status, its live progress as server-sent events, its import report) and control it (cancel, pause, resume).',
  Results: "A campaign's leads and their opening lines, as JSON pages or a CSV download.",
  Templates: 'Saved prompt templates: a personalization prompt with {{variables}}, optionally a research prompt and custom outputs, used by a submission through template_id.',
  Suppressions: 'Your suppression list: email addresses and domains no campaign of yours processes.',
  Metrics: "The caller's KPIs.",
} as const;
export type Tag = keyof typeof TAGS;

/** The security schemes: the Supabase access token, as a header (every /api route) or, for the event stream alone, in the query. */
const BEARER = 'bearer';
const ACCESS_TOKEN_QUERY = 'access_token';

/**
 * valibot → JSON Schema 2020-12. `typeMode: 'ignore'` converts every schema and validation of a
 * pipeline and skips its transformations (trim, toLowerCase, a number from a string): a query
 * parameter is documented as the string it is sent as. `errorMode: 'ignore'` skips what JSON
 * Schema cannot say (a `check` across fields): the description says it in words. A file
 * (`v.instance(File)`, the streamed upload's `StreamedFile`) is a binary form part.
 */
const CONVERSION: ConversionConfig = {
  target: 'draft-2020-12',
  typeMode: 'ignore',
  errorMode: 'ignore',
  overrideSchema: ({ valibotSchema }) => (valibotSchema.type === 'instance' ? { type: 'string', format: 'binary', contentMediaType: 'text/csv' } : undefined),
};

/**
 * A schema for each field of the answer type `T`, whose output is that field's type: written
 * `{...} satisfies FieldSchemas<T>` next to an answer's schema, it makes a field added to (or
 * removed from) the type a compile error until the schema documents it, and a schema wider than
 * its field one too.
 */
export type FieldSchemas<T> = { readonly [K in keyof T]-?: v.GenericSchema<unknown, T[K]> };

/** A valibot schema as the JSON Schema the document shows. */
export function schemaOf(schema: v.GenericSchema): Schema {
  const { $schema: _dialect, ...json } = toJsonSchema(schema, CONVERSION) as Record<string, unknown>;
  return json;
}

/** The query parameters of an object schema (one per entry), with optional descriptions by name. */
export function queryParams(schema: v.GenericSchema & { readonly entries: v.ObjectEntries }, descriptions: Readonly<Record<string, string>> = {}): Parameter[] {
  const object = schemaOf(schema) as { properties?: Record<string, Schema>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description = descriptions[name], ...rest } = property;
    return {
      in: 'query',
      name,
      ...(object.required?.includes(name) === true ? { required: true } : {}),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    } as Parameter;
  });
}

/** A resource id in the path: a UUID (a malformed one answers 404, like an unknown one). */
export function pathParam(name: string, description: string): Parameter {
  return { in: 'path', name, required: true, description, schema: schemaOf(v.pipe(v.string(), v.uuid())) } as Parameter;
}

/** A header the route reads. */
export function headerParam(name: string, description: string, schema: v.GenericSchema = v.string()): Parameter {
  return { in: 'header', name, description, schema: schemaOf(schema) } as Parameter;
}

export interface BodyDoc {
  /** What the body is. */
  readonly description?: string;
  /** What each top-level field means, by name (a `v.description` in the schema wins). */
  readonly fields?: Readonly<Record<string, string>>;
}

/** A JSON request body validated by `schema`. */
export function jsonBody(schema: v.GenericSchema, doc: BodyDoc = {}): RequestBody {
  return requestBody('application/json', schema, doc);
}

/** A multipart/form-data request body validated by `schema` (a file entry is a binary part). */
export function formBody(schema: v.GenericSchema, doc: BodyDoc = {}): RequestBody {
  return requestBody('multipart/form-data', schema, doc);
}

function requestBody(mediaType: string, schema: v.GenericSchema, { description, fields = {} }: BodyDoc): RequestBody {
  const json = schemaOf(schema) as Schema & { properties?: Record<string, Schema & { description?: string }> };
  for (const [name, property] of Object.entries(json.properties ?? {})) {
    const text = property.description ?? fields[name];
    if (text !== undefined) json.properties![name] = { ...property, description: text };
  }
  return { required: true, ...(description === undefined ? {} : { description }), content: { [mediaType]: { schema: json } } };
}

/** A JSON answer whose body `schema` describes. */
export function jsonResponse(description: string, schema: v.GenericSchema, headers?: Headers): Response {
  return { description, ...(headers === undefined ? {} : { headers }), content: { 'application/json': { schema: schemaOf(schema) } } };
}

/** A response header. */
export function responseHeader(description: string, schema: v.GenericSchema = v.string()): Headers[string] {
  return { description, schema: schemaOf(schema) } as Headers[string];
}

/**
 * Problem answers (RFC 9457, application/problem+json): by status, each with what it means on
 * this route, e.g. `problems({ 404: 'No run with this id.' })`. Each refers to the document's
 * shared response of that status, whose body is the `Problem` schema.
 */
export function problems(meanings: Partial<Record<ProblemStatus, string>>): Responses {
  return Object.fromEntries(
    Object.entries(meanings).map(([status, description]) => [status, { $ref: `#/components/responses/${PROBLEM_RESPONSES[Number(status) as ProblemStatus].name}`, description }]),
  );
}

/** The answers every /api route may give besides its own. */
const API_PROBLEMS = {
  401: 'No token, or one that is malformed, forged, expired, for another audience, or an anonymous sign-in.',
  500: 'An unexpected failure; quote the request id when you report it.',
  503: 'A dependency (PostgreSQL, NATS) is down or recovering: retry after Retry-After.',
} as const;

/** A route under /api/: it takes the user's Supabase access token (`Authorization: Bearer`). */
export function describeApiRoute({ responses, ...doc }: RouteDoc) {
  return describeRoute({ ...doc, tags: [...doc.tags], responses: { ...problems(API_PROBLEMS), ...responses } });
}

/** A public route: no token. */
export function describePublicRoute({ responses, ...doc }: RouteDoc) {
  return describeRoute({ ...doc, tags: [...doc.tags], security: [], responses: responses ?? {} });
}

/** Security for the event stream: the header, or `?access_token=` for browsers' EventSource. */
export const EVENT_STREAM_SECURITY = [{ [BEARER]: [] }, { [ACCESS_TOKEN_QUERY]: [] }];

/** The body of every problem answer (see problem.ts). */
export const ProblemBody = v.pipe(
  v.looseObject({
    type: v.pipe(v.string(), v.description('`about:blank`, or an identifier for problems a client handles by kind (a quota, an idempotency key).')),
    title: v.string(),
    status: v.pipe(v.number(), v.integer()),
    detail: v.pipe(v.string(), v.description('What went wrong and what to do about it, written for a person.')),
    instance: v.pipe(v.string(), v.description('The request path.')),
    request_id: v.pipe(v.string(), v.description('Quote it when you report the problem (also the X-Request-Id header).')),
    code: v.optional(v.pipe(v.string(), v.description('Import problems: a stable code such as NO_EMAIL_COLUMN or NO_VALID_LEADS.'))),
    report: v.optional(
      v.pipe(
        v.record(v.string(), v.unknown()),
        v.description('NO_VALID_LEADS: the import report, every rejected row and why (as GET /api/campaigns/runs/{runId}/report); NO_VALID_ENTRIES: the suppression import report.'),
      ),
    ),
    limit: v.optional(v.pipe(v.string(), v.description('429: the limit reached, e.g. leads_per_day or sse_streams_per_user.'))),
  }),
  v.description(
    'RFC 9457 problem details; some problems add members: code and report (import problems), limit, limit_value, used, requested and max (429), ' +
      'campaign_id (a campaign name taken), run_ids or run_id and run_status (a run in progress), existing_id (a template name taken), ' +
      'unknown_variables and private_variables (template variables the file cannot fill), invalid (suppression entries refused), checks (readiness).',
  ),
);

/** The shared problem responses, by status. */
const PROBLEM_RESPONSES: Readonly<Record<ProblemStatus, { name: string; description: string; headers?: readonly string[] }>> = {
  400: { name: 'BadRequest', description: 'The request is not valid: the detail names the field and what it must be.' },
  401: { name: 'Unauthorized', description: 'No valid access token.', headers: ['WWW-Authenticate'] },
  403: { name: 'Forbidden', description: 'Refused to this caller, whatever the token: the detail says why.' },
  404: { name: 'NotFound', description: "No such resource, or another user's." },
  409: { name: 'Conflict', description: "The request conflicts with the resource's state: the detail says how (with Retry-After when waiting helps).", headers: ['Retry-After'] },
  413: { name: 'ContentTooLarge', description: 'The upload is over the size limit.' },
  415: { name: 'UnsupportedMediaType', description: 'Not multipart/form-data, or the file is not a CSV.' },
  422: { name: 'UnprocessableContent', description: 'The request is well-formed but cannot be processed.' },
  429: { name: 'TooManyRequests', description: 'A limit was reached; Retry-After says when to retry, when waiting helps.', headers: ['Retry-After'] },
  500: { name: 'InternalServerError', description: 'An unexpected failure.' },
  503: { name: 'ServiceUnavailable', description: 'A dependency is down or recovering.', headers: ['Retry-After'] },
};

const HEADER_DOCS: Readonly<Record<string, { description: string; schema: v.GenericSchema }>> = {
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: v.pipe(v.string(), v.regex(/^\d+$/)) },
  'WWW-Authenticate': { description: 'Bearer, with error="invalid_token" for a token that was refused.', schema: v.string() },
};

export interface OpenApiOptions {
  /** The API's public URL (PUBLIC_BASE_URL): the document's server. Unset: the origin it is read from. */
  readonly publicBaseUrl?: string;
}

/** Paths served here that are not API operations, so not in the document. */
export const UNDOCUMENTED_PATHS = ['/openapi.json', '/docs', '/docs/:asset', ...WEB_APP_PATHS] as const;

/** The OpenAPI document of `app`'s routes (generated once, on the first request). */
function documentHandler(app: Hono<AppEnv>, { publicBaseUrl }: OpenApiOptions) {
  const problemSchema = schemaOf(ProblemBody);
  return openAPIRouteHandler(app, {
    documentation: {
      info: {
        title: 'AI Growth Accelerator API',
        version: packageJson.version,
        description: `${packageJson.description}\n\nErrors are RFC 9457 problem details (application/problem+json). Every answer carries X-Request-Id.`,
      },
      ...(publicBaseUrl === undefined ? {} : { servers: [{ url: publicBaseUrl.replace(/\/+$/, '') }] }),
      tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
      security: [{ [BEARER]: [] }],
      components: {
        securitySchemes: {
          [BEARER]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Supabase access token (`Authorization: Bearer <token>`).' },
          [ACCESS_TOKEN_QUERY]: { type: 'apiKey', in: 'query', name: 'access_token', description: "The event stream only: the access token in the query, for browsers' EventSource." },
        },
        schemas: { Problem: problemSchema },
        responses: Object.fromEntries(
          Object.values(PROBLEM_RESPONSES).map(({ name, description, headers = [] }) => [
            name,
            {
              description,
              ...(headers.length === 0 ? {} : { headers: Object.fromEntries(headers.map((header) => [header, responseHeader(HEADER_DOCS[header]!.description, HEADER_DOCS[header]!.schema)])) }),
              content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
            },
          ]),
        ),
      },
    },
  });
}

/** Swagger UI's files (swagger-ui-dist), served from this process: the page needs no CDN. */
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const DOCS_ASSETS: Readonly<Record<string, { file?: string; body?: string; type: string }>> = {
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
  'init.js': {
    body: `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });\n`,
    type: 'text/javascript; charset=utf-8',
  },
};
const DOCS_PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>AI Growth Accelerator API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

/**
 * `GET /openapi.json`: the document. `GET /docs`: a browsable reference of it (Swagger UI), whose
 * "Authorize" takes an access token to try the routes. Both public: the document holds no secret.
 * Mount it last, on the app whose routes it documents.
 */
export function openApiRoutes(app: Hono<AppEnv>, options: OpenApiOptions = {}) {
  const routes = new Hono<AppEnv>();
  const assets = new Map<string, Promise<string>>();
  routes.get('/openapi.json', documentHandler(app, options));
  routes.get('/docs', (c) => c.html(DOCS_PAGE));
  routes.get('/docs/:asset', async (c) => {
    const name = c.req.param('asset');
    const asset = Object.hasOwn(DOCS_ASSETS, name) ? DOCS_ASSETS[name] : undefined;
    if (asset === undefined) return c.notFound();
    let body = assets.get(name);
    if (body === undefined) {
      body = asset.body === undefined ? readFile(join(SWAGGER_UI_DIR, asset.file!), 'utf8') : Promise.resolve(asset.body);
      assets.set(name, body);
      body.catch(() => assets.delete(name));
    }
    return c.body(await body, 200, { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=3600' });
  });
  return routes;
}
