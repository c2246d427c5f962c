/**
 * The sandbox provider: a small HTTP server that speaks both provider protocols the adapters
 * use, `POST /v1/responses` (Perplexity's Agent API, Responses shape) and
 * `POST /v1/chat/completions` (OpenRouter), with deterministic, clearly labelled answers.
 * Tests, the benchmark and a key-less `npm start` talk to it over real HTTP.
 *
 * A request goes: route, count and record, bearer check (401 like a real provider), queued
 * test faults, then `interceptors` (the place for fault injection such as rate limits or
 * latency, each may answer instead of the sandbox: faults.ts builds them from settings), then
 * the answer. `onAnswer` sees every 200 sent (what a real provider bills), and `admin`, when
 * set, answers `/admin/...` (see admin.ts: faults switched at runtime, answers billed per lead).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chatCompletion, researchResponse } from './answers.ts';

export type SandboxEndpoint = 'responses' | 'chatCompletions';

const ROUTES: Readonly<Record<string, SandboxEndpoint>> = {
  '/v1/responses': 'responses',
  '/v1/chat/completions': 'chatCompletions',
};

const MAX_BODY_BYTES = 1024 * 1024;
const RECENT_REQUESTS = 50;

export interface SandboxRequest {
  readonly endpoint: SandboxEndpoint;
  /** The parsed JSON body. */
  readonly body: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
  /** Aborted when the client hangs up or the sandbox closes: a delaying interceptor should stop waiting. */
  readonly signal: AbortSignal;
}

export interface SandboxReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly body: unknown;
}

/** A step before the sandbox answers: returns a reply to send instead, or undefined to go on. */
export type SandboxInterceptor = (request: SandboxRequest) => SandboxReply | undefined | Promise<SandboxReply | undefined>;

export interface SandboxOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Default 127.0.0.1; 0.0.0.0 to serve other hosts (a container). */
  readonly host?: string;
  /** When set, only `Authorization: Bearer <apiKey>` is accepted; otherwise any bearer token is. */
  readonly apiKey?: string;
  readonly interceptors?: readonly SandboxInterceptor[];
  /** Called with each 200 answer (the sandbox's own or an interceptor's) as it is sent. */
  readonly onAnswer?: (request: SandboxRequest, reply: SandboxReply) => void;
  /** Answers requests under `/admin/`; without it they are 404 like any unknown path. */
  readonly admin?: SandboxAdminHandler;
}

/** A control request to a running sandbox: method, URL (path and query) and the JSON body, if any. */
export interface SandboxAdminRequest {
  readonly method: string;
  readonly url: URL;
  readonly body: unknown;
}

export type SandboxAdminHandler = (request: SandboxAdminRequest) => SandboxReply;

export interface SandboxRequestRecord {
  readonly endpoint: SandboxEndpoint;
  /** The JSON body as received (the prompt the adapter sent), undefined when it did not parse. */
  readonly body: Record<string, unknown> | undefined;
  readonly receivedAt: Date;
}

export interface SandboxStats {
  /** Requests received per endpoint, whatever their outcome (401 and injected faults included). */
  readonly requests: Readonly<Record<SandboxEndpoint, number>>;
  /** The most recent requests, oldest first (at most 50). */
  readonly lastRequests: readonly SandboxRequestRecord[];
}

export interface FaultOptions {
  /** Only requests to this endpoint take the fault; any endpoint by default. */
  readonly endpoint?: SandboxEndpoint;
}

export interface Sandbox {
  /** Base URL to give the openai SDK (`baseURL`), e.g. http://127.0.0.1:4010/v1. */
  readonly url: string;
  readonly port: number;
  /** Live counters, read at any time. */
  readonly stats: SandboxStats;
  /** The next `count` requests answer `status` with an OpenAI-style error body (and `headers`, e.g. retry-after). */
  failNext(status: number, count?: number, options?: FaultOptions & { headers?: Readonly<Record<string, string>> }): void;
  /** The next `count` requests get a 200 whose content breaks the expected shape. */
  malformNext(count?: number, options?: FaultOptions): void;
  /** The next `count` requests wait `ms` before answering normally. */
  delayNext(ms: number, count?: number, options?: FaultOptions): void;
  /** Zeroes the stats and drops queued faults. */
  reset(): void;
  close(): Promise<void>;
}

type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly headers: Readonly<Record<string, string>> }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'delay'; readonly ms: number };

interface QueuedFault {
  readonly fault: Fault;
  readonly endpoint: SandboxEndpoint | undefined;
  remaining: number;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const requests: Record<SandboxEndpoint, number> = { responses: 0, chatCompletions: 0 };
  const lastRequests: SandboxRequestRecord[] = [];
  const stats: SandboxStats = { requests, lastRequests };
  let faults: QueuedFault[] = [];
  const closing = new AbortController();

  const queue = (fault: Fault, count: number, endpoint: SandboxEndpoint | undefined) => {
    if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive whole number');
    faults.push({ fault, endpoint, remaining: count });
  };
  const takeFault = (endpoint: SandboxEndpoint): Fault | undefined => {
    const queued = faults.find((entry) => entry.endpoint === undefined || entry.endpoint === endpoint);
    if (queued === undefined) return undefined;
    queued.remaining -= 1;
    if (queued.remaining === 0) faults = faults.filter((entry) => entry !== queued);
    return queued.fault;
  };

  const answer = async (req: IncomingMessage, signal: AbortSignal): Promise<SandboxReply> => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (options.admin !== undefined && url.pathname.startsWith('/admin/')) {
      const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : await readJsonObject(req);
      return options.admin({ method: req.method ?? 'GET', url, body });
    }
    const endpoint = ROUTES[url.pathname];
    if (endpoint === undefined) throw new HttpError(404, 'not_found', 'no such endpoint');
    if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');

    requests[endpoint] += 1;
    let body: Record<string, unknown> | undefined;
    try {
      body = await readJsonObject(req);
    } finally {
      lastRequests.push({ endpoint, body, receivedAt: new Date() });
      if (lastRequests.length > RECENT_REQUESTS) lastRequests.shift();
    }

    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined || (options.apiKey !== undefined && token !== options.apiKey)) {
      throw new HttpError(401, 'invalid_api_key', 'missing or invalid bearer token');
    }

    const fault = takeFault(endpoint);
    if (fault?.kind === 'status') {
      return { status: fault.status, headers: fault.headers, body: errorBody(fault.status, 'sandbox_fault', `sandbox: injected ${fault.status}`) };
    }
    if (fault?.kind === 'delay') await sleep(fault.ms, undefined, { signal });

    const request: SandboxRequest = { endpoint, body, headers: req.headers, signal };
    const answered = (reply: SandboxReply): SandboxReply => {
      if (reply.status === 200 && !signal.aborted) options.onAnswer?.(request, reply);
      return reply;
    };
    for (const interceptor of options.interceptors ?? []) {
      const reply = await interceptor(request);
      if (reply !== undefined) return answered(reply);
    }

    validate(endpoint, body);
    const malformed = fault?.kind === 'malformed';
    return answered({ status: 200, body: endpoint === 'responses' ? researchResponse(body, { malformed }) : chatCompletion(body, { malformed }) });
  };

  const server = createServer((req, res) => {
    // A client that gives up before its answer (its own timeout) ends the wait for it.
    const hungUp = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) hungUp.abort();
    });
    answer(req, AbortSignal.any([closing.signal, hungUp.signal]))
      .catch((error: unknown): SandboxReply =>
        error instanceof HttpError
          ? { status: error.status, body: errorBody(error.status, error.code, error.message) }
          : { status: 500, body: errorBody(500, 'sandbox_error', 'sandbox failure') },
      )
      .then((reply) => send(res, reply))
      // A reply that cannot be written (bad interceptor headers): drop the connection, keep serving.
      .catch(() => res.destroy());
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    port,
    stats,
    failNext(status, count = 1, faultOptions = {}) {
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError('status must be an HTTP error status (400-599)');
      queue({ kind: 'status', status, headers: { ...faultOptions.headers } }, count, faultOptions.endpoint);
    },
    malformNext(count = 1, faultOptions = {}) {
      queue({ kind: 'malformed' }, count, faultOptions.endpoint);
    },
    delayNext(ms, count = 1, faultOptions = {}) {
      queue({ kind: 'delay', ms }, count, faultOptions.endpoint);
    },
    reset() {
      requests.responses = 0;
      requests.chatCompletions = 0;
      lastRequests.length = 0;
      faults = [];
    },
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The request fields a real provider insists on; anything missing answers 400 as there. */
function validate(endpoint: SandboxEndpoint, body: Record<string, unknown>): void {
  if (typeof body.model !== 'string' || body.model === '') throw new HttpError(400, 'invalid_request', 'model is required');
  if (endpoint === 'responses' && typeof body.input !== 'string' && !Array.isArray(body.input)) {
    throw new HttpError(400, 'invalid_request', 'input must be a string or an array of input items');
  }
  if (endpoint === 'chatCompletions' && (!Array.isArray(body.messages) || body.messages.length === 0)) {
    throw new HttpError(400, 'invalid_request', 'messages must be a non-empty array');
  }
}

async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request_too_large', 'request body over 1 MiB');
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'invalid_request', 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** OpenAI's error shape, which the openai SDK reads into APIError. */
function errorBody(status: number, code: string, message: string): unknown {
  return { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } };
}

function send(res: ServerResponse, reply: SandboxReply): void {
  if (res.destroyed || res.headersSent) return;
  const payload = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}
