-- Research once per company, and re-runs without a file (issue 10, items 3 and 4).
--
-- - research_cache: one row per user, company and research prompt: the company's research once
--   saved (text, citations, model, usage, what it cost), and while it is being made, the claim of
--   the one delivery that calls the provider for it (single flight: the others wait for its
--   result instead of paying for the same research). An entry is used while it is younger than
--   RESEARCH_CACHE_TTL (read at use, so a changed TTL applies at once); never across users.
-- - leads.research_cached: the lead's research in its current run was not paid for by this lead
--   (another lead's call for the same company, or its own research reused by a re-run); its
--   research cost is then 0.
-- - campaign_runs.research_cache_hits: such leads the run counted (the projection adds them with
--   the lead's outcome, exactly once).
-- - campaign_runs.research_refresh: a re-run asked for new research ("research": "refresh"):
--   only research saved after the run was created is used.
-- - campaign_runs.selection: what a re-run selected (`{"statuses": [...]}` or `{"lead_ids": n}`);
--   null for a run of an uploaded file.
-- Like every migration, safe to run again.

alter table public.leads add column if not exists research_cached boolean not null default false;
alter table public.campaign_runs add column if not exists research_cache_hits integer not null default 0;
alter table public.campaign_runs add column if not exists research_refresh boolean not null default false;
alter table public.campaign_runs add column if not exists selection jsonb;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_research_cache_hits_nonnegative'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_research_cache_hits_nonnegative check (research_cache_hits >= 0);
  end if;
end
$$;

create table if not exists public.research_cache (
  user_id uuid not null,
  -- domain/research/company.ts companyKey: `domain:<host>` or `name:<normalized name>`.
  company_key text not null,
  -- Hex SHA-256 of the run's research prompt ('' when it has none).
  prompt_hash text not null,
  research text,
  citations jsonb,
  model text,
  -- Token usage of the call: { "inputTokens", "outputTokens" }.
  usage jsonb,
  -- What the call cost (charged to the lead that made it; a lead that reuses it pays 0).
  cost_usd numeric(12, 6),
  -- When the research was saved; null while none is.
  researched_at timestamptz,
  -- The delivery making the company's call, and when its claim lapses unless renewed; null when none.
  owner text,
  claim_expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, company_key, prompt_hash),
  constraint research_cache_held_check check ((owner is null) = (claim_expires_at is null)),
  constraint research_cache_saved_check check ((research is null) = (researched_at is null))
);

-- Old entries are swept a few at a time by each claim.
create index if not exists research_cache_researched_at_idx on public.research_cache (researched_at);

drop trigger if exists research_cache_touch_updated_at on public.research_cache;
create trigger research_cache_touch_updated_at before update on public.research_cache
  for each row execute function public.aga_touch_updated_at();

-- As for the other tables (0003, 0009): the owner reads its rows, nobody else reads or writes.
alter table public.research_cache enable row level security;
revoke all on table public.research_cache from anon, authenticated;
grant select on table public.research_cache to authenticated;
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'public' and tablename = 'research_cache' and policyname = 'research_cache_select_own'
  ) then
    create policy research_cache_select_own on public.research_cache
      for select to authenticated using (user_id = (select auth.uid()));
  end if;
end
$$;
