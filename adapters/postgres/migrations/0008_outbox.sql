-- The transactional outbox: events committed in the same transaction as the state change they
-- follow from, published to NATS JetStream by a relay (adapters/postgres/outbox-store.ts), then
-- deleted. A crash between the commit and the publish leaves the row for the next relay, so no
-- event implied by a commit is lost; the event's deterministic message id lets the broker drop a
-- copy published twice. Like every migration, safe to run again.

create table if not exists public.outbox (
  id bigint generated always as identity primary key,
  event_type text not null,
  -- The broker's de-duplication id (domain/campaigns/events.ts eventId).
  msg_id text not null,
  -- Every event belongs to a run: the reconciler leaves a run alone while its events wait here.
  -- Not indexed: the table holds only what is in transit, and every index costs each event an
  -- insert and a delete.
  run_id uuid not null,
  -- json, not jsonb: written once and read once, never queried inside.
  payload json not null,
  -- The W3C trace context the event was committed in (null: none).
  trace json,
  -- When a relay may take the row: now, later (postponed: no consumer yet, broker refused it) or
  -- never ('infinity': it cannot be published; kept for an operator).
  available_at timestamptz not null default now(),
  created_at timestamptz not null default now()
);

-- Only the backend's own connection uses the outbox: no privilege for Supabase's API roles (whose
-- default privileges would grant them everything, TRUNCATE included, which row-level security
-- does not cover), and row-level security without a policy besides.
revoke all on table public.outbox from anon, authenticated;
alter table public.outbox enable row level security;

-- Wakes the relays on commit (one notification per statement, merged per transaction).
create or replace function public.outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('aga_outbox', '');
  return null;
end
$$;

drop trigger if exists outbox_notify on public.outbox;
create trigger outbox_notify after insert on public.outbox
  for each statement execute function public.outbox_notify();
