/**
 * The webhook sender: one signed POST per attempt, per Standard Webhooks (see `signature.ts`).
 *
 * Built on `node:http`/`node:https` rather than fetch because the connection must go through
 * the guarded `lookup` (`address-guard.ts`): the addresses a name resolves to are checked and then
 * used for the connection itself, so a DNS answer that changes between the check and the connect
 * cannot steer the request inside our network. An IP literal is checked before the request (Node
 * does not look literals up). Redirects are never followed (Node's client does not, and a 3xx is a
 * failure per the spec), so a receiver cannot bounce the request to an internal address either.
 *
 * One attempt is bounded as a whole (DNS, connect, TLS, sending, the response's status line and
 * headers) by `timeoutMs`, 5 s by default: a delivery to a slow customer must not hold a
 * consumer's handler. The attempt settles on the status line; the response body is read only
 * until 4 KB have come in (so a small answer ends the exchange cleanly), then the connection is
 * closed, and nothing of it is kept. Errors carry the status, a fixed reason and at most a Node error code:
 * never the URL (its query string may hold the customer's token), the body or the secret.
 *
 * No keep-alive (`agent: false`): each attempt opens its own connection, so a pooled socket can
 * never outlive the check that allowed it, and webhooks to many hosts gain little from pooling.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { OutsideApiError, type OutsideApiFailure } from '../../ports/outside-api.port.ts';
import { InvalidWebhookUrl, WEBHOOK_API, type WebhookMessage, type WebhookSender } from '../../ports/webhook-sender.port.ts';
import { retryAfterFrom } from '../outside-api/retry-after.ts';
import { AddressNotAllowedError, guardedLookup, isPublicAddress, systemResolve, type Resolve } from './address-guard.ts';
import { parseWebhookSecret, webhookSignature } from './signature.ts';

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;
export const WEBHOOK_USER_AGENT = 'ai-growth-accelerator-webhooks/1';
/** How much of a response body is read (then dropped) before the connection is closed: past this, the next chunk closes it. */
export const MAX_RESPONSE_BYTES = 4_096;
/** Longer URLs are refused by `checkUrl`: no real endpoint needs more, and it bounds what is stored. */
export const MAX_URL_LENGTH = 2_048;

export interface StandardWebhookSenderOptions {
  /** `whsec_` + base64 of 24 to 64 bytes. */
  readonly secret: string;
  /** Skips the public-address check (local development and tests); http/https and no credentials still apply. */
  readonly allowPrivateNetworks: boolean;
  /** One attempt's whole time, connect to response headers; default 5000. */
  readonly timeoutMs?: number;
  /** The clock (ms since the epoch) for `webhook-timestamp`; replaceable in tests. */
  readonly now?: () => number;
  /** Host name resolution, for `checkUrl` and delivery alike; replaceable in tests. */
  readonly resolve?: Resolve;
}

/** Printable ASCII without `.` (the signed content's separator) or spaces. */
const MESSAGE_ID = /^[\x21-\x2d\x2f-\x7e]{1,256}$/;

const USER_REASONS = {
  notUrl: 'webhook_url is not a valid URL',
  tooLong: `webhook_url is too long (at most ${MAX_URL_LENGTH} characters)`,
  protocol: 'webhook_url must use http or https',
  credentials: 'webhook_url must not contain a user name or password',
  noHost: 'webhook_url must have a host',
} as const;

export class StandardWebhookSender implements WebhookSender {
  readonly timeoutMs: number;
  readonly allowPrivateNetworks: boolean;
  readonly #key: Buffer;
  readonly #now: () => number;
  readonly #resolve: Resolve;
  readonly #lookup: LookupFunction;

  constructor(options: StandardWebhookSenderOptions) {
    this.#key = parseWebhookSecret(options.secret);
    const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError('webhook timeoutMs must be a positive whole number');
    this.timeoutMs = timeoutMs;
    this.allowPrivateNetworks = options.allowPrivateNetworks;
    this.#now = options.now ?? Date.now;
    this.#resolve = options.resolve ?? systemResolve;
    this.#lookup = guardedLookup(this.#resolve, this.allowPrivateNetworks);
  }

  async checkUrl(input: string): Promise<string> {
    const parsed = parseWebhookUrl(input);
    if (typeof parsed === 'string') throw new InvalidWebhookUrl(USER_REASONS[parsed]);
    const host = bareHost(parsed.hostname);
    const addresses = isIP(host) !== 0 ? [host] : await this.#resolveForCheck(host);
    if (!this.allowPrivateNetworks && !addresses.every(isPublicAddress)) {
      throw new InvalidWebhookUrl('webhook_url resolves to a private, loopback or reserved address; use a public one');
    }
    return parsed.href;
  }

  async send(url: string, message: WebhookMessage, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (!MESSAGE_ID.test(message.id)) throw new TypeError('webhook message id must be 1 to 256 printable ASCII characters without "." or spaces');
    const target = parseWebhookUrl(url);
    if (typeof target === 'string') throw webhookError('rejected', 'invalid url');
    const host = bareHost(target.hostname);
    if (!this.allowPrivateNetworks && isIP(host) !== 0 && !isPublicAddress(host)) throw webhookError('rejected', 'address not allowed');

    const body = Buffer.from(message.body, 'utf8');
    const timestamp = Math.floor(this.#now() / 1000);
    const headers = {
      host: target.host,
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': WEBHOOK_USER_AGENT,
      'webhook-id': message.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': webhookSignature(this.#key, message.id, timestamp, body),
    };
    const options: http.RequestOptions = {
      method: 'POST',
      hostname: host,
      path: `${target.pathname}${target.search}`,
      headers,
      agent: false,
      ...(target.port === '' ? {} : { port: Number(target.port) }),
      lookup: this.#lookup,
    };
    await deliver(target.protocol === 'https:' ? https.request : http.request, options, body, this.timeoutMs, signal);
  }

  async #resolveForCheck(host: string): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs, 'timeout');
    });
    try {
      const answer = await Promise.race([this.#resolve(host, 0), timeout]);
      if (answer === 'timeout') throw new InvalidWebhookUrl("webhook_url's host could not be resolved just now; try again");
      if (answer.length === 0) throw new InvalidWebhookUrl("webhook_url's host does not resolve");
      return answer.map((entry) => entry.address);
    } catch (error) {
      if (error instanceof InvalidWebhookUrl) throw error;
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      // ENOTFOUND/ENODATA: the name has no address. Anything else (EAI_AGAIN, a resolver down) is ours, not the user's.
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw new InvalidWebhookUrl("webhook_url's host does not resolve");
      throw new InvalidWebhookUrl("webhook_url's host could not be resolved just now; try again");
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The URL, or which user-facing rule it breaks. */
function parseWebhookUrl(input: string): URL | keyof typeof USER_REASONS {
  if (input.length > MAX_URL_LENGTH) return 'tooLong';
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return 'notUrl';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'protocol';
  if (url.username !== '' || url.password !== '') return 'credentials';
  if (url.hostname === '') return 'noHost';
  return url;
}

/** `URL.hostname` keeps an IPv6 literal's brackets; sockets and lookups want the address alone. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

type RequestFunction = (options: http.RequestOptions) => http.ClientRequest;

/** One POST with its deadline and the caller's signal; settles on the response's status. */
function deliver(request: RequestFunction, options: http.RequestOptions, body: Buffer, timeoutMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error === undefined) resolve();
      else reject(error);
    };
    const req = request(options);
    const timer = setTimeout(() => {
      settle(webhookError('unavailable', 'timed out'));
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      // The caller's reason as it is (the port's contract): the caller knows why it stopped.
      settle(signal.reason as Error);
      req.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // 'close' comes last, after the response was read or the request failed or was destroyed.
    req.once('close', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      settle(webhookError('unavailable', 'connection closed'));
    });
    req.on('error', (error) => settle(errorFor(error)));
    req.once('response', (response) => {
      settle(statusError(response));
      discardBody(response, req);
    });
    req.end(body);
  });
}

/** Reads up to MAX_RESPONSE_BYTES of the answer and drops them; more closes the connection. */
function discardBody(response: IncomingMessage, req: http.ClientRequest): void {
  let read = 0;
  response.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > MAX_RESPONSE_BYTES) req.destroy();
  });
  response.on('error', () => undefined);
}

/** Undefined for a 2xx; otherwise the OutsideApiError the status means. */
function statusError(response: IncomingMessage): OutsideApiError | undefined {
  const status = response.statusCode ?? 0;
  if (status >= 200 && status <= 299) return undefined;
  const [failure, reason] = failureForStatus(status);
  const retryAfterMs =
    failure === 'rate_limited' || failure === 'unavailable'
      ? retryAfterFrom({ get: (name) => singleHeader(response.headers[name]) })
      : undefined;
  return new OutsideApiError(WEBHOOK_API, failure, `${WEBHOOK_API} ${status}: ${reason}`, {
    status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

function failureForStatus(status: number): readonly [OutsideApiFailure, string] {
  if (status === 429) return ['rate_limited', 'rate limited'];
  // 408 is the receiver timing the request out: as transient as a 5xx.
  if (status === 408 || status >= 500) return ['unavailable', 'unavailable'];
  if (status >= 300 && status <= 399) return ['rejected', 'redirect not followed'];
  // The spec asks senders to stop on 410; the caller sees `status` and decides.
  if (status === 410) return ['rejected', 'gone'];
  if (status >= 400) return ['rejected', 'rejected'];
  return ['rejected', 'unexpected status'];
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Maps an error from the request (lookup, socket, TLS, HTTP parser) to the port's error. */
function errorFor(error: unknown): OutsideApiError {
  if (error instanceof OutsideApiError) return error;
  if (error instanceof AddressNotAllowedError) return webhookError('rejected', 'address not allowed');
  const code = safeCode((error as NodeJS.ErrnoException | undefined)?.code);
  if (code === undefined) return webhookError('unavailable', 'connection error');
  if (code === 'ENOTFOUND' || code === 'ENODATA' || code.startsWith('EAI_')) return webhookError('unavailable', 'host not resolved', code);
  if (code.startsWith('HPE_')) return webhookError('unavailable', 'invalid http response', code);
  if (/CERT|TLS|SSL|ALTNAME/.test(code)) return webhookError('unavailable', 'tls error', code);
  return webhookError('unavailable', 'connection error', code);
}

/** A Node error code (`ECONNREFUSED`), never free text: Node's messages name the host and port. */
function safeCode(code: unknown): string | undefined {
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,47}$/.test(code) ? code : undefined;
}

/** An OutsideApiError without a status: `webhook: <reason>` or `webhook: <reason> (<code>)`. */
function webhookError(failure: OutsideApiFailure, reason: string, code?: string): OutsideApiError {
  return new OutsideApiError(WEBHOOK_API, failure, `${WEBHOOK_API}: ${reason}${code === undefined ? '' : ` (${code})`}`);
}
