-- The store: campaigns, their runs, one row per lead, and per-user KPIs.
--
-- user_id is the uuid from the access token's `sub` claim. It deliberately has no foreign key to
-- auth.users: a user may reach us with a valid token before any local auth.users row exists (and
-- on plain PostgreSQL there is no auth.users at all). Every table carries user_id so that
-- row-level security (0003) is one equality per table, and the composite foreign keys below make
-- a child row's user_id and campaign_id agree with its parent's, so a row can never be visible to
-- a user who does not own its campaign.

-- Keeps updated_at honest whatever code path writes a row. search_path is pinned (empty) so the
-- function cannot be redirected by a caller's search_path; now() lives in pg_catalog.
create or replace function public.aga_touch_updated_at() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create table if not exists public.campaigns (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  name text not null,
  completed_count integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint campaigns_name_length check (char_length(btrim(name)) between 1 and 200),
  constraint campaigns_completed_count_nonnegative check (completed_count >= 0),
  -- Target of the children's (campaign_id, user_id) foreign keys.
  constraint campaigns_id_user_id_key unique (id, user_id)
);

create index if not exists campaigns_user_id_created_at_idx
  on public.campaigns (user_id, created_at desc);

-- One processing of a campaign's file: the seed's "AGA Runs Progress".
create table if not exists public.campaign_runs (
  id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null,
  user_id uuid not null,
  status text not null default 'queued',
  demo boolean not null default false,
  research_prompt text,
  personalization_prompt text,
  file_name text,
  -- Key of the uploaded file in the object store.
  file_ref text,
  -- The import's column mapping: [{ original, canonical }], in file order.
  columns jsonb,
  import_report jsonb,
  total_rows integer not null default 0,
  valid integer not null default 0,
  duplicates integer not null default 0,
  rejected_rows integer not null default 0,
  skipped integer not null default 0,
  processed integer not null default 0,
  personalized integer not null default 0,
  failed integer not null default 0,
  error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  constraint campaign_runs_status_check
    check (status in ('queued', 'extracting', 'personalizing', 'completed', 'failed')),
  constraint campaign_runs_counters_nonnegative check (
    total_rows >= 0 and valid >= 0 and duplicates >= 0 and rejected_rows >= 0
    and skipped >= 0 and processed >= 0 and personalized >= 0 and failed >= 0
  ),
  constraint campaign_runs_campaign_fkey foreign key (campaign_id, user_id)
    references public.campaigns (id, user_id) on delete cascade,
  -- Target of leads' (run_id, campaign_id) foreign key.
  constraint campaign_runs_id_campaign_id_key unique (id, campaign_id)
);

create index if not exists campaign_runs_campaign_id_created_at_idx
  on public.campaign_runs (campaign_id, created_at);
create index if not exists campaign_runs_user_id_created_at_idx
  on public.campaign_runs (user_id, created_at desc);

-- One row per lead per campaign (never one JSON array per campaign: concurrent writers would
-- overwrite each other's leads). email is the normalized de-duplication key.
create table if not exists public.leads (
  id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null,
  -- The run that last processed this lead.
  run_id uuid not null,
  user_id uuid not null,
  -- Row in the source file as a spreadsheet shows it (the header is row 1).
  row_number integer not null,
  email text not null,
  company text not null,
  -- Canonical fields by name: { "first_name": "Ada", ... }.
  canonical jsonb not null default '{}',
  -- Every original column in file order, as [[header, value], ...]: a jsonb object would not
  -- keep the order, and headers may repeat.
  fields jsonb not null,
  status text not null default 'pending',
  research text,
  citations jsonb,
  message text,
  error text,
  attempts integer not null default 0,
  -- The model that wrote the message.
  model text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- When the lead reached a final status.
  settled_at timestamptz,
  constraint leads_campaign_id_email_key unique (campaign_id, email),
  -- Normalized as the import normalizes it: lower-cased, no whitespace anywhere (so trimmed), not empty.
  constraint leads_email_normalized check (email = lower(email) and email ~ '^[^[:space:]]+$'),
  constraint leads_company_not_blank check (btrim(company) <> ''),
  constraint leads_row_number_positive check (row_number >= 1),
  constraint leads_attempts_nonnegative check (attempts >= 0),
  constraint leads_canonical_is_object check (jsonb_typeof(canonical) = 'object'),
  constraint leads_fields_is_array check (jsonb_typeof(fields) = 'array'),
  constraint leads_status_check check (
    status in ('pending', 'researching', 'researched', 'personalized', 'needs_review', 'failed', 'skipped')
  ),
  constraint leads_campaign_fkey foreign key (campaign_id, user_id)
    references public.campaigns (id, user_id) on delete cascade,
  constraint leads_run_fkey foreign key (run_id, campaign_id)
    references public.campaign_runs (id, campaign_id) on delete cascade
);

create index if not exists leads_run_id_status_idx on public.leads (run_id, status);
-- Cursor pagination of a campaign's leads, optionally by status: where ... and id > $cursor order by id.
create index if not exists leads_campaign_id_status_id_idx on public.leads (campaign_id, status, id);

-- Per-user KPIs. Money and hours are numeric: exact cents, no float drift (the seed stored integer money).
create table if not exists public.client_metrics (
  user_id uuid primary key,
  leads_personalized bigint not null default 0,
  hours_saved numeric(14, 2) not null default 0,
  money_saved numeric(14, 2) not null default 0,
  updated_at timestamptz not null default now(),
  constraint client_metrics_nonnegative
    check (leads_personalized >= 0 and hours_saved >= 0 and money_saved >= 0)
);

-- PostgreSQL 15 has no CREATE TRIGGER IF NOT EXISTS: create each trigger only when absent.
do $$
declare
  table_name text;
begin
  foreach table_name in array array['campaigns', 'campaign_runs', 'leads', 'client_metrics'] loop
    if not exists (
      select 1
      from pg_catalog.pg_trigger
      where tgrelid = format('public.%I', table_name)::regclass
        and tgname = table_name || '_touch_updated_at'
    ) then
      execute format(
        'create trigger %I before update on public.%I for each row execute function public.aga_touch_updated_at()',
        table_name || '_touch_updated_at',
        table_name
      );
    end if;
  end loop;
end
$$;
