/**
 * The edge's write (ports/submission-store.port.ts): a campaign, when new, and a queued run, in
 * one transaction, with the user's quotas checked and the submission's idempotency key completed
 * in it; and the keys' claims.
 */
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { QuotaExceededError, quotaVerdict, type QuotaLimits } from '../../../domain/quotas/quota.ts';
import {
  CampaignNotFoundError,
  IdempotencyKeyLostError,
  type CreatedRun,
  type IdempotencyClaim,
  type NewRun,
  type SubmissionStore,
} from '../../../ports/submission-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import { asPgChange, pgChange, type Lanes } from '../changes.ts';
import { isUuid } from '../sql.ts';

/**
 * The class id of the per-user submission lock (`pg_advisory_xact_lock(class, hashtext(user))`):
 * the two-integer form never collides with a single-bigint advisory lock such as the migrations'.
 */
const SUBMISSION_LOCK_CLASS = 0x41474101; // "AGA" 1
/** How long an idempotency key is kept, from its first claim. */
const KEY_TTL = '24 hours';
/** A claim not renewed for this long belongs to a request that died (an edge that crashed). */
const ABANDONED_CLAIM = '30 seconds';
/** Expired keys deleted per claim: the table keeps about a day of keys without a job of its own. */
const SWEEP_BATCH = 100;

export class PostgresSubmissionStore implements SubmissionStore {
  readonly #lanes: Lanes;
  readonly #perUser = new KeyedQueue();

  constructor(lanes: Lanes) {
    this.#lanes = lanes;
  }

  /**
   * The run row is written once, with its file key `runs/<runId>`. A later run's campaign options
   * replace the stored values of the same names and keep the others.
   */
  createRun(run: NewRun): Change<CreatedRun> {
    const runId = run.runId ?? randomUUID();
    const change = this.#createRun(run, runId);
    if (run.quotas === undefined) return change;
    // One at a time per user in this process before taking a connection: a burst of one user's
    // submissions would otherwise fill the pool with transactions waiting on that user's lock,
    // and hold every other user's submissions (and the pipeline's writes) back.
    const inner = asPgChange(change);
    return pgChange(inner.name, inner.attributes, (emit) => this.#perUser.run(run.userId, () => inner.commit(emit)));
  }

  #createRun(run: NewRun, runId: string): Change<CreatedRun> {
    const options = run.options ?? {};
    return this.#lanes.transaction('createRun', { run_id: runId }, async (tx) => {
      if (run.quotas !== undefined) await checkQuotas(tx, run, run.quotas);
      let campaignId: string;
      if (run.campaignId !== undefined) {
        if (!isUuid(run.campaignId)) throw new CampaignNotFoundError();
        const [campaign] = await tx<{ id: string }[]>`
          update campaigns set options = options || ${tx.json(options)}
          where id = ${run.campaignId} and user_id = ${run.userId}
          returning id`;
        if (campaign === undefined) throw new CampaignNotFoundError();
        campaignId = campaign.id;
      } else if (run.campaignName !== undefined) {
        const [campaign] = await tx<{ id: string }[]>`
          insert into campaigns (user_id, name, options) values (${run.userId}, ${run.campaignName}, ${tx.json(options)}) returning id`;
        campaignId = campaign!.id;
      } else {
        throw new TypeError('createRun needs a campaignId or a campaignName');
      }
      await tx`
        insert into campaign_runs (id, campaign_id, user_id, status, demo, file_name, file_ref, research_prompt, personalization_prompt, allow_questions,
                                   submitted_leads, estimated_cost_usd)
        values (${runId}, ${campaignId}, ${run.userId}, 'queued', ${run.demo}, ${run.fileName}, ${`runs/${runId}`},
                ${run.researchPrompt ?? null}, ${run.personalizationPrompt ?? null}, ${run.allowQuestions ?? false},
                ${run.leads ?? 0}, ${run.estimatedCostUsd ?? '0'})`;
      if (run.idempotency !== undefined) {
        const { key, claim, fingerprint } = run.idempotency;
        const completed = await tx`
          update idempotency_keys set fingerprint = ${fingerprint}, run_id = ${runId}, campaign_id = ${campaignId}, completed_at = now()
          where user_id = ${run.userId} and key = ${key} and claim = ${claim} and completed_at is null`;
        if (completed.count !== 1) throw new IdempotencyKeyLostError();
      }
      return { runId, campaignId, userId: run.userId };
    });
  }

  claimIdempotencyKey(userId: string, key: string): Change<IdempotencyClaim> {
    const claim = randomUUID();
    return this.#lanes.transaction('claimIdempotencyKey', {}, async (tx) => {
      // Another request's sweep may hold some of the rows: skip them rather than wait.
      await tx`
        delete from idempotency_keys where ctid = any(array(
          select ctid from idempotency_keys where expires_at <= now() limit ${SWEEP_BATCH} for update skip locked))`;
      // A key is taken over only when it expired or its request died; otherwise the row stays as
      // it is, locked by this statement until the read below.
      const [claimed] = await tx<{ claim: string }[]>`
        insert into idempotency_keys (user_id, key, claim, expires_at)
        values (${userId}, ${key}, ${claim}, now() + ${KEY_TTL}::interval)
        on conflict (user_id, key) do update
          set claim = excluded.claim, fingerprint = null, run_id = null, campaign_id = null, completed_at = null,
              created_at = now(), alive_at = now(), expires_at = excluded.expires_at
          where idempotency_keys.expires_at <= now()
             or (idempotency_keys.completed_at is null and idempotency_keys.alive_at < now() - ${ABANDONED_CLAIM}::interval)
        returning claim`;
      if (claimed !== undefined) return { state: 'claimed', claim };
      const [held] = await tx<{ fingerprint: string | null; run_id: string | null; campaign_id: string | null }[]>`
        select fingerprint, run_id, campaign_id from idempotency_keys where user_id = ${userId} and key = ${key}`;
      if (held?.fingerprint == null || held.run_id === null || held.campaign_id === null) return { state: 'in_progress' };
      return { state: 'completed', fingerprint: held.fingerprint, runId: held.run_id, campaignId: held.campaign_id };
    });
  }

  renewIdempotencyKey(userId: string, key: string, claim: string): Change<boolean> {
    return this.#lanes.statement('renewIdempotencyKey', {}, async (tx) => {
      const renewed = await tx`
        update idempotency_keys set alive_at = now()
        where user_id = ${userId} and key = ${key} and claim = ${claim} and completed_at is null`;
      return renewed.count === 1;
    });
  }

  releaseIdempotencyKey(userId: string, key: string, claim: string): Change<void> {
    return this.#lanes.transaction('releaseIdempotencyKey', {}, async (tx) => {
      await tx`delete from idempotency_keys where user_id = ${userId} and key = ${key} and claim = ${claim} and completed_at is null`;
    });
  }
}

/**
 * Counts the user's usage and refuses the run when it would pass a limit. The lock serializes the
 * user's submissions (whichever edge took them) from the count to the commit: without it two
 * submissions could both count the same usage and both pass. Other users are not held up.
 */
async function checkQuotas(tx: postgres.TransactionSql, run: NewRun, limits: QuotaLimits): Promise<void> {
  if (limits.concurrentRuns <= 0 && limits.leadsPerRun <= 0 && limits.leadsPerDay <= 0 && limits.spendPerDayUsd <= 0) return;
  await tx`select pg_advisory_xact_lock(${SUBMISSION_LOCK_CLASS}, hashtext(${run.userId}))`;
  const [usage] = await tx<{ active: number; now: number }[]>`
    select (select count(*)::int from campaign_runs
            -- A paused run counts: it has not ended, and a resume starts its calls again.
            where user_id = ${run.userId} and status in ('queued', 'extracting', 'personalizing', 'paused')) as active,
           (extract(epoch from now()) * 1000)::float8 as now`;
  const daily = limits.leadsPerDay > 0 || limits.spendPerDayUsd > 0;
  const recent = daily
    ? await tx<{ at: number; leads: number; cost: string }[]>`
        select (extract(epoch from created_at) * 1000)::float8 as at, submitted_leads as leads, estimated_cost_usd::text as cost
        from campaign_runs where user_id = ${run.userId} and created_at > now() - interval '24 hours'`
    : [];
  const exceeded = quotaVerdict(
    limits,
    {
      activeRuns: usage?.active ?? 0,
      recentRuns: recent.map((row) => ({ submittedAt: row.at, leads: row.leads, estimatedCostUsd: row.cost })),
      now: usage?.now ?? Date.now(),
    },
    { leads: run.leads ?? 0, estimatedCostUsd: run.estimatedCostUsd ?? '0' },
  );
  if (exceeded !== null) throw new QuotaExceededError(exceeded);
}

/** Runs the tasks of one key one after the other; tasks of different keys run side by side. */
class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
