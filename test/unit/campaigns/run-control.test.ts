/** The run lifecycle's owner actions (domain/campaigns/run.ts): what cancel, pause and resume do to a run in each status. */
import { describe, expect, it } from 'vitest';
import { controlRun, hasEnded, isSettled, takesCalls, type RunStatus } from '../../../domain/campaigns/run.ts';

const ALL: readonly RunStatus[] = ['queued', 'extracting', 'personalizing', 'paused', 'completed', 'failed', 'cancelled'];

describe('controlRun', () => {
  it('cancels any run that has not ended, paused ones included; a cancelled run is left as it is; an ended one refuses', () => {
    for (const status of ['queued', 'extracting', 'personalizing', 'paused'] as const) {
      expect(controlRun('cancel', status, true)).toEqual({ kind: 'apply', to: 'cancelled' });
    }
    expect(controlRun('cancel', 'cancelled', true)).toEqual({ kind: 'unchanged' });
    expect(controlRun('cancel', 'completed', true)).toEqual({ kind: 'refused', reason: 'The run has ended (completed): there is nothing left to cancel.' });
    expect(controlRun('cancel', 'failed', true)).toMatchObject({ kind: 'refused' });
  });

  it('pauses an active run; a paused one is left as it is; an ended or cancelled one refuses', () => {
    for (const status of ['queued', 'extracting', 'personalizing'] as const) {
      expect(controlRun('pause', status, false)).toEqual({ kind: 'apply', to: 'paused' });
    }
    expect(controlRun('pause', 'paused', true)).toEqual({ kind: 'unchanged' });
    for (const status of ['completed', 'failed', 'cancelled'] as const) expect(controlRun('pause', status, true)).toMatchObject({ kind: 'refused' });
  });

  it('resumes only a paused run: back to personalizing, or to extracting while its file was not read to the end', () => {
    expect(controlRun('resume', 'paused', true)).toEqual({ kind: 'apply', to: 'personalizing' });
    expect(controlRun('resume', 'paused', false)).toEqual({ kind: 'apply', to: 'extracting' });
    expect(controlRun('resume', 'personalizing', true)).toEqual({ kind: 'refused', reason: 'The run is not paused (it is personalizing): only a paused run can be resumed.' });
    expect(controlRun('resume', 'cancelled', true)).toEqual({ kind: 'refused', reason: 'The run has ended (cancelled): it cannot be resumed.' });
  });

  it('a run takes calls only while active; paused has not ended, cancelled has', () => {
    expect(ALL.filter(takesCalls)).toEqual(['queued', 'extracting', 'personalizing']);
    expect(ALL.filter(hasEnded)).toEqual(['completed', 'failed', 'cancelled']);
  });

  it('counts cancelled leads towards a settled run', () => {
    const counters = { valid: 10, skipped: 1, personalized: 3, needs_review: 1, failed: 1, suppressed: 1 };
    expect(isSettled(counters)).toBe(false);
    expect(isSettled({ ...counters, cancelled: 2 })).toBe(false);
    expect(isSettled({ ...counters, cancelled: 3 })).toBe(true);
  });
});
