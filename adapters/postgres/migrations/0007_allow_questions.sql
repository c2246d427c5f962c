-- A campaign run may allow opening lines that are questions (the quality gates refuse them
-- otherwise). Kept per run, like the prompts, since each run may be submitted with other options.
alter table public.campaign_runs add column if not exists allow_questions boolean not null default false;
