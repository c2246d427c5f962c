// The API's answers as the web app reads them (a subset of /openapi.json's schemas), for the
// JSDoc types of the modules beside this file. Not served: types only.
import type { SupabaseClient, createClient } from '@supabase/supabase-js';

declare global {
  interface Window {
    /** supabase-js's browser bundle (/app/vendor/supabase.js) sets it. */
    supabase?: { createClient: typeof createClient };
  }
}

export type { SupabaseClient };

export interface AppConfig {
  auth: { supabase: { url: string; anon_key: string } | null; local: boolean };
  sandbox: boolean;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  request_id?: string;
  code?: string;
  campaign_id?: string;
  unknown_variables?: string[];
  report?: { rejected?: { row: number; reason: string }[] };
  [member: string]: unknown;
}

export type RunStatusName = 'queued' | 'extracting' | 'personalizing' | 'paused' | 'completed' | 'failed' | 'cancelled';
export type LeadStatus = 'pending' | 'researched' | 'personalized' | 'needs_review' | 'failed' | 'suppressed' | 'cancelled';

export interface RunCounters {
  total_rows: number;
  valid: number;
  duplicates: number;
  rejected_rows: number;
  skipped: number;
  processed: number;
  personalized: number;
  needs_review: number;
  failed: number;
  suppressed: number;
  cancelled: number;
}

export interface Notice {
  code: string;
  api: string | null;
  message: string;
}

export interface RunStatus extends RunCounters {
  run_id: string;
  campaign_id: string;
  status: RunStatusName;
  cost_usd: number;
  research_cache_hits: number;
  error_message: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  sandbox: boolean;
  cancelled_at: string | null;
  paused_at: string | null;
  eta: { seconds: number; at: string } | null;
  notices: Notice[];
}

export interface RunSummary {
  id: string;
  status: RunStatusName;
  demo: boolean;
  file_name: string | null;
  counters: RunCounters;
  cost_usd: number;
  error_message: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface CampaignRun extends RunSummary {
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
}

export interface Campaign {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  run_count: number;
  counts: { total: number; pending: number; personalized: number; needs_review: number; failed: number; suppressed: number; cancelled: number };
  cost_usd: number;
  last_run: RunSummary | null;
}

export interface CampaignDetail extends Campaign {
  research_prompt: string | null;
  personalization_prompt: string | null;
  allow_questions: boolean;
}

export interface Metrics {
  leads_personalized: number;
  hours_saved: number;
  money_saved: number;
  updated_at: string | null;
}

export interface PreviewLead {
  row: number;
  email: string;
  company: string;
  fields: Record<string, string>;
  [canonical: string]: unknown;
}

export interface Preview {
  total_rows: number;
  valid: number;
  duplicates: number;
  demo_excluded: number;
  rejected: { row: number; reason: string }[];
  columns: { original: string; canonical: string | null }[];
  leads: PreviewLead[];
  suppressed: { row: number; reason: string }[];
  estimate: { per_lead_usd: number; total_usd: number; sandbox: boolean; basis: string };
}

export interface Accepted {
  run_id: string;
  campaign_id: string;
}

export interface ResultLead {
  id: string;
  run_id: string;
  row: number;
  email: string;
  company: string;
  canonical: Record<string, string>;
  fields: Record<string, string>;
  personalized_message: string | null;
  enrichment_status: LeadStatus;
  error: string | null;
  research_summary: string | null;
  sources: string[];
  message_basis: string | null;
  model: string | null;
  research_model: string | null;
  cost_usd: number;
  outputs: Record<string, string>;
  sandbox: boolean;
  research_cached: boolean;
  attempts: number;
  updated_at: string;
  settled_at: string | null;
}

export interface LeadEvent {
  lead_id: string;
  row: number;
  status: LeadStatus;
  message: string | null;
  error: string | null;
}

export interface Template {
  id: string;
  name: string;
  personalization_prompt: string;
  research_prompt: string | null;
  outputs: { name: string; instruction: string; max_words: number }[];
  variables: string[];
}

/** What a page of the app gives the shell: its content, and what to release when it is left. */
export interface View {
  title: string;
  template(): unknown;
  dispose?(): void;
}
