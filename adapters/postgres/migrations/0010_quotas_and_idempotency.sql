-- Per-user quotas on submissions and idempotent submissions (POST /api/campaigns/process).
-- - campaign_runs.submitted_leads / estimated_cost_usd: what a run counted against the daily
--   quotas when it was submitted (valid leads to process, and the estimate the preview would
--   show), so the rolling 24-hour sums need no join and do not change as the run progresses.
-- - idempotency_keys: one row per user and Idempotency-Key, kept 24 hours: held by the request
--   in progress, then completed with its run in the run's own transaction.
-- Like every migration, safe to run again.

alter table public.campaign_runs add column if not exists submitted_leads integer not null default 0;
alter table public.campaign_runs add column if not exists estimated_cost_usd numeric(12,6) not null default 0;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_quota_counts_nonnegative'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_quota_counts_nonnegative
      check (submitted_leads >= 0 and estimated_cost_usd >= 0);
  end if;
end
$$;

-- The runs in flight of a user, counted on every submission: few rows, whatever the history.
create index if not exists campaign_runs_user_id_active_idx
  on public.campaign_runs (user_id) where status in ('queued', 'extracting', 'personalizing');

create table if not exists public.idempotency_keys (
  user_id uuid not null,
  -- The client's Idempotency-Key, 1 to 255 characters.
  key text not null,
  -- The request holding the key: only it may complete or release it.
  claim uuid not null,
  -- Hex SHA-256 of the request that completed the key (null while in progress).
  fingerprint text,
  -- The run that request created: a retry is answered with it.
  run_id uuid,
  campaign_id uuid,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  -- The holding request's last sign of life (it renews the claim while it reads the upload): a
  -- claim not renewed for 30 s belongs to a request that died, and the key is free again.
  alive_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (user_id, key),
  constraint idempotency_keys_key_length check (char_length(key) between 1 and 255),
  constraint idempotency_keys_completed check (
    (completed_at is null) = (fingerprint is null) and (completed_at is null) = (run_id is null)
  ),
  constraint idempotency_keys_run_fkey foreign key (run_id) references public.campaign_runs (id) on delete cascade
);

-- Expired keys are swept a few at a time by each claim.
create index if not exists idempotency_keys_expires_at_idx on public.idempotency_keys (expires_at);
-- The foreign key's lookups when a run is deleted.
create index if not exists idempotency_keys_run_id_idx on public.idempotency_keys (run_id) where run_id is not null;

-- Only the backend's own connection uses the keys (as for the outbox, 0008): no privilege for
-- Supabase's API roles, and row-level security without a policy besides.
revoke all on table public.idempotency_keys from anon, authenticated;
alter table public.idempotency_keys enable row level security;
