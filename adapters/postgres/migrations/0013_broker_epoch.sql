-- What the reconciler last saw of the broker: the identity (creation time) of the event stream.
-- When the stream it finds has another identity, the broker lost the old one with every message in
-- it, and the reconciler re-drives all unfinished work at once (src/app/reconciler.ts). Kept here,
-- not in memory, so that a reconciler that restarts after the loss still notices it. One row per
-- kind of record; safe to run again.
create table if not exists public.broker_epochs (
  name text primary key,
  epoch text not null,
  seen_at timestamptz not null default now()
);

revoke all on table public.broker_epochs from anon, authenticated;
alter table public.broker_epochs enable row level security;
