-- Templates and variables (issue 10, item 5).
-- - prompt_templates: a user's saved prompts (GET/POST /api/templates, GET/PATCH/DELETE
--   /api/templates/:id), named uniquely per user (case-insensitive); a submission's template_id
--   copies them onto the run.
-- - campaign_runs.outputs: the custom outputs the run asks the writer for, next to the run's
--   prompts (research_prompt, personalization_prompt): [{ "name", "instruction", "max_words" }],
--   in order; null when none. A later run (a re-run) reads its own row's, like the prompts.
-- - campaign_runs.template_id: the template that supplied the run's prompts, if any (a record
--   only: the prompts were copied, so deleting the template changes no run).
-- - leads.outputs: the custom outputs written for the lead, { "<name>": "<text>" }; null until
--   its line is written, and reset with the message when a later run takes the lead over.
-- Like every migration, safe to run again.

create table if not exists public.prompt_templates (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  name text not null,
  personalization_prompt text not null,
  research_prompt text,
  -- [{ "name", "instruction", "max_words" }], as campaign_runs.outputs.
  outputs jsonb not null default '[]'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint prompt_templates_name_length check (char_length(btrim(name)) between 1 and 200),
  constraint prompt_templates_prompt_length check (char_length(personalization_prompt) between 1 and 4000),
  constraint prompt_templates_research_prompt_length check (research_prompt is null or char_length(research_prompt) between 1 and 4000),
  constraint prompt_templates_outputs_is_array check (jsonb_typeof(outputs) = 'array')
);

-- Names are unique per user whatever their case: "Intro" and "intro" would be confused in a list.
create unique index if not exists prompt_templates_user_id_name_key on public.prompt_templates (user_id, lower(name));

drop trigger if exists prompt_templates_touch_updated_at on public.prompt_templates;
create trigger prompt_templates_touch_updated_at before update on public.prompt_templates
  for each row execute function public.aga_touch_updated_at();

-- As for the other tables (0003, 0009): the owner reads its rows, nobody else reads or writes.
alter table public.prompt_templates enable row level security;
revoke all on table public.prompt_templates from anon, authenticated;
grant select on table public.prompt_templates to authenticated;
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'public' and tablename = 'prompt_templates' and policyname = 'prompt_templates_select_own'
  ) then
    create policy prompt_templates_select_own on public.prompt_templates
      for select to authenticated using (user_id = (select auth.uid()));
  end if;
end
$$;

alter table public.campaign_runs add column if not exists outputs jsonb;
alter table public.campaign_runs add column if not exists template_id uuid;
alter table public.leads add column if not exists outputs jsonb;

-- `not valid`: every existing row has the new column null, so there is nothing to check, and a
-- large leads table is not scanned under an exclusive lock; new and updated rows are checked.

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.campaign_runs'::regclass and conname = 'campaign_runs_outputs_is_array'
  ) then
    alter table public.campaign_runs add constraint campaign_runs_outputs_is_array
      check (outputs is null or jsonb_typeof(outputs) = 'array') not valid;
  end if;
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.leads'::regclass and conname = 'leads_outputs_is_object'
  ) then
    alter table public.leads add constraint leads_outputs_is_object
      check (outputs is null or jsonb_typeof(outputs) = 'object') not valid;
  end if;
end
$$;
