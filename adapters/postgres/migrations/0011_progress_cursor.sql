-- The live progress stream's cursor: each settled lead's place in its run's feed, which is the
-- event id a client sends back (Last-Event-ID) to resume exactly after the last event it got.
-- Like every migration, safe to run again.
--
-- A sequence value alone is not a resumable cursor: it is drawn when the settling statement runs,
-- and a transaction that drew 10 may commit after one that drew 11, so a reader that already
-- passed 11 would never see 10. The cursor is therefore (the settling transaction's id, a
-- sequence value): a reader lists only leads whose settling transaction is older than every
-- transaction still in progress (pg_snapshot_xmin of its snapshot), and any lead committed later
-- has a transaction id at least that large, so it sorts after everything already listed. No gap,
-- no repeat, across any number of edge processes, at the price of a delay as long as the oldest
-- writing transaction still open (bounded by the reader: see ripe() in stores/campaign-queries.ts).
alter table public.leads add column if not exists progress_xid xid8;
alter table public.leads add column if not exists progress_seq bigint;
create sequence if not exists public.lead_progress_seq;

-- Leads settled before this migration: one transaction (this one), in settling order.
update public.leads l
set progress_xid = pg_current_xact_id(), progress_seq = s.seq
from (
  select ordered.id, nextval('public.lead_progress_seq') as seq
  from (select id from public.leads where settled_at is not null and progress_xid is null order by settled_at, id) ordered
) s
where l.id = s.id;

-- Set by the database whenever settled_at is set or cleared, whichever statement does it (a
-- saved draft, a failure, a later run taking the lead over), so no writer can forget it.
create or replace function public.leads_set_progress_cursor() returns trigger
language plpgsql as $$
begin
  if new.settled_at is null then
    new.progress_xid := null;
    new.progress_seq := null;
  else
    new.progress_xid := pg_current_xact_id();
    new.progress_seq := nextval('public.lead_progress_seq');
  end if;
  return new;
end
$$;

drop trigger if exists leads_progress_cursor_on_insert on public.leads;
create trigger leads_progress_cursor_on_insert
  before insert on public.leads
  for each row when (new.settled_at is not null)
  execute function public.leads_set_progress_cursor();

drop trigger if exists leads_progress_cursor_on_settle on public.leads;
create trigger leads_progress_cursor_on_settle
  before update of settled_at on public.leads
  for each row when (old.settled_at is distinct from new.settled_at)
  execute function public.leads_set_progress_cursor();

-- A run's settled leads after a cursor, and its latest ones; replaces the (settled_at, id) index.
create index if not exists leads_run_id_progress_idx
  on public.leads (run_id, progress_xid, progress_seq)
  where progress_xid is not null;
drop index if exists public.leads_run_id_settled_at_id_idx;

-- The export reads a run's leads in row order one page at a time (each page its own short
-- statement, so the statement timeout bounds the database's work, not the client's download).
create index if not exists leads_run_id_row_number_id_idx on public.leads (run_id, row_number, id);
