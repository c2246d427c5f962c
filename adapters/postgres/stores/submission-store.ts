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
import { CampaignNameTakenError } from '../../../ports/campaign-store.port.ts';
import { asPgChange, pgChange, type Lanes } from '../changes.ts';
import { isUuid, toJson, toStoredOutputs } from '../sql.ts';
import { holderOfName } from './campaign-store.ts';

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

/** A campaign's settings, which its new run takes. */
interface CampaignRow {
  id: string;
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
}

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
      // The campaign's settings: a value the submission gives is the run's and, from now on, the
      // campaign's (as its options always were); one it does not give is the campaign's.
      const given = {
        researchPrompt: run.researchPrompt ?? null,
        personalizationPrompt: run.personalizationPrompt ?? null,
        allowQuestions: run.allowQuestions ?? null,
      };
      let campaign: CampaignRow | undefined;
      if (run.campaignId !== undefined) {
        if (!isUuid(run.campaignId)) throw new CampaignNotFoundError();
        [campaign] = await tx<CampaignRow[]>`
          update campaigns set
            options = options || ${tx.json(options)},
            research_prompt = coalesce(${given.researchPrompt}, research_prompt),
            personalization_prompt = coalesce(${given.personalizationPrompt}, personalization_prompt),
            allow_questions = coalesce(${given.allowQuestions}::boolean, allow_questions)
          where id = ${run.campaignId} and user_id = ${run.userId}
          returning id, research_prompt, personalization_prompt, allow_questions`;
        if (campaign === undefined) throw new CampaignNotFoundError();
      } else if (run.campaignName !== undefined) {
        // A name the user already has (the unique index of migration 0014) inserts nothing.
        [campaign] = await tx<CampaignRow[]>`
          insert into campaigns (user_id, name, options, research_prompt, personalization_prompt, allow_questions)
          values (${run.userId}, ${run.campaignName}, ${tx.json(options)}, ${given.researchPrompt}, ${given.personalizationPrompt},
                  ${given.allowQuestions ?? false})
          on conflict do nothing
          returning id, research_prompt, personalization_prompt, allow_questions`;
        if (campaign === undefined) throw new CampaignNameTakenError(await holderOfName(tx, run.userId, run.campaignName));
      } else {
        throw new TypeError('createRun needs a campaignId or a campaignName');
      }
      const campaignId = campaign.id;
      await tx`
        insert into campaign_runs (id, campaign_id, user_id, status, demo, sandbox, file_name, file_ref, research_prompt, personalization_prompt, allow_questions,
                                   submitted_leads, estimated_cost_usd, outputs, template_id)
        values (${runId}, ${campaignId}, ${run.userId}, 'queued', ${run.demo}, ${run.sandbox ?? false}, ${run.fileName}, ${`runs/${runId}`},
                ${campaign.research_prompt}, ${campaign.personalization_prompt}, ${campaign.allow_questions},
                ${run.leads ?? 0}, ${run.estimatedCostUsd ?? '0'},
                ${run.outputs === undefined || run.outputs.length === 0 ? null : tx.json(toJson(toStoredOutputs(run.outputs)))},
                ${run.templateId ?? null})`;
      if (run.idempotency !== undefined) await completeIdempotencyKey(tx, { userId: run.userId, runId, campaignId }, run.idempotency);
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

/** Completes a claimed idempotency key with the run, in the run's transaction; `IdempotencyKeyLostError` when the claim is no longer held. */
export async function completeIdempotencyKey(
  tx: postgres.TransactionSql,
  run: { readonly userId: string; readonly runId: string; readonly campaignId: string },
  idempotency: { readonly key: string; readonly claim: string; readonly fingerprint: string },
): Promise<void> {
  const { key, claim, fingerprint } = idempotency;
  const completed = await tx`
    update idempotency_keys set fingerprint = ${fingerprint}, run_id = ${run.runId}, campaign_id = ${run.campaignId}, completed_at = now()
    where user_id = ${run.userId} and key = ${key} and claim = ${claim} and completed_at is null`;
  if (completed.count !== 1) throw new IdempotencyKeyLostError();
}

/**
 * The user's submission lock, held to the end of the transaction (taken again by checkQuotas, which
 * is allowed): a transaction that locks other rows of the user's (a campaign) takes it first, in
 * the order every submission takes them.
 */
export async function lockUserSubmissions(tx: postgres.TransactionSql, userId: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(${SUBMISSION_LOCK_CLASS}, hashtext(${userId}))`;
}

/**
 * Counts the user's usage and refuses the run when it would pass a limit. The lock serializes the
 * user's submissions (whichever edge took them) from the count to the commit: without it two
 * submissions could both count the same usage and both pass. Other users are not held up.
 */
export async function checkQuotas(tx: postgres.TransactionSql, run: Pick<NewRun, 'userId' | 'leads' | 'estimatedCostUsd'>, limits: QuotaLimits): Promise<void> {
  if (limits.concurrentRuns <= 0 && limits.leadsPerRun <= 0 && limits.leadsPerDay <= 0 && limits.spendPerDayUsd <= 0) return;
  await lockUserSubmissions(tx, run.userId);
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
