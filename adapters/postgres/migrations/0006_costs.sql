-- What the providers charged: per lead and per run, in USD, exact (numeric, 6 decimals: the
-- micro-dollar the domain rounds each call to, see domain/pricing/pricing.ts). Like every
-- migration, safe to run again; a column added with a constant default is instant.
--
-- No new table, so row-level security (0003) already covers both columns.

-- The sum of the paid calls made for the lead by its run: research, and every writer call
-- including the regenerations the quality gates asked for. A run taking the lead over resets it
-- to 0. Each call's usage and cost is also kept in `leads.usage` (0004) under "calls".
alter table public.leads add column if not exists cost_usd numeric(12, 6) not null default 0;

-- The sum of the costs of the run's counted leads: the KPI projection adds a lead's cost in the
-- transaction that counts its outcome (failed leads too: their calls were paid for), so it
-- moves with the counters and counts each lead once.
alter table public.campaign_runs add column if not exists cost_usd numeric(14, 6) not null default 0;
