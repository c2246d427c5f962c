/**
 * Per-user quotas on submissions, so that one tenant cannot starve the others of the providers'
 * rate limits or run up the bill: runs not yet ended, valid leads per run, valid leads and
 * estimated spend per rolling 24 hours. A limit of 0 means no limit.
 *
 * The verdict is pure: the store counts the user's usage under a per-user lock, in the same
 * transaction that would record the run, and asks `quotaVerdict` whether the new run fits.
 */
import { usdToMicros, type UsdAmount } from '../pricing/pricing.ts';

export type QuotaName = 'concurrent_runs' | 'leads_per_run' | 'leads_per_day' | 'spend_per_day_usd';

/** Each limit; 0 = no limit. */
export interface QuotaLimits {
  /** Runs of the user not yet ended (queued, extracting, personalizing, paused). */
  readonly concurrentRuns: number;
  /** Valid leads in one file. */
  readonly leadsPerRun: number;
  /** Valid leads submitted in the last 24 hours. */
  readonly leadsPerDay: number;
  /** Sum of the runs' cost estimates in the last 24 hours, in USD. */
  readonly spendPerDayUsd: number;
}

/** No limit at all. */
export const NO_QUOTAS: QuotaLimits = { concurrentRuns: 0, leadsPerRun: 0, leadsPerDay: 0, spendPerDayUsd: 0 };

/**
 * Defaults a real team would not hit by accident but that stop abuse: 5 runs in flight (a team
 * submits a list, not a stream of them); 100,000 leads per file, the largest file the import is
 * built for (10 MB); 200,000 leads and $4,000 of estimated provider spend a day (about 220,000
 * leads at the default prices, so the lead limit binds first unless prices are set higher). One
 * user cannot hold the shared provider rate limits for more than about a day's worth, and a leaked
 * token cannot spend without bound.
 */
export const DEFAULT_QUOTAS: QuotaLimits = { concurrentRuns: 5, leadsPerRun: 100_000, leadsPerDay: 200_000, spendPerDayUsd: 4_000 };

/** The rolling window of the daily limits. */
export const QUOTA_WINDOW_MS = 24 * 60 * 60 * 1000;

/** How long to suggest waiting when the runs in flight are at their limit: runs end at their own pace. */
export const CONCURRENT_RUNS_RETRY_AFTER_SEC = 30;

/** A run submitted within the window: when, and what it counted. */
export interface RecentRun {
  /** Milliseconds since the epoch. */
  readonly submittedAt: number;
  readonly leads: number;
  readonly estimatedCostUsd: UsdAmount;
}

export interface QuotaUsage {
  /** Runs of the user not yet ended. */
  readonly activeRuns: number;
  /** The user's runs submitted in the last 24 hours, in any order. */
  readonly recentRuns: readonly RecentRun[];
  /** Now, in milliseconds since the epoch (the database's clock, shared by every edge). */
  readonly now: number;
}

/** What the new run would add. */
export interface QuotaRequest {
  readonly leads: number;
  readonly estimatedCostUsd: UsdAmount;
}

export interface QuotaExceeded {
  readonly limit: QuotaName;
  /** The configured limit (USD for spend). */
  readonly limitValue: number;
  /** What is used already (without this run): runs in flight, leads or USD in the window; for leads_per_run, this file's leads. */
  readonly used: number;
  /** What this run asks for (leads or USD; 1 run). */
  readonly requested: number;
  /** Seconds until enough of the window frees up; undefined when waiting cannot help. */
  readonly retryAfterSec: number | undefined;
}

/** A submission refused by a quota. */
export class QuotaExceededError extends Error {
  readonly exceeded: QuotaExceeded;

  constructor(exceeded: QuotaExceeded) {
    super(`quota ${exceeded.limit} exceeded`);
    this.name = 'QuotaExceededError';
    this.exceeded = exceeded;
  }
}

/**
 * The first limit the new run would pass, or null when it fits. Checked in this order: the file
 * itself (leads per run), runs in flight, then the daily leads and spend.
 */
export function quotaVerdict(limits: QuotaLimits, usage: QuotaUsage, request: QuotaRequest): QuotaExceeded | null {
  if (limits.leadsPerRun > 0 && request.leads > limits.leadsPerRun) {
    // Waiting does not help: only a smaller file does.
    return { limit: 'leads_per_run', limitValue: limits.leadsPerRun, used: request.leads, requested: request.leads, retryAfterSec: undefined };
  }
  if (limits.concurrentRuns > 0 && usage.activeRuns >= limits.concurrentRuns) {
    return {
      limit: 'concurrent_runs',
      limitValue: limits.concurrentRuns,
      used: usage.activeRuns,
      requested: 1,
      retryAfterSec: CONCURRENT_RUNS_RETRY_AFTER_SEC,
    };
  }
  const recent = usage.recentRuns.filter((run) => run.submittedAt > usage.now - QUOTA_WINDOW_MS).sort((a, b) => a.submittedAt - b.submittedAt);
  if (limits.leadsPerDay > 0) {
    const over = windowVerdict(recent, usage.now, BigInt(limits.leadsPerDay), BigInt(request.leads), (run) => BigInt(run.leads));
    if (over !== null) {
      return { limit: 'leads_per_day', limitValue: limits.leadsPerDay, used: Number(over.used), requested: request.leads, retryAfterSec: over.retryAfterSec };
    }
  }
  if (limits.spendPerDayUsd > 0) {
    const limit = BigInt(Math.round(limits.spendPerDayUsd * 1e6));
    const requested = usdToMicros(request.estimatedCostUsd);
    const over = windowVerdict(recent, usage.now, limit, requested, (run) => usdToMicros(run.estimatedCostUsd));
    if (over !== null) {
      return {
        limit: 'spend_per_day_usd',
        limitValue: limits.spendPerDayUsd,
        used: microsToNumber(over.used),
        requested: microsToNumber(requested),
        retryAfterSec: over.retryAfterSec,
      };
    }
  }
  return null;
}

/**
 * Whether `requested` fits under `limit` with what the window holds; if not, how long until
 * enough of it has aged out: the oldest runs leave the window first, 24 hours after they came.
 */
function windowVerdict(
  oldestFirst: readonly RecentRun[],
  now: number,
  limit: bigint,
  requested: bigint,
  amount: (run: RecentRun) => bigint,
): { used: bigint; retryAfterSec: number | undefined } | null {
  const used = oldestFirst.reduce((sum, run) => sum + amount(run), 0n);
  if (used + requested <= limit) return null;
  // More than the whole window allows: no wait helps, only a smaller file.
  if (requested > limit) return { used, retryAfterSec: undefined };
  let remaining = used;
  for (const run of oldestFirst) {
    remaining -= amount(run);
    if (remaining + requested <= limit) {
      return { used, retryAfterSec: Math.max(1, Math.ceil((run.submittedAt + QUOTA_WINDOW_MS - now) / 1000)) };
    }
  }
  return { used, retryAfterSec: undefined }; // unreachable: an empty window fits `requested <= limit`
}

function microsToNumber(micros: bigint): number {
  return Number(micros) / 1e6;
}
