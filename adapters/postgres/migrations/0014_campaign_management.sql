-- Campaigns a user manages (issue 10, item 1): names unique per user, and the settings a
-- campaign's next runs use. Like every migration, safe to run again.
--
-- No new table, so row-level security (0003) already covers every new column.

-- 1. The settings of a campaign's next runs. Until now the prompts and allow_questions lived only
-- on each run (0002, 0007): a run submitted without them used the defaults, whatever the earlier
-- runs had used. Now the campaign keeps them: a submission that gives a value sets it (as the
-- campaign options of 0009 always did), one that gives none uses the campaign's, and
-- PATCH /api/campaigns/:id changes them. Each run still keeps its own copy (what it was run with).
-- Existing campaigns start with the settings of their latest run, i.e. as if the rule had always
-- held. The backfill runs only when the columns are added, so that running this file again never
-- overwrites settings changed since; it keeps updated_at as it was (nothing the user sees changed).
do $$
begin
  if not exists (
    select 1 from information_schema.columns
    where table_schema = 'public' and table_name = 'campaigns' and column_name = 'allow_questions'
  ) then
    alter table public.campaigns
      add column research_prompt text,
      add column personalization_prompt text,
      add column allow_questions boolean not null default false;
    alter table public.campaigns disable trigger campaigns_touch_updated_at;
    update public.campaigns c
    set research_prompt = latest.research_prompt,
        personalization_prompt = latest.personalization_prompt,
        allow_questions = latest.allow_questions
    from (
      select distinct on (campaign_id) campaign_id, research_prompt, personalization_prompt, allow_questions
      from public.campaign_runs
      order by campaign_id, created_at desc, id desc
    ) latest
    where latest.campaign_id = c.id;
    alter table public.campaigns enable trigger campaigns_touch_updated_at;
  end if;
end
$$;

-- 2. Names unique per user, compared as a person reads them: ignoring case and the spaces around
-- them ("Q3 Outreach" and " q3 outreach" are the same campaign). Campaigns created before this
-- rule may share a name: the oldest keeps it, each later one gets the first free suffix " (2)",
-- " (3)", ... (shortened to stay within the 200-character limit), then the index is created. Once
-- the index exists there is nothing to rename.
do $$
declare
  duplicate record;
  suffix text;
  candidate text;
  n integer;
begin
  if exists (select 1 from pg_catalog.pg_indexes where schemaname = 'public' and indexname = 'campaigns_user_id_name_key') then
    return;
  end if;
  for duplicate in
    select ranked.id, ranked.user_id, btrim(ranked.name) as name
    from (
      select id, user_id, name, created_at,
             row_number() over (partition by user_id, lower(btrim(name)) order by created_at, id) as rank
      from public.campaigns
    ) ranked
    where ranked.rank > 1
    order by ranked.user_id, ranked.created_at, ranked.id
  loop
    n := 2;
    loop
      suffix := ' (' || n || ')';
      candidate := left(duplicate.name, 200 - char_length(suffix)) || suffix;
      exit when not exists (
        select 1 from public.campaigns where user_id = duplicate.user_id and lower(btrim(name)) = lower(candidate)
      );
      n := n + 1;
    end loop;
    update public.campaigns set name = candidate where id = duplicate.id;
  end loop;
  create unique index campaigns_user_id_name_key on public.campaigns (user_id, lower(btrim(name)));
end
$$;

-- 3. The campaign list: a user's campaigns newest first, by a (created_at, id) keyset cursor.
-- Replaces 0002's (user_id, created_at desc), which it covers.
create index if not exists campaigns_user_id_created_at_id_idx
  on public.campaigns (user_id, created_at desc, id desc);
drop index if exists public.campaigns_user_id_created_at_idx;

-- 4. A campaign's runs newest first, by the same kind of cursor (0002's index has no id).
create index if not exists campaign_runs_campaign_id_created_at_id_idx
  on public.campaign_runs (campaign_id, created_at desc, id desc);
drop index if exists public.campaign_runs_campaign_id_created_at_idx;
