import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOWED_ORIGIN, startTestServer, type TestServer } from '../support/http.ts';

describe('CORS', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  function preflight(origin: string): Promise<Response> {
    return fetch(`${server.baseUrl}/api/campaigns/preview`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type',
      },
    });
  }

  it('answers a preflight from an allowed origin with only GET, POST and OPTIONS, without asking for a token', async () => {
    const res = await preflight(ALLOWED_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(res.headers.get('access-control-allow-methods')?.split(',').sort()).toEqual(['DELETE', 'GET', 'OPTIONS', 'PATCH', 'POST']);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(',').sort()).toEqual([
      'authorization',
      'content-type',
      'idempotency-key',
      'x-request-id',
    ]);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('gives a disallowed origin no Access-Control-Allow-Origin or methods', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.test.evil.example', 'null']) {
      const res = await preflight(origin);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
    }
  });

  it('lets the allowed origin read responses and the X-Request-Id header, errors included', async () => {
    const ok = await fetch(`${server.baseUrl}/healthz`, { headers: { Origin: ALLOWED_ORIGIN } });
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(ok.headers.get('access-control-expose-headers')).toBe('X-Request-Id,Retry-After,Idempotent-Replayed');

    const unauthorized = await fetch(`${server.baseUrl}/api/campaigns/preview`, {
      method: 'POST',
      headers: { Origin: ALLOWED_ORIGIN },
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(unauthorized.headers.get('x-request-id')).toBeTruthy();

    const notFound = await fetch(`${server.baseUrl}/nope`, { headers: { Origin: ALLOWED_ORIGIN } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
  });

  it('gives a simple request from a disallowed origin no Access-Control-Allow-Origin', async () => {
    const res = await fetch(`${server.baseUrl}/healthz`, { headers: { Origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
