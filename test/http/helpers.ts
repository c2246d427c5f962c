import { expect } from 'vitest';

/** A response body, typed for the test's convenience (the assertions check it). */
export async function readJson<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

export interface PreviewJson {
  total_rows: number;
  valid: number;
  duplicates: number;
  demo_excluded: number;
  rejected: { row: number; reason: string }[];
  columns: { original: string; canonical: string | null }[];
  leads: ({ row: number; email: string; company: string; fields: Record<string, string> } & Record<string, unknown>)[];
  suppressed: { row: number; reason: string }[];
}

/** Asserts an RFC 9457 problem response with no stack trace in it, and returns its body. */
export async function expectProblem(res: Response, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const text = await res.text();
  expect(text).not.toMatch(/\bstack\b|\n\s+at |\.ts:\d+/);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body).toMatchObject({ type: 'about:blank', status });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.request_id).toBe(res.headers.get('x-request-id'));
  return body;
}
