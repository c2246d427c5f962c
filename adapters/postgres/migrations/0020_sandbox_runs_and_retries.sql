-- An honest sandbox, and why a run waits (issue 10, item 9).
-- - campaign_runs.sandbox: the run was created by a deployment whose providers are the in-process
--   sandbox (PROVIDERS=sandbox): made-up research and lines at $0. Shown on its status, results
--   and export, and its leads never count in the owner's KPIs (client_metrics).
-- - paid_call_claims.failed_at: the stage's last call for the lead failed (not pushback) and the
--   lead waits for its retry; cleared when the stage's result is saved or the lead settles. The
--   run's status counts these leads ("retrying"). Indexed only where set: few rows at any time.
-- Like every migration, safe to run again.

alter table public.campaign_runs add column if not exists sandbox boolean not null default false;

alter table public.paid_call_claims add column if not exists failed_at timestamptz;

create index if not exists paid_call_claims_retrying_idx
  on public.paid_call_claims (run_id) where failed_at is not null;
