/**
 * The verdict a consumer that calls an outside API gives the runner for each kind of failure:
 * pushback waits and never gives up, a refused input gives up at once, anything else retries.
 */
import { describe, expect, it } from 'vitest';
import { PermanentFailure, RetryLater, type FailureVerdict } from '../../ports/event-consumer.port.ts';
import {
  apiFailureVerdict,
  ApiPaused,
  DEFAULT_PUSHBACK_WAIT_MS,
  isAccountFailure,
  isPushback,
  OutsideApiError,
  type OutsideApiFailure,
} from '../../ports/outside-api.port.ts';

const error = (failure: OutsideApiFailure, retryAfterMs?: number) =>
  new OutsideApiError('webhook', failure, `webhook: ${failure}`, retryAfterMs === undefined ? {} : { retryAfterMs });

describe('apiFailureVerdict', () => {
  it.each<[string, unknown, FailureVerdict]>([
    ['paused (an account failure) waits for its probe', new ApiPaused('research', 'unauthorized', 'research: paused', 30_000), { action: 'wait', afterMs: 30_000 }],
    ['an open circuit waits until its trial', new ApiPaused('research', 'unavailable', 'research: circuit open', 1_500), { action: 'wait', afterMs: 1_500 }],
    ['rate limited with retry-after waits that long', error('rate_limited', 2_000), { action: 'wait', afterMs: 2_000 }],
    ['rate limited without retry-after waits the default', error('rate_limited'), { action: 'wait', afterMs: DEFAULT_PUSHBACK_WAIT_MS }],
    ['out of credit (not yet turned into a pause) waits', error('out_of_credit'), { action: 'wait', afterMs: DEFAULT_PUSHBACK_WAIT_MS }],
    ['a rejected key waits', error('unauthorized'), { action: 'wait', afterMs: DEFAULT_PUSHBACK_WAIT_MS }],
    ['an unknown model waits', error('unknown_model', 0), { action: 'wait', afterMs: 0 }],
    ['a rejected input gives up', error('rejected'), { action: 'give_up' }],
    ['a permanent failure gives up', new PermanentFailure('lead has no company'), { action: 'give_up' }],
    ['unavailable retries with the backoff', error('unavailable'), { action: 'retry' }],
    ['unavailable with retry-after retries after it', error('unavailable', 3_000), { action: 'retry', afterMs: 3_000 }],
    ['a malformed answer retries', error('malformed'), { action: 'retry' }],
    ['RetryLater retries after its delay', new RetryLater('database busy', 700), { action: 'retry', afterMs: 700 }],
    ['an unexpected error retries', new Error('boom'), { action: 'retry' }],
    ['a thrown non-error retries', 'boom', { action: 'retry' }],
  ])('%s', (_name, thrown, verdict) => {
    expect(apiFailureVerdict(thrown)).toEqual(verdict);
  });
});

describe('isAccountFailure and isPushback', () => {
  it('counts the account failures, and pushback as what the work is not at fault for', () => {
    const kinds: OutsideApiFailure[] = ['rate_limited', 'unavailable', 'out_of_credit', 'unauthorized', 'unknown_model', 'rejected', 'malformed'];
    expect(kinds.filter(isAccountFailure)).toEqual(['out_of_credit', 'unauthorized', 'unknown_model']);
    expect(kinds.filter((kind) => isPushback(error(kind)))).toEqual(['rate_limited', 'out_of_credit', 'unauthorized', 'unknown_model']);
    expect(isPushback(new ApiPaused('research', 'unavailable', 'research: circuit open', 1_000))).toBe(true);
    expect(isPushback(new Error('rate_limited'))).toBe(false);
  });

  it('keeps the API, the failure, the delay and the status on ApiPaused', () => {
    const paused = new ApiPaused('research', 'unknown_model', 'perplexity 404: unknown model', 30_000, { status: 404 });
    expect(paused).toBeInstanceOf(OutsideApiError);
    expect(paused).toMatchObject({ name: 'ApiPaused', api: 'research', failure: 'unknown_model', retryAfterMs: 30_000, status: 404 });
  });
});
