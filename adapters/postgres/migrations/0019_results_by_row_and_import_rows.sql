-- Results and export in file order (issue 10, item 8). Like every migration, safe to run again.
--
-- - campaign_runs.import_rows: the rows of the run's file that are not leads (rejected, or a
--   duplicate of an earlier row), each with its status, its reason and its original cells, so the
--   export can give back a row for every row of the file: [{ row, status, reason, cells }] in file
--   order. The cells are kept up to a budget per file (domain/leads/lead-import.ts,
--   KEPT_ROW_CHARS); past it a row keeps its number, status and reason, and `cells` is null.
--   Null for a run whose file was never read to the end, and for runs read before this migration.
-- - Results and the export list a campaign's leads by row (row_number, then id), optionally of
--   some statuses: these two indexes serve that order with and without the status filter. The
--   (campaign_id, status, id) index of 0002 served the old order by id; the new status index has
--   the same leading columns, so it serves every lookup the old one did.

alter table public.campaign_runs add column if not exists import_rows jsonb;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_import_rows_is_array'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_import_rows_is_array
      check (import_rows is null or jsonb_typeof(import_rows) = 'array');
  end if;
end
$$;

create index if not exists leads_campaign_id_row_number_id_idx
  on public.leads (campaign_id, row_number, id);
create index if not exists leads_campaign_id_status_row_number_id_idx
  on public.leads (campaign_id, status, row_number, id);
drop index if exists public.leads_campaign_id_status_id_idx;
