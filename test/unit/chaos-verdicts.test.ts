/**
 * The chaos harness's verdicts (scripts/chaos): whether /readyz told the truth around a fault,
 * when a run moved again, and which billed answers were paid for twice. These decide what
 * `npm run chaos` prints, so a verdict that cannot say "no" would hide the faults it is for.
 */
import { describe, expect, it } from 'vitest';
import { judgeReadiness, movedAgain, type Probe } from '../../scripts/chaos/scenarios.ts';
import { extraCalls } from '../../scripts/chaos/truth.ts';

const T0 = 1_000_000;
/** A probe every 500 ms from `from` to `to` (seconds after T0), answering `code(t)`. */
function probes(from: number, to: number, code: (t: number) => number, streamExists?: (t: number) => boolean): Probe[] {
  const list: Probe[] = [];
  for (let t = from; t <= to; t += 0.5) list.push({ at: T0 + t * 1000, code: code(t), streamExists: streamExists?.(t) });
  return list;
}
const fault = { faultStart: T0 + 10_000, faultEnd: T0 + 20_000 };

describe('chaos /readyz verdict', () => {
  it('is truthful when 503 while a dependency is down and 200 once it settled', () => {
    const seen = probes(0, 60, (t) => (t >= 11 && t < 22 ? 503 : 200));
    expect(judgeReadiness(seen, 'dependency-down', fault).truthful).toBe(true);
  });

  it('is not when it says 200 while the dependency is down, or no answer at all', () => {
    expect(judgeReadiness(probes(0, 60, () => 200), 'dependency-down', fault)).toMatchObject({ truthful: false });
    const silent = judgeReadiness(probes(0, 60, (t) => (t >= 11 && t < 20 ? 0 : 200)), 'dependency-down', fault);
    expect(silent.truthful).toBe(false);
    expect(silent.detail).toContain('no answer');
  });

  it('is not when it stays 503 after the dependency came back', () => {
    expect(judgeReadiness(probes(0, 60, (t) => (t >= 11 ? 503 : 200)), 'dependency-down', fault).truthful).toBe(false);
  });

  it('holds the stream-missing window open until the stream exists, and fails a 200 inside it', () => {
    const streamBack = (t: number) => t < 10 || t >= 40;
    const honest = probes(0, 80, (t) => (t >= 11 && t < 41 ? 503 : 200), streamBack);
    expect(judgeReadiness(honest, 'stream-missing', fault).truthful).toBe(true);
    // Today's main: 200 as soon as NATS answers, with the stream still gone.
    const lying = probes(0, 80, (t) => (t >= 11 && t < 21 ? 503 : 200), streamBack);
    expect(judgeReadiness(lying, 'stream-missing', fault).truthful).toBe(false);
    const never = judgeReadiness(probes(0, 80, (t) => (t >= 11 && t < 21 ? 503 : 200), (t) => t < 10), 'stream-missing', fault);
    expect(never).toMatchObject({ truthful: false, detail: expect.stringContaining('never re-created') as unknown });
  });

  it('takes a restarted edge as down until its first 200, and counts a later failure against it', () => {
    const edge = { faultStart: T0 + 10_000, faultEnd: T0 + 10_100 };
    expect(judgeReadiness(probes(0, 30, (t) => (t >= 10 && t < 13 ? 0 : 200)), 'edge-down', edge).truthful).toBe(true);
    expect(judgeReadiness(probes(0, 30, (t) => (t >= 10 && t < 13 ? 0 : t === 20 ? 503 : 200)), 'edge-down', edge).truthful).toBe(false);
  });

  it('wants 200 throughout when nothing it checks was touched', () => {
    expect(judgeReadiness(probes(0, 30, () => 200), 'always-up', fault).truthful).toBe(true);
    expect(judgeReadiness(probes(0, 30, (t) => (t === 15 ? 503 : 200)), 'always-up', fault).truthful).toBe(false);
  });
});

describe('chaos recovery time', () => {
  it('is the time from the fault end to the first sample with more leads processed', () => {
    const samples = [
      { at: T0, processed: 10, status: 'personalizing' },
      { at: T0 + 5_000, processed: 50, status: 'personalizing' },
      { at: T0 + 12_000, processed: 50, status: 'personalizing' },
      { at: T0 + 14_000, processed: undefined, status: undefined },
      { at: T0 + 17_500, processed: 51, status: 'personalizing' },
    ];
    expect(movedAgain(samples, T0 + 10_000)).toBe(7.5);
    expect(movedAgain(samples.slice(0, 4), T0 + 10_000)).toBeUndefined();
  });
});

describe('chaos extra paid calls', () => {
  it('counts answers beyond one per lead per stage, a rewrite being its own stage and malformed ones apart', () => {
    expect(
      extraCalls({
        a: { research: 1, drafts: 1, rewrites: 1, malformed: 0 },
        b: { research: 2, drafts: 2, rewrites: 1, malformed: 1 },
        c: { research: 1, drafts: 1, rewrites: 0, malformed: 2 },
      }),
    ).toEqual({ max: 2, total: 2, malformed: 3 });
  });
});
