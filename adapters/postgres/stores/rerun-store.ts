/**
 * A re-run's write (ports/rerun-store.port.ts): a new run of a campaign over leads it stores, in
 * one transaction that takes them over the way a file's later run does (extraction-store.ts
 * #upsertLeads: `run_id` moves to the new run, progress, message, cost and `counted_run_id` reset,
 * so the projection counts each lead once for its new run), and commits with their events.
 */
import { randomUUID } from 'node:crypto';
import { RERUNNABLE_LEAD_STATUSES, UNENDED_RUN_STATUSES } from '../../../domain/campaigns/run.ts';
import type { ColumnMapping, ImportReport } from '../../../domain/leads/lead.ts';
import { CampaignNotFoundError } from '../../../ports/submission-store.port.ts';
import { NothingToRerunError, RunInProgressError, type CreatedRerun, type NewRerun, type RerunStore } from '../../../ports/rerun-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import type postgres from 'postgres';
import type { Lanes } from '../changes.ts';
import { isUuid, toJson } from '../sql.ts';
import { checkQuotas, completeIdempotencyKey, lockUserSubmissions } from './submission-store.ts';

interface SelectedLead {
  id: string;
  /** Its research is kept (made for the same research prompt, and no refresh asked). */
  reuse: boolean;
  /** Counted personalized into the campaign's count by its earlier run. */
  counted_personalized: boolean;
}

/** The prompts and options a re-run takes when its request leaves them out. */
export interface CampaignDefaults {
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
  /** The custom outputs of the campaign's latest run (stored as campaign_runs.outputs keeps them). */
  readonly outputs: unknown;
}

/**
 * The campaign's settings for a run that does not send its own: its prompts and `allow_questions`
 * (campaigns' columns, migration 0014: what the latest submission or `PATCH /api/campaigns/:id`
 * set), and the custom outputs its latest run asked for.
 */
export async function campaignDefaults(tx: postgres.TransactionSql, campaignId: string): Promise<CampaignDefaults> {
  const [campaign] = await tx<{ research_prompt: string | null; personalization_prompt: string | null; allow_questions: boolean; outputs: unknown }[]>`
    select c.research_prompt, c.personalization_prompt, c.allow_questions,
           (select r.outputs from campaign_runs r where r.campaign_id = c.id order by r.created_at desc, r.id desc limit 1) as outputs
    from campaigns c where c.id = ${campaignId}`;
  return {
    researchPrompt: campaign?.research_prompt ?? null,
    personalizationPrompt: campaign?.personalization_prompt ?? null,
    allowQuestions: campaign?.allow_questions ?? false,
    outputs: campaign?.outputs ?? null,
  };
}

export class PostgresRerunStore implements RerunStore {
  readonly #lanes: Lanes;

  constructor(lanes: Lanes) {
    this.#lanes = lanes;
  }

  /**
   * Locks in every submission's order: the user's submission lock, then the campaign's row (which a
   * file's submission to the campaign also updates), then the leads, in id order. The campaign's
   * lock makes the "no run in progress" check hold until the run is recorded.
   */
  createRerun(rerun: NewRerun): Change<CreatedRerun> {
    const runId = randomUUID();
    return this.#lanes.transaction('createRerun', { run_id: runId }, async (tx) => {
      if (!isUuid(rerun.campaignId)) throw new CampaignNotFoundError();
      await lockUserSubmissions(tx, rerun.userId);
      const [campaign] = await tx<{ id: string }[]>`
        select id from campaigns where id = ${rerun.campaignId} and user_id = ${rerun.userId} for update`;
      if (campaign === undefined) throw new CampaignNotFoundError();
      const [active] = await tx<{ id: string; status: string }[]>`
        select id, status from campaign_runs
        where campaign_id = ${rerun.campaignId} and status in ${tx(UNENDED_RUN_STATUSES)}
        order by created_at desc limit 1`;
      if (active !== undefined) throw new RunInProgressError(active.id, active.status);

      const defaults = await campaignDefaults(tx, rerun.campaignId);
      const researchPrompt = rerun.researchPrompt ?? defaults.researchPrompt;
      const personalizationPrompt = rerun.personalizationPrompt ?? defaults.personalizationPrompt;
      const allowQuestions = rerun.allowQuestions ?? defaults.allowQuestions;
      // As for a submission: a setting the request gives becomes the campaign's, for its later runs.
      await tx`
        update campaigns set research_prompt = ${researchPrompt}, personalization_prompt = ${personalizationPrompt}, allow_questions = ${allowQuestions}
        where id = ${rerun.campaignId}`;

      const selection = 'statuses' in rerun.selection
        ? tx`and l.status = any(${[...rerun.selection.statuses]}::text[])`
        : tx`and l.id = any(${rerun.selection.leadIds.filter(isUuid)}::uuid[])`;
      const leads = await tx<SelectedLead[]>`
        select l.id,
               (l.research is not null and not ${rerun.refreshResearch}
                and coalesce(r.research_prompt, '') = ${researchPrompt ?? ''}
                -- Made-up research (a sandbox run) is never reused by a real run, nor the other way.
                and r.sandbox = ${rerun.sandbox ?? false}) as reuse,
               (l.status = 'personalized' and l.counted_run_id is not null) as counted_personalized
        from leads l
        join campaign_runs r on r.id = l.run_id
        where l.campaign_id = ${rerun.campaignId} and l.user_id = ${rerun.userId}
          and l.status in ${tx(RERUNNABLE_LEAD_STATUSES)}
          ${selection}
        order by l.id
        for update of l`;
      if (leads.length === 0) throw new NothingToRerunError();
      const researchCalls = leads.filter((lead) => !lead.reuse).length;
      const estimatedCostUsd = rerun.estimate(leads.length, researchCalls);
      if (rerun.quotas !== undefined) await checkQuotas(tx, { userId: rerun.userId, leads: leads.length, estimatedCostUsd }, rerun.quotas);

      const columns = await sourceColumns(tx, leads.map((lead) => lead.id));
      const report: ImportReport = { total_rows: leads.length, valid: leads.length, duplicates: 0, rejected: [], columns, demo_excluded: 0 };
      const chosen = 'statuses' in rerun.selection ? { statuses: rerun.selection.statuses } : { lead_ids: leads.length };
      await tx`
        insert into campaign_runs (id, campaign_id, user_id, status, demo, sandbox, research_prompt, personalization_prompt, allow_questions, outputs,
                                   columns, import_report, total_rows, valid, submitted_leads, estimated_cost_usd, research_refresh, selection)
        values (${runId}, ${rerun.campaignId}, ${rerun.userId}, 'personalizing', false, ${rerun.sandbox ?? false}, ${researchPrompt}, ${personalizationPrompt}, ${allowQuestions},
                ${defaults.outputs === null ? null : tx.json(defaults.outputs as postgres.JSONValue)},
                ${tx.json(toJson(columns))}, ${tx.json(toJson(report))}, ${leads.length}, ${leads.length}, ${leads.length}, ${estimatedCostUsd},
                ${rerun.refreshResearch}, ${tx.json(toJson(chosen))})`;

      // The takeover: as a later file's run takes a lead over, with the research kept where reused.
      await tx`
        update leads l set
          run_id = ${runId},
          status = case when s.reuse then 'researched' else 'pending' end,
          research = case when s.reuse then l.research end,
          citations = case when s.reuse then l.citations end,
          research_model = case when s.reuse then l.research_model end,
          research_cached = s.reuse,
          usage = case when s.reuse and l.usage ? 'research' then jsonb_build_object('research', l.usage -> 'research') end,
          message = null,
          outputs = null,
          message_basis = null,
          model = null,
          error = null,
          attempts = 0,
          cost_usd = 0,
          settled_at = null,
          counted_run_id = null
        from (select t.id, t.id = any(${leads.filter((lead) => lead.reuse).map((lead) => lead.id)}::uuid[]) as reuse
              from unnest(${leads.map((lead) => lead.id)}::uuid[]) as t(id)) as s
        where l.id = s.id`;
      // The campaign counts its personalized leads: one that is written again is counted again when it is.
      const uncounted = leads.filter((lead) => lead.counted_personalized).length;
      if (uncounted > 0) {
        await tx`update campaigns set completed_count = greatest(0, completed_count - ${uncounted}) where id = ${rerun.campaignId}`;
      }
      if (rerun.idempotency !== undefined) {
        await completeIdempotencyKey(tx, { userId: rerun.userId, runId, campaignId: rerun.campaignId }, rerun.idempotency);
      }
      return {
        runId,
        campaignId: rerun.campaignId,
        userId: rerun.userId,
        pending: leads.filter((lead) => !lead.reuse).map((lead) => lead.id),
        researched: leads.filter((lead) => lead.reuse).map((lead) => lead.id),
      };
    });
  }
}

/**
 * The column mappings of the runs the leads come from, oldest run first, each header kept as many
 * times as the run that repeats it most has it (as the export's header union): the export names
 * its columns after the runs that own leads, and these leads now belong to the re-run.
 */
async function sourceColumns(tx: postgres.TransactionSql, leadIds: readonly string[]): Promise<ColumnMapping[]> {
  const runs = await tx<{ columns: ColumnMapping[] | null }[]>`
    select r.columns from campaign_runs r
    where r.id in (select distinct l.run_id from leads l where l.id = any(${[...leadIds]}::uuid[]))
    order by r.created_at, r.id`;
  const union: ColumnMapping[] = [];
  const kept = new Map<string, number>();
  for (const run of runs) {
    const seen = new Map<string, number>();
    for (const column of run.columns ?? []) {
      const occurrence = (seen.get(column.original) ?? 0) + 1;
      seen.set(column.original, occurrence);
      if (occurrence > (kept.get(column.original) ?? 0)) {
        kept.set(column.original, occurrence);
        union.push(column);
      }
    }
  }
  return union;
}
