/**
 * Research's and personalization's reads and writes of one lead (ports/lead-work-store.port.ts).
 * Every statement is guarded by the lead's run and expected status, so a redelivered event finds
 * nothing to do; each runs in the shared statement lane (group commit across leads).
 */
import { NO_PIPELINE_METRICS, userClassOf, type PipelineMetrics, type UserClass } from '../../../ports/metrics.port.ts';
import type postgres from 'postgres';
import { FINAL_LEAD_STATUSES, hasEnded, RUN_CANCELLED_REASON, UNENDED_RUN_STATUSES, type LeadStatus, type RunStatus } from '../../../domain/campaigns/run.ts';
import type { CanonicalValues } from '../../../domain/leads/lead.ts';
import type { UsdAmount } from '../../../domain/pricing/pricing.ts';
import type { CallClaim, ClaimOutcome, LeadWork, LeadWorkStore, PaidCall, PaidStage } from '../../../ports/lead-work-store.port.ts';
import type { Citation, Draft, DraftFeedback, Research, Usage } from '../../../ports/providers.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import { followedBy, type Lanes } from '../changes.ts';
import type { Sql } from '../client.ts';
import { GroupCommit } from '../group-commit.ts';
import { callEntry, fromStoredOutputs, retryOnDeadlock, toJson, usageEntry, type StoredOutputSpec } from '../sql.ts';
import { traced } from '../traced.ts';

interface LeadWorkRow {
  id: string;
  run_id: string;
  user_id: string;
  status: LeadStatus;
  email: string;
  company: string;
  canonical: CanonicalValues;
  fields: [string, string][];
  research: string | null;
  citations: Citation[] | null;
  research_model: string | null;
  usage: { research?: Usage } | null;
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
  outputs: StoredOutputSpec[] | null;
  sandbox: boolean;
  rejected_draft: DraftFeedback | null;
}

/** Where a lead's stage starts: the status a claim on its call requires. */
const STAGE_STARTS: Readonly<Record<PaidStage, LeadStatus>> = { research: 'pending', personalization: 'researched' };

export class PostgresLeadWorkStore implements LeadWorkStore {
  readonly #lanes: Lanes;
  readonly #sql: Sql;
  /** The runs' statuses read before calls go out, many calls' in one short transaction. */
  readonly #callChecks = new GroupCommit<string, RunStatus | null>((runIds) => this.#runStatuses(runIds));

  readonly #metrics: PipelineMetrics;

  /** `metrics` records a lead cancelled or suppressed here, once its commit is done. */
  constructor(lanes: Lanes, sql: Sql, metrics: PipelineMetrics = NO_PIPELINE_METRICS) {
    this.#lanes = lanes;
    this.#sql = sql;
    this.#metrics = metrics;
  }

  leadWork(leadId: string, runId: string): Promise<LeadWork | null> {
    return traced('leadWork', { run_id: runId, lead_id: leadId }, async () => {
      // Batched with the lane's writes (one round trip for many leads), committing nothing.
      const [row] = await this.#lanes.read((tx) => tx<LeadWorkRow[]>`
          select l.id, l.run_id, l.user_id, l.status, l.email, l.company, l.canonical, l.fields, l.research, l.citations, l.research_model,
                 l.usage, r.research_prompt, r.personalization_prompt, r.allow_questions, r.outputs, r.sandbox, c.rejected_draft
          from leads l
          join campaign_runs r on r.id = l.run_id
          left join paid_call_claims c on c.lead_id = l.id and c.run_id = l.run_id and c.stage = 'personalization'
          where l.id = ${leadId} and l.run_id = ${runId}`);
      if (row === undefined) return null;
      return {
        leadId: row.id,
        runId: row.run_id,
        userId: row.user_id,
        status: row.status,
        lead: { email: row.email, company: row.company, canonical: row.canonical },
        fields: row.fields.map(([header, value]) => ({ header, value })),
        research: toResearch(row),
        researchPrompt: row.research_prompt,
        personalizationPrompt: row.personalization_prompt,
        allowQuestions: row.allow_questions,
        outputs: fromStoredOutputs(row.outputs),
        sandbox: row.sandbox,
        rejectedDraft: row.rejected_draft,
      };
    });
  }

  saveResearch(leadId: string, runId: string, research: Research, costUsd: UsdAmount): Change<boolean> {
    return this.#lanes.statement('saveResearch', { run_id: runId, lead_id: leadId }, (tx) => saveResearchStatement(tx, leadId, runId, research, costUsd));
  }

  saveDraft(leadId: string, runId: string, draft: Draft, costUsd: UsdAmount, problems?: string): Change<boolean> {
    const call = { stage: 'personalization', model: draft.model, ...(draft.usage === undefined ? {} : { usage: draft.usage }), costUsd } as const;
    const status = problems === undefined ? 'personalized' : 'needs_review';
    return this.#lanes.statement('saveDraft', { run_id: runId, lead_id: leadId, 'lead.status': status }, async (tx) => {
      const { count } = await tx`
        update leads set
          status = ${status},
          attempts = attempts + 1,
          message = ${draft.message},
          message_basis = ${draft.basis},
          outputs = ${draft.outputs === undefined ? null : tx.json(toJson(draft.outputs))},
          model = ${draft.model},
          error = ${problems ?? null},
          usage = coalesce(usage, '{}'::jsonb) || ${tx.json(usageEntry('personalization', draft.usage))} || ${callEntry(tx, call, costUsd)},
          cost_usd = cost_usd + ${costUsd}::numeric,
          settled_at = clock_timestamp()
        where id = ${leadId} and run_id = ${runId} and status = 'researched'`;
      await releaseStatement(tx, leadId, runId, 'personalization');
      if (count > 0) return true;
      await addCostStatement(tx, leadId, runId, call);
      return false;
    });
  }

  /**
   * Three statements in the lane's transaction: the lead and its run as they are; then the claim,
   * one upsert that either inserts it, takes over a released or lapsed one, or leaves a live one
   * alone (two claimers of one lead serialise on its row: the second sees the first's claim); then,
   * when not granted, how long the live claim has left. Expiries are the database's clock, so
   * processes whose clocks differ agree on them.
   */
  claimCall(claim: CallClaim): Change<ClaimOutcome> {
    const { leadId, runId, stage, owner, leaseMs } = claim;
    return this.#lanes.statement('claimCall', { run_id: runId, lead_id: leadId, stage }, async (tx): Promise<ClaimOutcome> => {
      const [lead] = await tx<{ status: LeadStatus; run_status: RunStatus }[]>`
        select l.status, r.status as run_status
        from leads l join campaign_runs r on r.id = l.run_id
        where l.id = ${leadId} and l.run_id = ${runId}`;
      if (lead === undefined || FINAL_LEAD_STATUSES.includes(lead.status)) return { kind: 'done' };
      if (lead.run_status === 'cancelled') return { kind: 'cancelled' };
      if (hasEnded(lead.run_status)) return { kind: 'ended' };
      if (lead.run_status === 'paused') return { kind: 'paused' };
      if (lead.status !== STAGE_STARTS[stage]) return { kind: 'done' };
      const [claimed] = await tx<{ calls_started: number }[]>`
        insert into paid_call_claims as c (lead_id, run_id, stage, owner, expires_at, calls_started)
        values (${leadId}, ${runId}, ${stage}, ${owner}, clock_timestamp() + ${leaseMs} * interval '1 millisecond', 1)
        on conflict (lead_id, run_id, stage) do update set
          owner = excluded.owner,
          expires_at = excluded.expires_at,
          calls_started = c.calls_started + 1,
          updated_at = now()
        where c.owner is null or c.expires_at <= clock_timestamp()
        returning c.calls_started`;
      if (claimed !== undefined) return { kind: 'claimed', callsStarted: claimed.calls_started };
      const [held] = await tx<{ ms: number | null }[]>`
        select greatest(0, ceil(extract(epoch from expires_at - clock_timestamp()) * 1000))::float8 as ms
        from paid_call_claims where lead_id = ${leadId} and run_id = ${runId} and stage = ${stage}`;
      // Released between the two statements (a concurrent save, or a failed call given back): the
      // lead's status now says what is next, so the caller looks again at once.
      return { kind: 'held', expiresInMs: held?.ms ?? 0 };
    });
  }

  runStatusForCall(runId: string): Promise<RunStatus | null> {
    return traced('runStatusForCall', { run_id: runId }, () => this.#callChecks.submit(runId));
  }

  /**
   * One transaction of its own (not the statement lane's) holding nothing but share locks on run
   * rows, taken in one statement: it waits for a cancel or pause of one of them that is not
   * committed yet and then reads its new status, and a cancel or pause that comes after it waits
   * until it commits. It never waits for anything a cancel holds but the run row, so the two
   * cannot deadlock; the lane's transactions mix leads and runs, and would.
   */
  async #runStatuses(runIds: readonly string[]): Promise<readonly (RunStatus | null)[]> {
    const unique = [...new Set(runIds)].sort();
    // Runs locked in id order; a projection batch updating several of them in another order may
    // deadlock with it, and PostgreSQL then aborts one of the two: retried.
    const rows = await retryOnDeadlock(
      () =>
        this.#sql.begin((tx) => tx<{ id: string; status: RunStatus }[]>`
          select id, status from campaign_runs where id = any(${tx.array(unique)}::uuid[]) order by id for share`) as Promise<{ id: string; status: RunStatus }[]>,
    );
    const statuses = new Map(rows.map((row) => [row.id, row.status]));
    return runIds.map((runId) => statuses.get(runId) ?? null);
  }

  /**
   * The lead first, then the run (the projection's lock order), in one statement: the lead is
   * cancelled and marked counted only while its run is cancelled, and the run's counter and cost
   * take it in the same statement, so it is counted once whoever else cancels it.
   */
  cancelLead(leadId: string, runId: string): Change<boolean> {
    let userClass: UserClass = 'standard';
    const change = this.#lanes.statement('cancelLead', { run_id: runId, lead_id: leadId }, async (tx) => {
      const rows = await tx<{ id: string; sandbox: boolean | null; demo: boolean | null }[]>`
        with lead as (
          update leads l set status = 'cancelled', error = ${RUN_CANCELLED_REASON}, settled_at = clock_timestamp(), counted_run_id = l.run_id
          where l.id = ${leadId} and l.run_id = ${runId} and l.status not in ${tx(FINAL_LEAD_STATUSES)} and l.counted_run_id is null
            and exists (select 1 from campaign_runs r where r.id = l.run_id and r.status = 'cancelled')
          returning l.id, l.cost_usd
        ), run as (
          update campaign_runs r set cancelled = r.cancelled + 1, cost_usd = r.cost_usd + lead.cost_usd
          from lead where r.id = ${runId}
        )
        select id, (select sandbox from campaign_runs where id = ${runId}) as sandbox, (select demo from campaign_runs where id = ${runId}) as demo from lead`;
      if (rows[0] !== undefined) userClass = userClassOf(rows[0]);
      return rows.length > 0;
    });
    return followedBy(change, (cancelled) => {
      if (cancelled) this.#metrics.leadsSettled('cancelled', userClass);
      return Promise.resolve();
    });
  }

  renewClaim(claim: CallClaim): Change<boolean> {
    const { leadId, runId, stage, owner, leaseMs } = claim;
    return this.#lanes.statement('renewClaim', { run_id: runId, lead_id: leadId, stage }, async (tx) => {
      const { count } = await tx`
        update paid_call_claims set expires_at = clock_timestamp() + ${leaseMs} * interval '1 millisecond', updated_at = now()
        where lead_id = ${leadId} and run_id = ${runId} and stage = ${stage} and owner = ${owner}`;
      return count > 0;
    });
  }

  releaseClaim(claim: Omit<CallClaim, 'leaseMs'>, called: boolean): Change<void> {
    const { leadId, runId, stage, owner } = claim;
    return this.#lanes.statement('releaseClaim', { run_id: runId, lead_id: leadId, stage }, async (tx) => {
      await tx`
        update paid_call_claims set
          owner = null,
          expires_at = null,
          calls_started = calls_started - ${called ? 0 : 1},
          -- A call made and failed: the lead waits for its retry (the run's status counts it).
          failed_at = case when ${called} then clock_timestamp() else failed_at end,
          updated_at = now()
        where lead_id = ${leadId} and run_id = ${runId} and stage = ${stage} and owner = ${owner}`;
    });
  }

  addCost(leadId: string, runId: string, call: PaidCall): Change<void> {
    return this.#lanes.statement('addCost', { run_id: runId, lead_id: leadId }, (tx) => addCostStatement(tx, leadId, runId, call));
  }

  keepRejectedDraft(leadId: string, runId: string, call: PaidCall, rejected: DraftFeedback): Change<void> {
    return this.#lanes.statement('keepRejectedDraft', { run_id: runId, lead_id: leadId }, async (tx) => {
      await addCostStatement(tx, leadId, runId, call);
      await tx`
        update paid_call_claims set rejected_draft = ${tx.json(toJson(rejected))}, updated_at = now()
        where lead_id = ${leadId} and run_id = ${runId} and stage = 'personalization'`;
    });
  }

  /**
   * One statement: the lead first, then its run's counter (the projection's lock order), both only
   * when the lead was pending for a run that has not ended (a paused one too: no call is made). The lead is counted for its run as it
   * is suppressed: no projection event follows, and the run's completion check finds it counted.
   */
  saveSuppressed(leadId: string, runId: string, reason: string): Change<boolean> {
    let userClass: UserClass = 'standard';
    const change = this.#lanes.statement('saveSuppressed', { run_id: runId, lead_id: leadId }, async (tx) => {
      const [row] = await tx<{ suppressed: number; sandbox: boolean | null; demo: boolean | null }[]>`
        with lead as (
          update leads set status = 'suppressed', error = ${reason}, settled_at = clock_timestamp(), counted_run_id = run_id
          where id = ${leadId} and run_id = ${runId} and status in ('pending', 'researched')
            and exists (select 1 from campaign_runs where id = ${runId} and status in ${tx(UNENDED_RUN_STATUSES)})
          returning run_id
        ), run as (
          update campaign_runs set suppressed = suppressed + 1
          where id = ${runId} and exists (select 1 from lead)
        )
        select count(*)::int as suppressed,
               (select sandbox from campaign_runs where id = ${runId}) as sandbox, (select demo from campaign_runs where id = ${runId}) as demo
        from lead`;
      if (row !== undefined) userClass = userClassOf(row);
      return (row?.suppressed ?? 0) > 0;
    });
    return followedBy(change, (suppressed) => {
      if (suppressed) this.#metrics.leadsSettled('suppressed', userClass);
      return Promise.resolve();
    });
  }

  saveFailed(leadId: string, runId: string, reason: string): Change<boolean> {
    return this.#lanes.statement('saveFailed', { run_id: runId, lead_id: leadId }, async (tx) => {
      const { count } = await tx`
        update leads set status = 'failed', error = ${reason}, settled_at = clock_timestamp()
        where id = ${leadId} and run_id = ${runId} and status not in ${tx(FINAL_LEAD_STATUSES)}`;
      // Settled: no longer waiting for a retry.
      if (count > 0) await tx`update paid_call_claims set failed_at = null where lead_id = ${leadId} and run_id = ${runId} and failed_at is not null`;
      return count > 0;
    });
  }

  /** Also a sign of life for the reconciler: the update moves the lead's `updated_at`. */
  recordAttempt(leadId: string, runId: string): Change<void> {
    return this.#lanes.statement('recordAttempt', { run_id: runId, lead_id: leadId }, async (tx) => {
      await tx`
        update leads set attempts = attempts + 1
        where id = ${leadId} and run_id = ${runId} and status not in ${tx(FINAL_LEAD_STATUSES)}`;
    });
  }
}

/**
 * pending → researched with a paid call's research and cost, releasing the stage's claim; when the
 * lead was not pending for this run, the call's cost alone (it was paid for all the same). Shared
 * with the research cache's save (research-cache.ts), which adds the company's entry to it.
 */
export async function saveResearchStatement(tx: postgres.TransactionSql, leadId: string, runId: string, research: Research, costUsd: UsdAmount): Promise<boolean> {
  const call = { stage: 'research', model: research.model, ...(research.usage === undefined ? {} : { usage: research.usage }), costUsd } as const;
  const { count } = await tx`
    update leads set
      status = 'researched',
      attempts = attempts + 1,
      research = ${research.text},
      citations = ${tx.json(toJson(research.citations))},
      research_model = ${research.model},
      research_cached = false,
      usage = coalesce(usage, '{}'::jsonb) || ${tx.json(usageEntry('research', research.usage))} || ${callEntry(tx, call, costUsd)},
      cost_usd = cost_usd + ${costUsd}::numeric
    where id = ${leadId} and run_id = ${runId} and status = 'pending'`;
  await releaseStatement(tx, leadId, runId, 'research');
  if (count > 0) return true;
  // Another delivery saved first, or the lead was failed meanwhile: this call was paid for all the same.
  await addCostStatement(tx, leadId, runId, call);
  return false;
}

/**
 * One statement: the lead first, then (when its outcome is counted already, say a slow call that
 * lost the race to a concurrent delivery) the run, in the projection's lock order. A projection
 * counting the lead meanwhile either sees this cost in the lead's, or has committed before this
 * statement re-reads the lead and finds it counted.
 */
async function addCostStatement(tx: postgres.TransactionSql, leadId: string, runId: string, call: PaidCall): Promise<void> {
  await tx`
    with lead as (
      update leads set
        usage = coalesce(usage, '{}'::jsonb) || ${callEntry(tx, call, call.costUsd)},
        cost_usd = cost_usd + ${call.costUsd}::numeric
      where id = ${leadId} and run_id = ${runId}
      returning counted_run_id
    )
    update campaign_runs set cost_usd = cost_usd + ${call.costUsd}::numeric
    where id = ${runId} and exists (select 1 from lead where counted_run_id is not null)`;
}

/** Releases the stage's claim, whoever holds it: the stage's result is saved (or the lead moved on). */
async function releaseStatement(tx: postgres.TransactionSql, leadId: string, runId: string, stage: PaidStage): Promise<void> {
  await tx`
    update paid_call_claims set owner = null, expires_at = null, failed_at = null, updated_at = now()
    where lead_id = ${leadId} and run_id = ${runId} and stage = ${stage} and (owner is not null or failed_at is not null)`;
}

function toResearch(row: LeadWorkRow): Research | null {
  if (row.research === null) return null;
  const usage = row.usage?.research;
  return {
    text: row.research,
    citations: row.citations ?? [],
    // Written with the research, so present whenever research is.
    model: row.research_model ?? '',
    ...(usage === undefined ? {} : { usage }),
  };
}
