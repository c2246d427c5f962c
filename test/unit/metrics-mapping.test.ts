/** The pure mappings behind the metrics' labels: `error.type` and the user class. */
import { describe, expect, it } from 'vitest';
import { errorTypeOf } from '../../adapters/telemetry/error-type.ts';
import { userClassOf } from '../../ports/metrics.port.ts';
import { ApiPaused, OutsideApiError } from '../../ports/outside-api.port.ts';

describe('errorTypeOf', () => {
  it('names an outside API failure by its kind, a timeout and a 5xx apart', () => {
    expect(errorTypeOf(new OutsideApiError('research', 'rate_limited', 'research: HTTP 429', { status: 429 }))).toBe('rate_limited');
    expect(errorTypeOf(new OutsideApiError('research', 'unavailable', 'research: timed out after 60000 ms'))).toBe('timeout');
    expect(errorTypeOf(new OutsideApiError('research', 'unavailable', 'research: HTTP 503', { status: 503 }))).toBe('server_error');
    expect(errorTypeOf(new OutsideApiError('research', 'unavailable', 'research: connection refused'))).toBe('unavailable');
    expect(errorTypeOf(new OutsideApiError('personalization', 'malformed', 'bad JSON'))).toBe('malformed');
    expect(errorTypeOf(new ApiPaused('research', 'out_of_credit', 'paused', 1_000))).toBe('out_of_credit');
    expect(errorTypeOf(new ApiPaused('research', 'unavailable', 'circuit open', 1_000))).toBe('circuit_open');
  });

  it('names any other error by its class, never by its message', () => {
    class LeadGone extends Error {}
    expect(errorTypeOf(new LeadGone('lead 4b1f… of jane@example.com is gone'))).toBe('LeadGone');
    expect(errorTypeOf(new TypeError('x'))).toBe('TypeError');
    expect(errorTypeOf('a string')).toBe('_OTHER');
    expect(errorTypeOf(undefined)).toBe('_OTHER');
  });
});

describe('userClassOf', () => {
  it('is sandbox, demo or standard, sandbox first', () => {
    expect(userClassOf({ sandbox: true, demo: true })).toBe('sandbox');
    expect(userClassOf({ sandbox: false, demo: true })).toBe('demo');
    expect(userClassOf({ sandbox: null, demo: null })).toBe('standard');
    expect(userClassOf({})).toBe('standard');
  });
});
