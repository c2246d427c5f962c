/** The quota verdict (domain/quotas): which limit a new run passes, and when waiting helps. */
import { describe, expect, it } from 'vitest';
import { NO_QUOTAS, quotaVerdict, QUOTA_WINDOW_MS, type RecentRun } from '../../domain/quotas/quota.ts';

const NOW = Date.UTC(2026, 11, 3, 12);
const HOUR = 3_600_000;

function run(hoursAgo: number, leads: number, cost = '0'): RecentRun {
  return { submittedAt: NOW - hoursAgo * HOUR, leads, estimatedCostUsd: cost };
}

describe('quotaVerdict', () => {
  it('lets anything through with no limits (0 = no limit)', () => {
    expect(quotaVerdict(NO_QUOTAS, { activeRuns: 1_000, recentRuns: [run(1, 1e9, '1e6')], now: NOW }, { leads: 1e9, estimatedCostUsd: '999999.000000' })).toBeNull();
  });

  it('refuses a file over leads_per_run whatever the usage, with no Retry-After', () => {
    expect(quotaVerdict({ ...NO_QUOTAS, leadsPerRun: 10, concurrentRuns: 1 }, { activeRuns: 5, recentRuns: [], now: NOW }, { leads: 11, estimatedCostUsd: '0' })).toEqual({
      limit: 'leads_per_run',
      limitValue: 10,
      used: 11,
      requested: 11,
      retryAfterSec: undefined,
    });
    expect(quotaVerdict({ ...NO_QUOTAS, leadsPerRun: 10 }, { activeRuns: 0, recentRuns: [], now: NOW }, { leads: 10, estimatedCostUsd: '0' })).toBeNull();
  });

  it('refuses at the concurrent limit, suggesting 30 seconds', () => {
    const limits = { ...NO_QUOTAS, concurrentRuns: 2 };
    expect(quotaVerdict(limits, { activeRuns: 1, recentRuns: [], now: NOW }, { leads: 1, estimatedCostUsd: '0' })).toBeNull();
    expect(quotaVerdict(limits, { activeRuns: 2, recentRuns: [], now: NOW }, { leads: 1, estimatedCostUsd: '0' })).toMatchObject({ limit: 'concurrent_runs', used: 2, retryAfterSec: 30 });
  });

  it('waits for the oldest runs that must leave the 24-hour window, and ignores runs already out of it', () => {
    const limits = { ...NO_QUOTAS, leadsPerDay: 100 };
    const recentRuns = [run(2, 50), run(20, 30), run(25, 1_000)];
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns, now: NOW }, { leads: 20, estimatedCostUsd: '0' })).toBeNull();
    // 80 used; 30 more needs the 20-hour-old run gone (in 4 hours), 60 more needs both (in 22 hours).
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns, now: NOW }, { leads: 30, estimatedCostUsd: '0' })).toEqual({
      limit: 'leads_per_day',
      limitValue: 100,
      used: 80,
      requested: 30,
      retryAfterSec: 4 * 3600,
    });
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns, now: NOW }, { leads: 60, estimatedCostUsd: '0' })?.retryAfterSec).toBe(22 * 3600);
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns, now: NOW }, { leads: 101, estimatedCostUsd: '0' })?.retryAfterSec).toBeUndefined();
    // A run at the very edge of the window leaves it in a second at most.
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns: [{ submittedAt: NOW - QUOTA_WINDOW_MS + 1, leads: 100, estimatedCostUsd: '0' }], now: NOW }, { leads: 1, estimatedCostUsd: '0' })?.retryAfterSec).toBe(1);
  });

  it('sums the spend exactly, in micro-dollars', () => {
    const limits = { ...NO_QUOTAS, spendPerDayUsd: 0.3 };
    const recentRuns = [run(1, 0, '0.100000'), run(2, 0, '0.100000')];
    // 0.1 + 0.1 + 0.1 is exactly 0.3 here (as floats it would be 0.30000000000000004 > 0.3).
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns, now: NOW }, { leads: 1, estimatedCostUsd: '0.100000' })).toBeNull();
    expect(quotaVerdict(limits, { activeRuns: 0, recentRuns, now: NOW }, { leads: 1, estimatedCostUsd: '0.100001' })).toMatchObject({
      limit: 'spend_per_day_usd',
      limitValue: 0.3,
      used: 0.2,
      requested: 0.100001,
      retryAfterSec: 22 * 3600, // the older run (2 hours ago) leaving is enough
    });
  });
});
