-- Row-level security: a Supabase client holding a user's JWT (role `authenticated`) reads only
-- that user's rows, and writes nothing. The service writes through its own connection as the
-- table owner (or service_role on Supabase), which row-level security does not restrict.

alter table public.campaigns enable row level security;
alter table public.campaign_runs enable row level security;
alter table public.leads enable row level security;
alter table public.client_metrics enable row level security;

-- Privileges first, then rows. Supabase's default privileges grant ALL on new tables to anon
-- and authenticated; take that back so both platforms end up identical: anon gets nothing,
-- authenticated gets SELECT only (TRUNCATE, for one, is not subject to row-level security).
revoke all on table public.campaigns, public.campaign_runs, public.leads, public.client_metrics
  from anon, authenticated;
grant select on table public.campaigns, public.campaign_runs, public.leads, public.client_metrics
  to authenticated;

-- One read policy per table. `(select auth.uid())` rather than `auth.uid()` lets the planner
-- evaluate it once per query instead of once per row (Supabase's recommended form).
-- PostgreSQL 15 has no CREATE POLICY IF NOT EXISTS: create each policy only when absent.
do $$
declare
  table_name text;
begin
  foreach table_name in array array['campaigns', 'campaign_runs', 'leads', 'client_metrics'] loop
    if not exists (
      select 1
      from pg_catalog.pg_policies
      where schemaname = 'public' and tablename = table_name and policyname = table_name || '_select_own'
    ) then
      execute format(
        'create policy %I on public.%I for select to authenticated using (user_id = (select auth.uid()))',
        table_name || '_select_own',
        table_name
      );
    end if;
  end loop;
end
$$;
