-- Extension points for consumers added through the kernel (src/app/kernel/), so that a new
-- consumer needs no schema change of its own for the common needs:
-- - campaigns.options: values a consumer declared for a campaign (e.g. `webhook_url`), submitted
--   as form fields, kept for the campaign's later runs (a later value replaces an earlier one);
-- - run_deliveries: one row per run and consumer that delivers something outside (a webhook, a
--   CRM push): attempts, the last error, when it was delivered. The run's status shows it under
--   the consumer's name.
-- Like every migration, safe to run again.

alter table public.campaigns add column if not exists options jsonb not null default '{}'::jsonb;

-- Target of run_deliveries' (run_id, user_id) foreign key: a delivery's owner is its run's.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_id_user_id_key'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_id_user_id_key unique (id, user_id);
  end if;
end
$$;

create table if not exists public.run_deliveries (
  run_id uuid not null,
  user_id uuid not null,
  -- The consumer that delivers, e.g. `webhook`.
  consumer text not null,
  attempts integer not null default 0,
  -- Why the last attempt failed, as shown to the run's owner (no secrets, no response bodies).
  last_error text,
  delivered_at timestamptz,
  -- Given up: the consumer stopped trying.
  failed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (run_id, consumer),
  constraint run_deliveries_attempts_nonnegative check (attempts >= 0),
  constraint run_deliveries_run_fkey foreign key (run_id, user_id)
    references public.campaign_runs (id, user_id) on delete cascade
);

drop trigger if exists run_deliveries_touch_updated_at on public.run_deliveries;
create trigger run_deliveries_touch_updated_at before update on public.run_deliveries
  for each row execute function public.aga_touch_updated_at();

-- As for the other tables (0003): the owner reads its rows, nobody else reads or writes.
alter table public.run_deliveries enable row level security;
revoke all on table public.run_deliveries from anon, authenticated;
grant select on table public.run_deliveries to authenticated;
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'public' and tablename = 'run_deliveries' and policyname = 'run_deliveries_select_own'
  ) then
    create policy run_deliveries_select_own on public.run_deliveries
      for select to authenticated using (user_id = (select auth.uid()));
  end if;
end
$$;
