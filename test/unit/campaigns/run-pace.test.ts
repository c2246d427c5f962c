import { describe, expect, it } from 'vitest';
import { duration, estimateEta, runNotices, type ApiPace, type RunPaceInput } from '../../../domain/campaigns/run-pace.ts';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const MINUTE = 60_000;

function api(name: string, overrides: Partial<ApiPace> = {}): ApiPace {
  return { api: name, state: 'ok', reason: null, cap: null, pacedUntil: null, heldUntil: null, calls: 0, retrying: 0, ...overrides };
}

/** Research capped at 50 a minute (47.5 spread), personalization at 500 (475). */
function capped(rpm: number, setting: string) {
  return { rpm, setting, callsPerMinute: rpm * 0.95 };
}

function input(overrides: Partial<RunPaceInput> = {}): RunPaceInput {
  return { now: NOW, startedAt: NOW - 10 * MINUTE, unsettled: 100, recent: null, apis: [], ...overrides };
}

describe('estimateEta', () => {
  it('is unknown while the number of leads is, and while nothing tells a rate', () => {
    expect(estimateEta(input({ unsettled: null }))).toBeNull();
    expect(estimateEta(input({ apis: [api('research', { calls: 100 })] }))).toBeNull();
  });

  it('is now when no lead is left to settle', () => {
    expect(estimateEta(input({ unsettled: 0 }))).toEqual({ seconds: 0, at: '2026-12-01T10:00:00.000Z' });
  });

  it('takes the leads left at the recent settle rate: the latest settled leads over the time they took', () => {
    // 50 leads settled in the last 100 s: half a lead a second, so 100 leads take 200 s.
    const eta = estimateEta(input({ recent: { settled: 50, oldestAt: NOW - 100_000, all: false } }));
    expect(eta).toEqual({ seconds: 200, at: '2026-12-01T10:03:20.000Z' });
  });

  it('counts from the run\'s start while the sample holds every lead it settled', () => {
    // 10 leads since the start 10 minutes ago: one a minute.
    const eta = estimateEta(input({ unsettled: 5, recent: { settled: 10, oldestAt: NOW - 30_000, all: true } }));
    expect(eta?.seconds).toBe(300);
  });

  it('takes the calls left under a rate cap when nothing settled yet, the slowest API deciding', () => {
    const eta = estimateEta(
      input({
        apis: [
          api('research', { cap: capped(50, 'RESEARCH_RPM'), calls: 95 }),
          api('personalization', { cap: capped(500, 'PERSONALIZATION_RPM'), calls: 115 }),
          api('webhook'),
        ],
      }),
    );
    // 95 research calls at 47.5 a minute: 2 minutes.
    expect(eta?.seconds).toBe(120);
  });

  it('is no sooner than the turns already taken under the cap, other runs\' included', () => {
    const queued = [api('research', { cap: capped(50, 'RESEARCH_RPM'), calls: 10, pacedUntil: NOW + 80_000 })];
    expect(estimateEta(input({ apis: queued }))?.seconds).toBe(80);
  });

  it('is never sooner than the cap allows, nor than the run has been going', () => {
    const paced = [api('research', { cap: capped(50, 'RESEARCH_RPM'), calls: 95 })];
    // Settling fast (the sample) but the cap needs 2 minutes: the cap wins.
    expect(estimateEta(input({ apis: paced, recent: { settled: 50, oldestAt: NOW - 5_000, all: false } }))?.seconds).toBe(120);
    // Settling slower than the cap (other runs share it): the observed rate wins.
    expect(estimateEta(input({ apis: paced, recent: { settled: 10, oldestAt: NOW - 100_000, all: false } }))?.seconds).toBe(1_000);
  });

  it('adds the wait a 429 asked for', () => {
    const held = [api('research', { cap: capped(50, 'RESEARCH_RPM'), calls: 95, heldUntil: NOW + 30_000 })];
    expect(estimateEta(input({ apis: held }))?.seconds).toBe(150);
    const uncapped = [api('research', { calls: 95, heldUntil: NOW + 30_000 })];
    expect(estimateEta(input({ apis: uncapped, recent: { settled: 50, oldestAt: NOW - 100_000, all: false } }))?.seconds).toBe(230);
  });

  it('is unknown while an API the run still needs is paused or its circuit is open, whatever the rate', () => {
    const recent = { settled: 50, oldestAt: NOW - 100_000, all: false };
    for (const state of ['paused', 'circuit_open'] as const) {
      expect(estimateEta(input({ recent, apis: [api('research', { state, reason: 'provider out of credit', calls: 10 })] }))).toBeNull();
    }
    // The webhook comes after the run: its pause holds no lead back.
    expect(estimateEta(input({ recent, apis: [api('webhook', { state: 'paused', reason: 'provider out of credit' })] }))).not.toBeNull();
    // Unknown (the broker away) says nothing about the rate: the observed one stands.
    expect(estimateEta(input({ recent, apis: [api('research', { state: 'unknown', calls: 10 })] }))?.seconds).toBe(200);
  });

  it('rounds up to the second, and states the time to the second', () => {
    const eta = estimateEta(input({ now: NOW + 400, unsettled: 1, recent: { settled: 3, oldestAt: NOW - 1_000, all: false } }));
    // 3 leads in 1.4 s: one more takes 0.467 s, shown as 1 s from the whole second.
    expect(eta).toEqual({ seconds: 1, at: '2026-12-01T10:00:01.000Z' });
  });
});

describe('runNotices', () => {
  it('says a run is paced by a rate cap, naming the setting, with the time left', () => {
    // 1,900 research calls at 47.5 a minute: 40 minutes.
    const pace = input({
      unsettled: 1_900,
      apis: [api('research', { cap: capped(50, 'RESEARCH_RPM'), calls: 1_900, pacedUntil: NOW + 60_000 }), api('personalization', { calls: 2_185 })],
    });
    const eta = estimateEta(pace);
    expect(eta?.seconds).toBe(2_400);
    expect(runNotices(pace, eta)).toEqual([
      { code: 'paced', api: 'research', message: 'Research is paced at 50 requests a minute (RESEARCH_RPM): about 40 minutes left.' },
    ]);
    expect(runNotices(pace, null)).toEqual([{ code: 'paced', api: 'research', message: 'Research is paced at 50 requests a minute (RESEARCH_RPM).' }]);
  });

  it('says nothing of the cap while no call waits for its turn, or the run needs no more calls of it', () => {
    const cap = capped(50, 'RESEARCH_RPM');
    // The next turn only (1.26 s ahead): calls are not queued behind the cap.
    expect(runNotices(input({ apis: [api('research', { cap, calls: 10, pacedUntil: NOW + 1_000 })] }), null)).toEqual([]);
    expect(runNotices(input({ apis: [api('research', { cap, calls: 0, pacedUntil: NOW + 60_000 })] }), null)).toEqual([]);
  });

  it('says when the provider asked to wait (429), rather than the pacing', () => {
    const pace = input({ apis: [api('research', { cap: capped(50, 'RESEARCH_RPM'), calls: 10, pacedUntil: NOW + 60_000, heldUntil: NOW + 30_000 })] });
    expect(runNotices(pace, null)).toEqual([
      { code: 'rate_limited', api: 'research', message: 'Research is rate limited by the provider (HTTP 429): its calls resume in about 30 seconds.' },
    ]);
  });

  it('counts the leads waiting for a retry', () => {
    const pace = input({ apis: [api('research', { calls: 10, retrying: 3 }), api('personalization', { calls: 10, retrying: 1 })] });
    expect(runNotices(pace, null)).toEqual([
      { code: 'retrying', api: 'research', message: '3 leads wait to retry research after a failed call (retried with backoff).' },
      { code: 'retrying', api: 'personalization', message: '1 lead waits to retry personalization after a failed call (retried with backoff).' },
    ]);
  });

  it('tells the APIs that are not ok, as before, each with its code', () => {
    const pace = input({
      apis: [
        api('research', { state: 'paused', reason: 'provider out of credit', calls: 10, heldUntil: NOW + 30_000 }),
        api('personalization', { state: 'circuit_open', reason: 'provider unavailable' }),
        api('webhook', { state: 'unknown', reason: 'state unavailable: the message broker cannot be reached' }),
      ],
    });
    expect(runNotices(pace, null)).toEqual([
      { code: 'provider_paused', api: 'research', message: 'research paused: provider out of credit' },
      { code: 'provider_unavailable', api: 'personalization', message: 'personalization unavailable (circuit open): provider unavailable' },
      { code: 'provider_status_unknown', api: 'webhook', message: 'webhook status unknown: state unavailable: the message broker cannot be reached' },
    ]);
  });
});

describe('duration', () => {
  it('puts a wait in words', () => {
    expect(duration(3_000)).toBe('a few seconds');
    expect(duration(28_000)).toBe('about 30 seconds');
    expect(duration(60_000)).toBe('about 1 minute');
    expect(duration(40 * MINUTE)).toBe('about 40 minutes');
    expect(duration(65 * MINUTE)).toBe('about 1 hour 5 minutes');
    expect(duration(120 * MINUTE)).toBe('about 2 hours');
  });
});
