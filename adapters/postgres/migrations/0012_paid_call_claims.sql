-- At most one paid outside call per lead and stage at a time (issue 9): before research or
-- personalization calls its provider for a lead, the delivery claims the call here. A claim is a
-- lease: an owner (the delivery) and an expiry, renewed while the call runs and no longer than the
-- consumer's ack wait, so that a delivery that died leaves a claim its redelivery can take. A copy
-- of the message (a redelivery, a re-drive, a re-publish) that finds a live claim, or the stage's
-- result saved, makes no call. Saving the result releases the claim in the same transaction.
--
-- The row stays once released: `calls_started` counts the calls the lead's stage started for its
-- run (a claim granted; one given back unmade, e.g. the provider pushed back, is not counted), so
-- extra paid calls can be counted with
--   select sum(calls_started - 1) from paid_call_claims where calls_started > 1;
-- Like every migration, safe to run again.

create table if not exists public.paid_call_claims (
  lead_id uuid not null references public.leads (id) on delete cascade,
  -- A later run that takes the lead over claims its own calls.
  run_id uuid not null references public.campaign_runs (id) on delete cascade,
  stage text not null,
  -- The delivery holding the claim; null once released.
  owner text,
  -- When the claim lapses unless renewed; null once released.
  expires_at timestamptz,
  calls_started integer not null default 0,
  -- Personalization: a first draft that failed the quality gates, with the reasons (the writer's
  -- feedback), kept until the rewrite succeeds, so that a retry of the stage (the rewrite refused
  -- with a 402, a 429, a 5xx) writes it again instead of paying for a new first draft.
  rejected_draft jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (lead_id, run_id, stage),
  constraint paid_call_claims_stage_check check (stage in ('research', 'personalization')),
  constraint paid_call_claims_calls_started_nonnegative check (calls_started >= 0),
  constraint paid_call_claims_held_check check ((owner is null) = (expires_at is null))
);

-- A run's claims, for `on delete cascade` from campaign_runs and for counting a run's calls.
create index if not exists paid_call_claims_run_id_idx on public.paid_call_claims (run_id);

-- Only the backend's own connection uses the claims (as the outbox, 0008): no privilege for
-- Supabase's API roles, and row-level security without a policy besides.
revoke all on table public.paid_call_claims from anon, authenticated;
alter table public.paid_call_claims enable row level security;
