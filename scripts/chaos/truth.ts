/**
 * What a scenario's run really did, read from the harness's own PostgreSQL (the source of truth)
 * and the sandbox's billing ledger, never from the service's own report of itself:
 *
 * - lost: leads of the file that did not end in a final status (personalized, failed, or
 *   needs_review: a final status a person acts on), including rows that never became leads;
 * - counted twice: how far the run's counters and the campaign's count run over the leads they
 *   count (a lead counted twice shows up as one more than there are);
 * - KPI drift: the user's KPI counters against the personalized leads (each user runs one
 *   scenario's file, so they must agree exactly), in leads and in cents of money and hours;
 * - extra paid calls: well-formed answers the sandbox billed beyond one per lead per stage
 *   (research, first draft, rewrite), keyed by the lead's company, unique per lead in the file.
 *   Malformed answers are billed too, but their retry is the provider's fault: counted apart.
 *   Where the paid-call claims exist (migration 0012, `paid_call_claims.calls_started` per lead,
 *   run and stage), the calls the service itself says it started beyond one are read as well.
 */
import type postgres from 'postgres';
import type { BillingEntry } from '../../adapters/sandbox/admin.ts';

export const HOURS_PER_LEAD = 0.02;
export const MONEY_PER_LEAD = 0.04;

export interface Truth {
  readonly runStatus: string;
  readonly lost: number;
  readonly personalized: number;
  readonly failed: number;
  readonly needsReview: number;
  readonly countedTwice: number;
  /** KPI counter minus what the leads say: leads, and hours and money in cents. */
  readonly drift: { readonly leads: number; readonly hoursCents: number; readonly moneyCents: number };
  readonly extraPaid: { readonly max: number; readonly total: number; readonly malformed: number };
  /** From the claims' counters, per lead and stage; undefined where the table does not exist. */
  readonly claimedExtra: { readonly max: number; readonly total: number } | undefined;
}

export async function readTruth(sql: postgres.Sql, input: { userId: string; runId: string | undefined; fileLeads: number; billing: Record<string, BillingEntry> }): Promise<Truth> {
  const extraPaid = extraCalls(input.billing);
  if (input.runId === undefined) {
    return { runStatus: 'not submitted', lost: input.fileLeads, personalized: 0, failed: 0, needsReview: 0, countedTwice: 0, drift: { leads: 0, hoursCents: 0, moneyCents: 0 }, extraPaid, claimedExtra: undefined };
  }
  const [leads] = await sql<{ personalized: number; failed: number; needs_review: number; counted: number; counted_personalized: number }[]>`
    select count(*) filter (where status = 'personalized')::int as personalized,
           count(*) filter (where status = 'failed')::int as failed,
           count(*) filter (where status = 'needs_review')::int as needs_review,
           count(*) filter (where counted_run_id = ${input.runId})::int as counted,
           count(*) filter (where counted_run_id = ${input.runId} and status = 'personalized')::int as counted_personalized
    from leads where run_id = ${input.runId}`;
  const [run] = await sql<{ status: string; processed: number; personalized: number; failed: number; completed_count: number }[]>`
    select r.status, r.processed, r.personalized, r.failed, c.completed_count
    from campaign_runs r join campaigns c on c.id = r.campaign_id where r.id = ${input.runId}`;
  const [userLeads] = await sql<{ personalized: number }[]>`
    select count(*)::int as personalized from leads where user_id = ${input.userId} and status = 'personalized'`;
  const [metrics] = await sql<{ leads_personalized: string; hours_cents: string; money_cents: string }[]>`
    select leads_personalized, (hours_saved * 100)::bigint as hours_cents, (money_saved * 100)::bigint as money_cents
    from client_metrics where user_id = ${input.userId}`;
  if (leads === undefined || run === undefined || userLeads === undefined) throw new Error(`run ${input.runId} is not in the database`);

  const [claims] = await sql<{ present: boolean }[]>`select to_regclass('public.paid_call_claims') is not null as present`;
  let claimedExtra: Truth['claimedExtra'];
  if (claims?.present === true) {
    const [row] = await sql<{ max: number; total: number }[]>`
      select coalesce(max(calls_started - 1), 0)::int as max, coalesce(sum(calls_started - 1) filter (where calls_started > 1), 0)::int as total
      from paid_call_claims where run_id = ${input.runId}`;
    claimedExtra = { max: Math.max(0, row?.max ?? 0), total: row?.total ?? 0 };
  }

  const settled = leads.personalized + leads.failed + leads.needs_review;
  const countedTwice = Math.max(0, run.processed - leads.counted, run.personalized - leads.counted_personalized, run.completed_count - leads.personalized);
  const kpiLeads = Number(metrics?.leads_personalized ?? 0);
  return {
    runStatus: run.status,
    lost: Math.max(0, input.fileLeads - settled),
    personalized: leads.personalized,
    failed: leads.failed,
    needsReview: leads.needs_review,
    countedTwice,
    drift: {
      leads: kpiLeads - userLeads.personalized,
      hoursCents: Number(metrics?.hours_cents ?? 0) - Math.round(userLeads.personalized * HOURS_PER_LEAD * 100),
      moneyCents: Number(metrics?.money_cents ?? 0) - Math.round(userLeads.personalized * MONEY_PER_LEAD * 100),
    },
    extraPaid,
    claimedExtra,
  };
}

export function extraCalls(billing: Record<string, BillingEntry>): Truth['extraPaid'] {
  let max = 0;
  let total = 0;
  let malformed = 0;
  for (const entry of Object.values(billing)) {
    const extra = Math.max(0, entry.research - 1) + Math.max(0, entry.drafts - 1) + Math.max(0, entry.rewrites - 1);
    max = Math.max(max, extra);
    total += extra;
    malformed += entry.malformed;
  }
  return { max, total, malformed };
}

/** Rows a failed upload left behind for this user: a campaign, a run or a lead. */
export async function halfMade(sql: postgres.Sql, userId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select (select count(*) from campaigns where user_id = ${userId})
         + (select count(*) from campaign_runs where user_id = ${userId})
         + (select count(*) from leads where user_id = ${userId}) as n`;
  return Number(row?.n ?? 0);
}
