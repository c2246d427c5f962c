-- Cancel, pause and resume a run (issue 10, item 2). Like every migration, safe to run again.
--
-- A run may now be `paused` (no new paid call until its owner resumes it) or `cancelled` (no new
-- paid call ever; the leads it had not started end `cancelled`). A lead may end `cancelled`: its
-- run was cancelled before its work was done. A cancelled lead is counted once, like the other
-- final statuses (`counted_run_id`), in the run's `cancelled` counter: not processed, not failed,
-- not in the KPIs, and its cost is only what was paid for it before the cancel.
--
-- The leads' status check also allows `suppressed` (the suppression list, issue 10 item 6, adds
-- it too): whichever migration re-creates the check last keeps both.
--
-- No new table: row-level security (0003) already covers the new columns.

alter table public.campaign_runs add column if not exists cancelled integer not null default 0;
-- When its owner cancelled the run; `completed_at` is when it ended (nothing in flight any more).
alter table public.campaign_runs add column if not exists cancelled_at timestamptz;
-- When its owner paused the run (null while it is not paused).
alter table public.campaign_runs add column if not exists paused_at timestamptz;

-- PostgreSQL 15 has no ADD CONSTRAINT IF NOT EXISTS; a check is re-created only when it lacks a
-- status this migration needs (so a later migration's wider list is left alone).
do $$
declare
  definition text;
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_cancelled_nonnegative'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_cancelled_nonnegative check (cancelled >= 0);
  end if;

  select pg_get_constraintdef(oid) into definition from pg_catalog.pg_constraint
  where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_status_check';
  if definition is null or definition not like '%''paused''%' or definition not like '%''cancelled''%' then
    alter table public.campaign_runs drop constraint if exists campaign_runs_status_check;
    alter table public.campaign_runs add constraint campaign_runs_status_check
      check (status in ('queued', 'extracting', 'personalizing', 'paused', 'completed', 'failed', 'cancelled'));
  end if;

  select pg_get_constraintdef(oid) into definition from pg_catalog.pg_constraint
  where conrelid = 'public.leads'::regclass and conname = 'leads_status_check';
  if definition is null or definition not like '%''cancelled''%' or definition not like '%''suppressed''%' then
    alter table public.leads drop constraint if exists leads_status_check;
    alter table public.leads add constraint leads_status_check check (
      status in ('pending', 'researching', 'researched', 'personalized', 'needs_review', 'failed', 'skipped', 'cancelled', 'suppressed')
    );
  end if;

  -- Only a final lead is counted, and only for the run that owns it (0004): cancelled and
  -- suppressed leads are final.
  select pg_get_constraintdef(oid) into definition from pg_catalog.pg_constraint
  where conrelid = 'public.leads'::regclass and conname = 'leads_counted_for_own_run';
  if definition is null or definition not like '%''cancelled''%' or definition not like '%''suppressed''%' then
    alter table public.leads drop constraint if exists leads_counted_for_own_run;
    alter table public.leads add constraint leads_counted_for_own_run check (
      counted_run_id is null
      or (counted_run_id = run_id and status in ('personalized', 'needs_review', 'failed', 'cancelled', 'suppressed'))
    );
  end if;
end
$$;

-- The reconciler's scan for cancelled runs not ended yet (their leads in flight at the cancel
-- settle by deliveries, whose events a broker could lose): few rows, briefly.
create index if not exists campaign_runs_cancelling_updated_at_idx
  on public.campaign_runs (updated_at)
  where status = 'cancelled' and completed_at is null;
