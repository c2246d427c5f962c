/**
 * Suppression: the email addresses and domains a user never wants processed, and the campaign
 * option that skips leads personalized recently in another of the user's campaigns.
 *
 * Entries
 *   An entry is an email address or a domain, normalized so that one spelling matches every other:
 *   an address as the import normalizes it (trimmed, lower-cased, `mailto:` and `Name <…>`
 *   unwrapped); a domain lower-cased, without a scheme, path, port, a leading `@` or `www.`, or a
 *   trailing dot ("https://www.Example.com/about" → `example.com`, "@example.org" → `example.org`).
 *
 * What a lead matches
 *   A lead is suppressed when its email is an entry, or its email's domain is a domain entry or
 *   under one, or its website's domain (the `website` field, when the lead has one) is a domain
 *   entry or under one. "Under" means a subdomain: `example.com` suppresses `ada@eu.example.com`
 *   and the website `https://shop.example.com`. Only whole labels count: `example.com` does not
 *   suppress `notexample.com`.
 */
import { normalizeEmail } from '../leads/email.ts';
import type { CanonicalValues } from '../leads/lead.ts';

export type SuppressionKind = 'email' | 'domain';

export interface SuppressionEntry {
  /** Normalized (see the top of this module): what is stored, and what a lead's keys are compared with. */
  readonly value: string;
  readonly kind: SuppressionKind;
}

export type ParsedEntry = { readonly ok: true; readonly entry: SuppressionEntry } | { readonly ok: false; readonly reason: string };

/** An entry longer than this is not an address or a domain (254 is an address's limit). */
const MAX_ENTRY_LENGTH = 254;
/** How much of a refused value a reason quotes. */
const QUOTED_LENGTH = 80;

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?$/u;
const TOP_LEVEL_LABEL = /^(?:\p{L}{2,}|xn--[a-z0-9-]+)$/u;
const MAX_LABEL = 63;
const MAX_DOMAIN = 253;

/** Reads one entry as a person typed it: an address, or a domain in any of its usual spellings. */
export function parseSuppressionEntry(raw: string): ParsedEntry {
  const text = raw.trim();
  if (text === '') return { ok: false, reason: 'is empty' };
  if (text.length > 2 * MAX_ENTRY_LENGTH) return { ok: false, reason: `is not an email address or a domain (longer than ${MAX_ENTRY_LENGTH} characters)` };
  const quoted = quote(text);
  // A URL may hold an `@` (user info): it names a site, not an address.
  if (!SCHEME.test(text) && text.includes('@')) {
    const bare = text.replace(/^mailto:/i, '');
    if (bare.startsWith('@') && bare.indexOf('@', 1) < 0) {
      const domain = normalizeDomain(bare.slice(1));
      return domain === null ? { ok: false, reason: `${quoted} is not a valid domain` } : { ok: true, entry: { value: domain, kind: 'domain' } };
    }
    const email = normalizeEmail(text);
    if (email === null) return { ok: false, reason: `${quoted} is not a valid email address` };
    return { ok: true, entry: { value: email, kind: 'email' } };
  }
  const domain = normalizeDomain(text);
  if (domain === null) return { ok: false, reason: `${quoted} is not a valid email address or domain (write a domain as example.com)` };
  return { ok: true, entry: { value: domain, kind: 'domain' } };
}

/**
 * The domain a website or domain cell names, normalized; null when it names none. Takes
 * "https://www.Example.com:8080/path?q", "example.com.", "WWW.EXAMPLE.COM", "//example.com".
 */
export function normalizeDomain(raw: string): string | null {
  let host = raw.trim().toLowerCase().replace(SCHEME, '').replace(/^\/\//, '');
  host = host.split(/[/?#\\]/, 1)[0] ?? '';
  // User info of a URL (`user:pass@host`), then a port.
  host = host.slice(host.lastIndexOf('@') + 1).replace(/:\d*$/, '').replace(/\.$/, '');
  if (host.startsWith('www.')) host = host.slice('www.'.length);
  if (host.length === 0 || host.length > MAX_DOMAIN) return null;
  const labels = host.split('.');
  if (labels.length < 2 || !TOP_LEVEL_LABEL.test(labels.at(-1) ?? '')) return null;
  return labels.every((label) => label.length <= MAX_LABEL && DOMAIN_LABEL.test(label)) ? host : null;
}

/** A domain and every parent domain of at least two labels: `eu.example.com` → `eu.example.com`, `example.com`. */
function domainAndParents(domain: string): string[] {
  const labels = domain.split('.');
  const domains: string[] = [];
  for (let start = 0; labels.length - start >= 2; start += 1) domains.push(labels.slice(start).join('.'));
  return domains;
}

/** What of a lead is compared with the entries: its email, its email's domain, its website's domain. */
export interface SuppressibleLead {
  readonly email: string;
  readonly canonical: CanonicalValues;
}

function emailDomain(lead: SuppressibleLead): string | null {
  const at = lead.email.lastIndexOf('@');
  return at < 0 ? null : normalizeDomain(lead.email.slice(at + 1));
}

function websiteDomain(lead: SuppressibleLead): string | null {
  const website = lead.canonical.website;
  return website === undefined || website.trim() === '' ? null : normalizeDomain(website);
}

/** The entry values that would suppress the lead: look these up in the owner's list. */
export function suppressionKeys(lead: SuppressibleLead): string[] {
  const keys = new Set<string>([lead.email]);
  for (const domain of [emailDomain(lead), websiteDomain(lead)]) {
    if (domain !== null) for (const key of domainAndParents(domain)) keys.add(key);
  }
  return [...keys];
}

/** Why a lead is suppressed by the list, the most specific reason first. */
export type SuppressionMatch =
  | { readonly by: 'email' }
  | { readonly by: 'email_domain'; readonly domain: string }
  | { readonly by: 'website'; readonly domain: string };

/**
 * Which of the lead's keys found on the list (`listed`) suppresses it, and how: its email, else
 * its email's domain (the closest listed), else its website's. Null when none does.
 */
export function suppressionMatch(lead: SuppressibleLead, listed: ReadonlySet<string>): SuppressionMatch | null {
  if (listed.has(lead.email)) return { by: 'email' };
  const email = emailDomain(lead);
  const byEmail = email === null ? undefined : domainAndParents(email).find((domain) => listed.has(domain));
  if (byEmail !== undefined) return { by: 'email_domain', domain: byEmail };
  const website = websiteDomain(lead);
  const byWebsite = website === null ? undefined : domainAndParents(website).find((domain) => listed.has(domain));
  return byWebsite === undefined ? null : { by: 'website', domain: byWebsite };
}

/** The lead's error, as its owner reads it (a domain, never the address: results and exports show the address already). */
export function suppressionReason(match: SuppressionMatch): string {
  switch (match.by) {
    case 'email':
      return 'Suppressed: the email address is on your suppression list.';
    case 'email_domain':
      return `Suppressed: the email's domain ${match.domain} is on your suppression list.`;
    case 'website':
      return `Suppressed: the website's domain ${match.domain} is on your suppression list.`;
  }
}

// ── Personalized recently in another campaign ──────────────────────────────────────────────────

/** The campaign option (a form field of the submission, kept on the campaign for its later runs). */
export const SKIP_PERSONALIZED_OPTION = 'skip_personalized_within_days';
export const MAX_SKIP_DAYS = 3650;

/**
 * The option's value: a whole number of days from 1 to 3650, or 0 to turn it off for the
 * campaign's later runs (an option, once sent, is kept). Null when `value` is none of these.
 */
export function parseSkipPersonalizedWithinDays(value: string): number | null {
  const text = value.trim();
  if (!/^\d{1,4}$/.test(text)) return null;
  const days = Number(text);
  return days <= MAX_SKIP_DAYS ? days : null;
}

export const SKIP_PERSONALIZED_PROBLEM = `${SKIP_PERSONALIZED_OPTION} must be a whole number of days from 1 to ${MAX_SKIP_DAYS} (0 turns it off)`;

/** The window the campaign's options ask for, in days; null when they ask for none. */
export function skipPersonalizedWindow(options: Readonly<Record<string, string>> | undefined): number | null {
  const value = options?.[SKIP_PERSONALIZED_OPTION];
  if (value === undefined) return null;
  const days = parseSkipPersonalizedWithinDays(value);
  return days === null || days === 0 ? null : days;
}

/** A personalization of the same email in another campaign of the same user. */
export interface EarlierPersonalization {
  readonly campaignName: string;
  /** ISO 8601. */
  readonly personalizedAt: string;
}

export function recentlyPersonalizedReason(earlier: EarlierPersonalization, withinDays: number): string {
  const day = earlier.personalizedAt.slice(0, 10);
  const window = withinDays === 1 ? 'the last day' : `the last ${withinDays} days`;
  return `Suppressed: personalized in campaign "${earlier.campaignName}" on ${day} (${SKIP_PERSONALIZED_OPTION}: within ${window}).`;
}

// ── Files of entries ───────────────────────────────────────────────────────────────────────────

/** Which column of an uploaded list holds the entries, and whether its first row is data. */
export interface EntryColumn {
  readonly index: number;
  /** The header as written; null when the file has none (its first row is an entry already). */
  readonly header: string | null;
}

/**
 * The column of a list's first row to read: with a header, the email column when there is one
 * (`fieldOf` maps a header to its lead field, as the lead import does), else a domain or website
 * column, else the first; without one (a cell of the first row is an entry), the first column
 * holding an address, else the first.
 */
export function entryColumn(firstRow: readonly string[], fieldOf: (header: string) => { readonly field: string; readonly rank: number } | null): EntryColumn {
  const entries = firstRow.map((cell) => parseSuppressionEntry(cell));
  if (entries.some((entry) => entry.ok)) {
    const email = entries.findIndex((entry) => entry.ok && entry.entry.kind === 'email');
    return { index: Math.max(email, 0), header: null };
  }
  const fields = firstRow.map((cell) => fieldOf(cell));
  const best = (field: string): number => {
    let index = -1;
    fields.forEach((match, at) => {
      if (match?.field === field && (index < 0 || match.rank < fields[index]!.rank)) index = at;
    });
    return index;
  };
  const email = best('email');
  const website = best('website');
  const index = email >= 0 ? email : website >= 0 ? website : 0;
  return { index, header: firstRow[index] ?? null };
}

function quote(text: string): string {
  return `'${text.length > QUOTED_LENGTH ? `${text.slice(0, QUOTED_LENGTH)}…` : text}'`;
}
