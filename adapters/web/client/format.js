// How figures, dates and statuses read on the page.

/** @typedef {import('./types').LeadStatus} LeadStatus */
/** @typedef {import('./types').RunStatusName} RunStatusName */

const integer = new Intl.NumberFormat('en-US');
const decimal1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const smallDollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });
const dateTime = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });

/** @param {number} n */
export const count = (n) => integer.format(n);
/** @param {number} n */
export const hours = (n) => `${decimal1.format(n)} h`;
/** A USD amount: cents from a dollar up, up to 4 decimals below one (a lead's cost). */
export const usd = (/** @type {number} */ n) => (n >= 1 || n === 0 ? dollars.format(n) : smallDollars.format(n));
/** @param {string | null | undefined} iso */
export const when = (iso) => (iso ? dateTime.format(new Date(iso)) : '—');

/** "about 3 minutes" for a number of seconds. */
export function duration(/** @type {number} */ seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  return `${decimal1.format(seconds / 3600)} h`;
}

/** @type {Record<LeadStatus, string>} */
export const LEAD_STATUS_LABELS = {
  pending: 'Pending',
  researched: 'Researched',
  personalized: 'Personalized',
  needs_review: 'Needs review',
  failed: 'Failed',
  suppressed: 'Suppressed',
  cancelled: 'Cancelled',
};

/** @type {Record<RunStatusName, string>} */
export const RUN_STATUS_LABELS = {
  queued: 'Queued',
  extracting: 'Reading the file',
  personalizing: 'Researching and writing',
  paused: 'Paused',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** What each canonical field is, in words. */
const FIELD_LABELS = /** @type {Record<string, string>} */ ({
  email: 'Email',
  first_name: 'First name',
  last_name: 'Last name',
  full_name: 'Full name',
  company: 'Company',
  title: 'Job title',
  website: 'Website',
  linkedin_url: 'LinkedIn profile',
  company_linkedin_url: 'Company LinkedIn page',
  phone: 'Phone',
  city: 'City',
  state: 'State',
  country: 'Country',
  location: 'Location',
  industry: 'Industry',
  seniority: 'Seniority',
  department: 'Department',
  employees: 'Employees',
});

/** @param {string} field a canonical field */
export function fieldLabel(field) {
  return FIELD_LABELS[field] ?? field.replaceAll('_', ' ').replace(/^./, (first) => first.toUpperCase());
}

/** @param {string} status */
export const leadStatusLabel = (status) => LEAD_STATUS_LABELS[/** @type {LeadStatus} */ (status)] ?? status;
/** @param {string} status */
export const runStatusLabel = (status) => RUN_STATUS_LABELS[/** @type {RunStatusName} */ (status)] ?? status;

/** Whether a run has ended (nothing more will change). */
export function runEnded(/** @type {{ status: string, completed_at: string | null }} */ run) {
  return run.status === 'completed' || run.status === 'failed' || (run.status === 'cancelled' && run.completed_at !== null);
}

/**
 * A link target for a URL from the data, or null: only http and https are links (a `javascript:`
 * or `data:` URL in a research source must never become one).
 */
export function safeHref(/** @type {string} */ url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** A person's name from a lead's canonical fields, else null. */
export function personName(/** @type {Record<string, unknown>} */ fields) {
  const full = typeof fields.full_name === 'string' ? fields.full_name : null;
  const parts = [fields.first_name, fields.last_name].filter((part) => typeof part === 'string' && part !== '');
  return parts.length > 0 ? parts.join(' ') : full;
}
