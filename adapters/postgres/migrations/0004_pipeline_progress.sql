-- What the pipeline needs on top of 0002: exactly-once counting of each lead's outcome, the
-- provider output kept with the lead, and indexes for the reconciler, the live progress stream
-- and the results pages. Like every migration, safe to run again.
--
-- No new table, so row-level security (0003) already covers every new column: its policies are
-- per row.

-- The run whose counters already include this lead's outcome: null until the projection counts
-- the lead, then its run_id. The projection sets it in the transaction that increments the
-- counters (`... where counted_run_id is null`), so a redelivered or replayed event counts
-- nothing; a run taking the lead over resets it to null.
alter table public.leads add column if not exists counted_run_id uuid;
-- The model that wrote the research (`model` is the one that wrote the message).
alter table public.leads add column if not exists research_model text;
-- The research fact (or lead field) the message relies on, as the writer gave it.
alter table public.leads add column if not exists message_basis text;
-- Provider token usage: { "research": { "inputTokens", "outputTokens" }, "personalization": { ... } }.
alter table public.leads add column if not exists usage jsonb;

-- Only a final lead is counted, and only for the run that owns it: a takeover that forgot to
-- reset the mark would fail here instead of leaving the lead uncountable for its new run.
-- PostgreSQL 15 has no ADD CONSTRAINT IF NOT EXISTS.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.leads'::regclass and conname = 'leads_counted_for_own_run'
  ) then
    alter table public.leads add constraint leads_counted_for_own_run check (
      counted_run_id is null
      or (counted_run_id = run_id and status in ('personalized', 'needs_review', 'failed'))
    );
  end if;
end
$$;

-- Leads whose run has not counted their outcome yet: not final, or final but uncounted. Small by
-- design (it empties as a run settles); the reconciler and "is this run settled?" probe it.
create index if not exists leads_uncounted_run_id_idx
  on public.leads (run_id, id)
  where counted_run_id is null;

-- The live progress stream: a run's settled leads after a (settled_at, id) cursor.
create index if not exists leads_run_id_settled_at_id_idx
  on public.leads (run_id, settled_at, id)
  where settled_at is not null;

-- Results pages without a status filter: where campaign_id = $1 and id > $cursor order by id.
create index if not exists leads_campaign_id_id_idx on public.leads (campaign_id, id);

-- The reconciler's scan for runs that stopped making progress. campaign_runs.updated_at moves on
-- every update of the row (trigger from 0002), and each write of the pipeline to a run (status,
-- totals, counters, an extraction batch) is an update: it is the run's last sign of progress.
create index if not exists campaign_runs_active_updated_at_idx
  on public.campaign_runs (status, updated_at)
  where status in ('queued', 'extracting', 'personalizing');
