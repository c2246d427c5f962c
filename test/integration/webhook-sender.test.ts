/**
 * The Standard Webhooks sender against a real HTTP receiver on 127.0.0.1: what arrives (body,
 * headers, a signature checked here by an independent computation and against the reference
 * vector), how each failure maps to an OutsideApiError, that redirects are not followed, the
 * timeout and the caller's abort; then the SSRF guard, at URL check and at delivery (the receiver
 * must not even see a connection), DNS rebinding included. No test needs the internet: names are
 * resolved by /etc/hosts (`localhost`) or by an injected resolver, public hosts are IP literals.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Resolve } from '../../adapters/webhooks/address-guard.ts';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, StandardWebhookSender, WEBHOOK_USER_AGENT } from '../../adapters/webhooks/standard-webhook-sender.ts';
import { OutsideApiError } from '../../ports/outside-api.port.ts';
import { InvalidWebhookUrl, type WebhookMessage } from '../../ports/webhook-sender.port.ts';
import { startReceiver, STANDARD_WEBHOOKS_VECTOR, type Receiver } from '../support/webhooks.ts';

const KEY = randomBytes(32);
const SECRET = `whsec_${KEY.toString('base64')}`;
/** Marks what must never show in an error: the URL's query, the request body, the response body. */
const QUERY_SECRET = 'query-token-4f1e';
const BODY_SECRET = 'body-secret-9a2c';
const RESPONSE_SECRET = 'response-secret-77d0';

let receiver: Receiver;
/** A second receiver, the target of redirects: it must receive nothing. */
let elsewhere: Receiver;
/** Every OutsideApiError message in this file, checked for leaks at the end. */
const messages: string[] = [];

beforeAll(async () => {
  [receiver, elsewhere] = await Promise.all([startReceiver(), startReceiver()]);
});
afterAll(async () => {
  await Promise.all([receiver.close(), elsewhere.close()]);
});
beforeEach(() => {
  receiver.reset();
  elsewhere.reset();
});

const sender = (options: Partial<ConstructorParameters<typeof StandardWebhookSender>[0]> = {}) =>
  new StandardWebhookSender({ secret: SECRET, allowPrivateNetworks: true, ...options });

const message = (body: unknown = { type: 'run.completed', secret: BODY_SECRET }): WebhookMessage => ({
  id: `msg_${randomUUID()}`,
  body: JSON.stringify(body),
});

const never = () => new AbortController().signal;

async function failure(call: Promise<unknown>): Promise<OutsideApiError> {
  const caught = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(OutsideApiError);
  const error = caught as OutsideApiError;
  messages.push(error.message);
  expect(error.api).toBe('webhook');
  return error;
}

async function rejection(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The signature a receiver computes from the secret it was given: written here, not imported. */
function independentSignature(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

describe('delivery', () => {
  it('POSTs the body as is with the Standard Webhooks headers and a signature the receiver can verify', async () => {
    const sent = message({ type: 'run.completed', run_id: randomUUID(), note: 'Zoë 🚀', secret: BODY_SECRET });
    const before = Math.floor(Date.now() / 1000);
    await sender().send(`${receiver.origin}/hooks/aga?token=${QUERY_SECRET}&x=1`, sent, never());
    const after = Math.ceil(Date.now() / 1000);

    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe(`/hooks/aga?token=${QUERY_SECRET}&x=1`);
    expect(request?.body).toBe(sent.body);
    const headers = request?.headers ?? {};
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toBe('ai-growth-accelerator-webhooks/1');
    expect(WEBHOOK_USER_AGENT).toBe('ai-growth-accelerator-webhooks/1');
    expect(headers['content-length']).toBe(String(Buffer.byteLength(sent.body)));
    expect(headers.host).toBe(`127.0.0.1:${receiver.port}`);
    expect(headers['webhook-id']).toBe(sent.id);
    const timestamp = String(headers['webhook-timestamp']);
    expect(timestamp).toMatch(/^\d{10}$/);
    expect(Number(timestamp)).toBeGreaterThanOrEqual(before);
    expect(Number(timestamp)).toBeLessThanOrEqual(after);
    expect(headers['webhook-signature']).toBe(independentSignature(SECRET, sent.id, timestamp, request?.body ?? ''));
  });

  it('signs on the wire exactly as the reference vector says', async () => {
    const { secret, id, timestamp, body, signature } = STANDARD_WEBHOOKS_VECTOR;
    // 999 ms into the second: the header carries whole seconds, rounded down.
    await sender({ secret, now: () => timestamp * 1000 + 999 }).send(`${receiver.origin}/`, { id, body }, never());
    const headers = receiver.received[0]?.headers ?? {};
    expect(headers['webhook-timestamp']).toBe(String(timestamp));
    expect(headers['webhook-id']).toBe(id);
    expect(headers['webhook-signature']).toBe(signature);
    expect(receiver.received[0]?.body).toBe(body);
  });

  it('gives every attempt its own timestamp and signature, and keeps the id', async () => {
    const clock = [1_700_000_000_000, 1_700_000_042_000];
    const retrying = sender({ now: () => clock.shift() ?? 0 });
    const sent = message();
    await retrying.send(`${receiver.origin}/`, sent, never());
    await retrying.send(`${receiver.origin}/`, sent, never());
    const [first, second] = receiver.received.map((request) => request.headers);
    expect(first?.['webhook-id']).toBe(sent.id);
    expect(second?.['webhook-id']).toBe(sent.id);
    expect([first?.['webhook-timestamp'], second?.['webhook-timestamp']]).toEqual(['1700000000', '1700000042']);
    expect(second?.['webhook-signature']).toBe(independentSignature(SECRET, sent.id, '1700000042', sent.body));
    expect(first?.['webhook-signature']).not.toBe(second?.['webhook-signature']);
  });

  it.each([200, 201, 202, 204])('resolves on %i', async (status) => {
    receiver.answer({ status, body: status === 204 ? '' : 'ok' });
    await expect(sender().send(`${receiver.origin}/`, message(), never())).resolves.toBeUndefined();
  });

  it('reads a little of a large answer and closes the connection instead of waiting for the rest', async () => {
    receiver.answer({ status: 200, body: Buffer.alloc(8 * 1024 * 1024, 'a') });
    await expect(sender().send(`${receiver.origin}/`, message(), never())).resolves.toBeUndefined();
    receiver.answer({ status: 500, body: Buffer.alloc(8 * 1024 * 1024, 'a') });
    expect(await failure(sender().send(`${receiver.origin}/`, message(), never()))).toMatchObject({ failure: 'unavailable', status: 500 });
  });
});

describe('failures', () => {
  it.each([
    [500, 'unavailable', 'unavailable'],
    [502, 'unavailable', 'unavailable'],
    [503, 'unavailable', 'unavailable'],
    [504, 'unavailable', 'unavailable'],
    [408, 'unavailable', 'unavailable'],
    [400, 'rejected', 'rejected'],
    [401, 'rejected', 'rejected'],
    [403, 'rejected', 'rejected'],
    [404, 'rejected', 'rejected'],
    [410, 'rejected', 'gone'],
    [422, 'rejected', 'rejected'],
    [429, 'rate_limited', 'rate limited'],
  ] as const)('HTTP %i is %s, the message "webhook %i: <reason>" only', async (status, kind, reason) => {
    receiver.answer({ status, body: `{"error":"${RESPONSE_SECRET}"}` });
    const error = await failure(sender().send(`${receiver.origin}/h?token=${QUERY_SECRET}`, message(), never()));
    expect(error).toMatchObject({ failure: kind, status, retryAfterMs: undefined });
    expect(error.message).toBe(`webhook ${status}: ${reason}`);
    expect(receiver.received).toHaveLength(1);
  });

  it('429 and 503 carry retry-after, in milliseconds', async () => {
    receiver.answer({ status: 429, headers: { 'retry-after': '7' } });
    expect(await failure(sender().send(`${receiver.origin}/`, message(), never()))).toMatchObject({ failure: 'rate_limited', retryAfterMs: 7_000 });
    receiver.answer({ status: 503, headers: { 'retry-after': '120' } });
    expect(await failure(sender().send(`${receiver.origin}/`, message(), never()))).toMatchObject({ failure: 'unavailable', retryAfterMs: 120_000 });
    // A 4xx that is not 429 is final: a retry-after there means nothing to the caller.
    receiver.answer({ status: 400, headers: { 'retry-after': '7' } });
    expect(await failure(sender().send(`${receiver.origin}/`, message(), never()))).toMatchObject({ failure: 'rejected', retryAfterMs: undefined });
  });

  it.each([301, 302, 303, 307, 308])('does not follow a %i: rejected, and the redirect target receives nothing', async (status) => {
    receiver.answer({ status, headers: { location: `${elsewhere.origin}/stolen` } });
    const error = await failure(sender().send(`${receiver.origin}/`, message(), never()));
    expect(error).toMatchObject({ failure: 'rejected', status, message: `webhook ${status}: redirect not followed` });
    expect(receiver.received).toHaveLength(1);
    expect(elsewhere.connections).toBe(0);
    expect(elsewhere.received).toEqual([]);
  });

  it('gives up on a receiver that never answers after the timeout, as unavailable', async () => {
    receiver.answer('hang');
    const started = performance.now();
    const error = await failure(sender({ timeoutMs: 300 }).send(`${receiver.origin}/`, message(), never()));
    const elapsed = performance.now() - started;
    expect(error).toMatchObject({ failure: 'unavailable', status: undefined, message: 'webhook: timed out' });
    expect(receiver.received).toHaveLength(1);
    // Timers never fire early; the upper bound leaves a busy 2-core machine seconds of slack.
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(4_000);
  });

  it('times out after 5 s unless told otherwise', () => {
    expect(DEFAULT_WEBHOOK_TIMEOUT_MS).toBe(5_000);
    expect(sender().timeoutMs).toBe(5_000);
    expect(sender({ timeoutMs: 300 }).timeoutMs).toBe(300);
    expect(() => sender({ timeoutMs: 0 })).toThrow(RangeError);
  });

  it("rejects with the caller's abort reason, not a timeout, when the caller aborts", async () => {
    receiver.answer('hang');
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const call = sender({ timeoutMs: 15_000 }).send(`${receiver.origin}/`, message(), controller.signal);
    // Abort once the receiver has the request, so the abort lands mid-flight.
    while (receiver.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const started = performance.now();
    controller.abort(reason);
    expect(await rejection(call)).toBe(reason);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('sends nothing when the signal is already aborted', async () => {
    const reason = new Error('already stopped');
    expect(await rejection(sender().send(`${receiver.origin}/`, message(), AbortSignal.abort(reason)))).toBe(reason);
    expect(receiver.connections).toBe(0);
  });

  it('a refused connection is unavailable, with the error code and not the address', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const error = await failure(sender().send(`http://127.0.0.1:${closedPort}/`, message(), never()));
    expect(error).toMatchObject({ failure: 'unavailable', status: undefined, message: 'webhook: connection error (ECONNREFUSED)' });
  });

  it('a message id the spec forbids is a programming error: TypeError, nothing sent', async () => {
    for (const id of ['run.completed', '', 'has space', 'é', 'x'.repeat(257)]) {
      expect(await rejection(sender().send(`${receiver.origin}/`, { id, body: '{}' }, never()))).toBeInstanceOf(TypeError);
    }
    expect(receiver.connections).toBe(0);
  });

  it('a URL that is not http(s) or carries credentials is rejected at delivery too', async () => {
    for (const url of ['ftp://127.0.0.1/', `http://user:pass@127.0.0.1:${receiver.port}/`, 'not a url']) {
      expect(await failure(sender().send(url, message(), never()))).toMatchObject({ failure: 'rejected', message: 'webhook: invalid url' });
    }
    expect(receiver.connections).toBe(0);
  });
});

describe('SSRF guard (allowPrivateNetworks: false)', () => {
  const guarded = (options: Partial<ConstructorParameters<typeof StandardWebhookSender>[0]> = {}) =>
    sender({ allowPrivateNetworks: false, ...options });
  const v4 = (address: string): LookupAddress => ({ address, family: 4 });

  async function refusal(call: Promise<unknown>): Promise<string> {
    const error = await rejection(call);
    expect(error).toBeInstanceOf(InvalidWebhookUrl);
    return (error as InvalidWebhookUrl).message;
  }

  const NOT_PUBLIC = 'webhook_url resolves to a private, loopback or reserved address; use a public one';

  it.each([
    ['http://127.0.0.1:1/', NOT_PUBLIC],
    ['http://localhost/', NOT_PUBLIC], // resolved for real, through /etc/hosts
    ['http://[::1]/', NOT_PUBLIC],
    ['http://169.254.169.254/latest/meta-data', NOT_PUBLIC],
    ['http://10.0.0.1/', NOT_PUBLIC],
    ['http://[::ffff:127.0.0.1]/', NOT_PUBLIC],
    ['http://[::ffff:a9fe:a9fe]/', NOT_PUBLIC], // the metadata address, IPv4-mapped in hex
    ['http://2130706433/', NOT_PUBLIC], // 127.0.0.1 as one number: URL normalizes it
    ['http://0x7f.1/', NOT_PUBLIC],
    ['http://0.0.0.0:8080/', NOT_PUBLIC],
    ['http://[fd00::1]/', NOT_PUBLIC],
    ['ftp://example.com', 'webhook_url must use http or https'],
    ['file:///etc/passwd', 'webhook_url must use http or https'],
    ['javascript:alert(1)', 'webhook_url must use http or https'],
    ['http://user:pass@example.com/', 'webhook_url must not contain a user name or password'],
    ['https://token@example.com/', 'webhook_url must not contain a user name or password'],
    ['not a url', 'webhook_url is not a valid URL'],
    ['', 'webhook_url is not a valid URL'],
    [`https://example.com/${'a'.repeat(2_100)}`, 'webhook_url is too long (at most 2048 characters)'],
  ])('checkUrl refuses %s', async (url, expected) => {
    expect(await refusal(guarded().checkUrl(url))).toBe(expected);
  });

  it.each([
    ['http://8.8.8.8/hook?x=1', 'http://8.8.8.8/hook?x=1'],
    ['https://[2606:4700:4700::1111]/hook', 'https://[2606:4700:4700::1111]/hook'],
    ['HTTPS://1.1.1.1:443/a/../b#frag', 'https://1.1.1.1/b#frag'],
  ])('checkUrl accepts the public %s and returns it normalized', async (url, normalized) => {
    expect(await guarded().checkUrl(url)).toBe(normalized);
  });

  it('checkUrl resolves names: public answers pass, any non-public answer refuses', async () => {
    const answers: Record<string, LookupAddress[]> = {
      'hooks.customer.test': [v4('93.184.215.14'), { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 }],
      'mixed.customer.test': [v4('93.184.215.14'), v4('10.1.2.3')],
    };
    const resolve: Resolve = (host) => Promise.resolve(answers[host] ?? []);
    expect(await guarded({ resolve }).checkUrl('https://Hooks.Customer.TEST/in')).toBe('https://hooks.customer.test/in');
    expect(await refusal(guarded({ resolve }).checkUrl('https://mixed.customer.test/in'))).toBe(NOT_PUBLIC);
  });

  it('checkUrl says when a host does not resolve, and when resolving failed on our side', async () => {
    const failing =
      (code: string): Resolve =>
      () =>
        Promise.reject(Object.assign(new Error(`getaddrinfo ${code} internal.detail`), { code }));
    expect(await refusal(guarded({ resolve: failing('ENOTFOUND') }).checkUrl('https://nowhere.test/'))).toBe("webhook_url's host does not resolve");
    expect(await refusal(guarded({ resolve: () => Promise.resolve([]) }).checkUrl('https://nowhere.test/'))).toBe("webhook_url's host does not resolve");
    const transient = await refusal(guarded({ resolve: failing('EAI_AGAIN') }).checkUrl('https://slow.test/'));
    expect(transient).toBe("webhook_url's host could not be resolved just now; try again");
    const hanging = await refusal(guarded({ timeoutMs: 200, resolve: () => new Promise<never>(() => undefined) }).checkUrl('https://slow.test/'));
    expect(hanging).toBe(transient);
  });

  it.each([
    ['an IPv4 literal', (port: number) => `http://127.0.0.1:${port}/hook`],
    ['an IPv4-mapped IPv6 literal', (port: number) => `http://[::ffff:127.0.0.1]:${port}/hook`],
    ['a name resolved for real (localhost)', (port: number) => `http://localhost:${port}/hook`],
  ])('send refuses a loopback receiver reached by %s at delivery time: rejected, no connection', async (_how, url) => {
    const error = await failure(guarded().send(url(receiver.port), message(), never()));
    expect(error).toMatchObject({ failure: 'rejected', status: undefined, message: 'webhook: address not allowed' });
    expect(receiver.connections).toBe(0);
    expect(receiver.received).toEqual([]);
  });

  it('closes the DNS-rebinding gap: a name that was public at checkUrl and loopback at delivery is refused', async () => {
    const answers = [[v4('93.184.215.14')], [v4('127.0.0.1')]];
    const rebinding: Resolve = () => Promise.resolve(answers.shift() ?? [v4('127.0.0.1')]);
    const rebound = guarded({ resolve: rebinding });
    const url = await rebound.checkUrl(`http://rebind.customer.test:${receiver.port}/hook`);
    const error = await failure(rebound.send(url, message(), never()));
    expect(error).toMatchObject({ failure: 'rejected', message: 'webhook: address not allowed' });
    expect(receiver.connections).toBe(0);
  });

  it('with private networks allowed, names still go through the injected resolver to the address it gave', async () => {
    const resolve: Resolve = (host) => Promise.resolve(host === 'hooks.customer.test' ? [v4('127.0.0.1')] : []);
    const open = sender({ allowPrivateNetworks: true, resolve });
    const url = await open.checkUrl(`http://hooks.customer.test:${receiver.port}/in`);
    await open.send(url, message(), never());
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.headers.host).toBe(`hooks.customer.test:${receiver.port}`);
  });

  it('with private networks allowed, loopback passes but the scheme and credential rules still hold', async () => {
    const open = sender({ allowPrivateNetworks: true });
    expect(await open.checkUrl('http://127.0.0.1:1/')).toBe('http://127.0.0.1:1/');
    expect(await open.checkUrl(`http://localhost:${receiver.port}/x`)).toBe(`http://localhost:${receiver.port}/x`);
    expect(await refusal(open.checkUrl('ftp://127.0.0.1/'))).toBe('webhook_url must use http or https');
    expect(await refusal(open.checkUrl('http://a:b@127.0.0.1/'))).toBe('webhook_url must not contain a user name or password');
  });
});

describe.skipIf(!hasOpenssl())('https', () => {
  let server: Server;
  let port: number;
  const servernames: Array<string | undefined> = [];
  let requests = 0;

  beforeAll(async () => {
    // A self-signed certificate made for this run: the sender must refuse it like any bad certificate.
    const dir = mkdtempSync(join(tmpdir(), 'aga-webhook-tls-'));
    const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=hooks.customer.test'];
    execFileSync('openssl', [...args, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    const options = { key: readFileSync(keyFile), cert: readFileSync(certFile) };
    rmSync(dir, { recursive: true, force: true });
    server = createHttpsServer(
      {
        ...options,
        SNICallback: (servername, callback) => {
          servernames.push(servername);
          callback(null, createSecureContext(options));
        },
      },
      (_request, response) => {
        requests += 1;
        response.end();
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('speaks TLS to the name (SNI) and refuses a certificate it cannot trust, as unavailable, before sending anything', async () => {
    const resolve: Resolve = () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    const error = await failure(sender({ resolve }).send(`https://hooks.customer.test:${port}/in`, message(), never()));
    expect(error).toMatchObject({ failure: 'unavailable', status: undefined, message: 'webhook: tls error (DEPTH_ZERO_SELF_SIGNED_CERT)' });
    expect(servernames).toEqual(['hooks.customer.test']);
    expect(requests).toBe(0);
  });
});

describe('errors leak nothing', () => {
  it('no error message held the URL, its query, a body or the secret', () => {
    expect(messages.length).toBeGreaterThan(20);
    for (const text of messages) {
      expect(text).toMatch(/^webhook( \d{3})?: [a-z ]+( \([A-Z_]+\))?$/);
      for (const secret of [QUERY_SECRET, BODY_SECRET, RESPONSE_SECRET, SECRET.slice(6, 20), '127.0.0.1', 'localhost', 'customer.test']) {
        expect(text).not.toContain(secret);
      }
    }
  });
});
