-- Suppression and de-duplication across campaigns (issue 10, item 6). Like every migration, safe
-- to run again.
--
-- - suppressions: each user's list of email addresses and domains that no campaign may process.
--   A lead whose email, email domain or website domain is on its owner's list ends `suppressed`
--   before any paid call; so does one personalized in another of the owner's campaigns within the
--   campaign's `skip_personalized_within_days` (a campaign option, kept in campaigns.options).
-- - leads.status gains `suppressed` (final: never researched, never charged, not processed, not
--   in the KPIs). The check also lists `cancelled` (a cancelled run's leads, migration 0015), so
--   that whichever of the two migrations runs last, both statuses are allowed.
-- - A suppressed lead is counted by whoever suppresses it, into its run's `suppressed` counter and
--   `counted_run_id` (so the run's completion check, "no lead left uncounted", needs no change);
--   it is never counted as processed.

create table if not exists public.suppressions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  -- Normalized: an address lower-cased, or a domain lower-cased without scheme, path, `@` or `www.`.
  value text not null,
  kind text not null,
  created_at timestamptz not null default now(),
  constraint suppressions_kind_check check (kind in ('email', 'domain')),
  constraint suppressions_value_normalized check (
    value = lower(value) and value ~ '^[^[:space:]]+$' and char_length(value) <= 254
    and (kind = 'email') = (position('@' in value) > 0)
  ),
  -- One entry per value and user: adding it again is "already present", not an error. Also the
  -- index of the lookups (a lead's keys, a page of the list in value order).
  constraint suppressions_user_id_value_key unique (user_id, value)
);

-- As for the other tables (0003, 0009): the owner reads its rows, nobody else reads or writes.
alter table public.suppressions enable row level security;
revoke all on table public.suppressions from anon, authenticated;
grant select on table public.suppressions to authenticated;
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'public' and tablename = 'suppressions' and policyname = 'suppressions_select_own'
  ) then
    create policy suppressions_select_own on public.suppressions
      for select to authenticated using (user_id = (select auth.uid()));
  end if;
end
$$;

-- Every lead status of 0002 and 0005, plus `cancelled` (0015) and `suppressed`. Re-created only
-- while it lacks one of the two, so running this again does not re-check every lead.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.leads'::regclass and conname = 'leads_status_check'
      and pg_get_constraintdef(oid) like '%''suppressed''%' and pg_get_constraintdef(oid) like '%''cancelled''%'
  ) then
    alter table public.leads drop constraint if exists leads_status_check;
    alter table public.leads add constraint leads_status_check check (
      status in ('pending', 'researching', 'researched', 'personalized', 'needs_review', 'failed', 'skipped', 'cancelled', 'suppressed')
    );
  end if;
end
$$;

-- 0004's rule, with the suppressed leads their run counts when it suppresses them (and cancelled
-- ones, should a run count those). Only a final lead is counted, and only for the run that owns it.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.leads'::regclass and conname = 'leads_counted_for_own_run'
      and pg_get_constraintdef(oid) like '%''suppressed''%'
  ) then
    alter table public.leads drop constraint if exists leads_counted_for_own_run;
    alter table public.leads add constraint leads_counted_for_own_run check (
      counted_run_id is null
      or (counted_run_id = run_id and status in ('personalized', 'needs_review', 'failed', 'cancelled', 'suppressed'))
    );
  end if;
end
$$;

-- The run's suppressed leads: those stored suppressed (set whole when the file is read) plus those
-- suppressed later, before their research (one at a time).
alter table public.campaign_runs add column if not exists suppressed integer not null default 0;
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_suppressed_nonnegative'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_suppressed_nonnegative check (suppressed >= 0);
  end if;
end
$$;

-- "Personalized in any of the user's campaigns in the last N days": a user's personalized leads
-- by email, with when. Partial: only personalized leads are ever looked up this way.
create index if not exists leads_user_id_email_personalized_idx
  on public.leads (user_id, email, settled_at)
  where status = 'personalized';
