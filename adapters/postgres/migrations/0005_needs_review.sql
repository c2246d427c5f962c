-- Leads whose opening line failed the quality gates twice end `needs_review`, with the draft as
-- their message and the reasons as their error. The lead status already allows it (0002); the
-- run gets its own counter. Safe to run again, like every migration.
--
-- processed = personalized + needs_review + failed. A needs_review lead adds nothing to the
-- campaign's completed_count or to the user's KPIs: its line was not shipped.

alter table public.campaign_runs add column if not exists needs_review integer not null default 0;

-- PostgreSQL 15 has no ADD CONSTRAINT IF NOT EXISTS.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_needs_review_nonnegative'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_needs_review_nonnegative check (needs_review >= 0);
  end if;
end
$$;
