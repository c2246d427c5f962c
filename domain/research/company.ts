/**
 * Research is about a lead's company, so leads of one company share it (issue 10, item 4): the
 * company is known by its website's domain when the lead has a usable one, else by its normalized
 * name. Pure functions, no I/O.
 *
 * Why not the email's domain: different companies write to us from one domain (an agency, a
 * holding company and its subsidiaries, a reseller), and a freemail domain says nothing at all; the
 * website column is the company's own statement. Two contacts of one company of which only one has
 * a website get two keys: at worst one more call, never another company's research.
 */
import type { CanonicalField, CanonicalValues } from '../leads/lead.ts';

/**
 * Hosts that are not a company's own site (a profile on a social network, a directory, a site
 * builder's shared domain): a website there falls back to the name.
 */
const NOT_A_COMPANY_HOST = [
  'linkedin.com',
  'facebook.com',
  'fb.com',
  'twitter.com',
  'x.com',
  'instagram.com',
  'youtube.com',
  'tiktok.com',
  'github.com',
  'medium.com',
  'crunchbase.com',
  'angel.co',
  'wellfound.com',
  'google.com',
  'sites.google.com',
  'wixsite.com',
  'wordpress.com',
  'blogspot.com',
  'squarespace.com',
  'linktr.ee',
  'notion.site',
  'carrd.co',
  'gmail.com',
  'outlook.com',
  'hotmail.com',
  'yahoo.com',
];

/** Words that say what legal form a company has, not which company it is ("Acme, Inc." is Acme). */
const LEGAL_FORMS = new Set([
  'inc',
  'incorporated',
  'llc',
  'llp',
  'lp',
  'ltd',
  'limited',
  'plc',
  'corp',
  'corporation',
  'co',
  'company',
  'gmbh',
  'ag',
  'kg',
  'ug',
  'se',
  'sa',
  'sas',
  'sarl',
  'sl',
  'srl',
  'spa',
  'bv',
  'nv',
  'oy',
  'ab',
  'as',
  'asa',
  'aps',
  'pty',
  'pte',
  'kk',
]);

/**
 * Mail providers anyone can sign up with: an address there says nothing of the lead's company.
 * (Kept short: a provider missing here only narrows sharing to the leads writing from it.)
 */
const FREEMAIL_DOMAINS = new Set([
  'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com',
  'ymail.com', 'icloud.com', 'me.com', 'mac.com', 'aol.com', 'proton.me', 'protonmail.com',
  'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 't-online.de', 'orange.fr', 'free.fr', 'laposte.net',
  'libero.it', 'yandex.ru', 'mail.ru', 'qq.com', '163.com', '126.com', 'naver.com', 'zoho.com',
]);

/**
 * The company's key: `domain:<host>` from the website (scheme, `www.`, port, path and case
 * dropped); else the normalized name (case, accents, punctuation, a leading "the" and trailing
 * legal forms dropped: "The Acme Corp." and "acme" are one company) with the email's domain,
 * `name:<name>|mail:<domain>`. A name alone is not enough: two firms called "Apex Consulting", or
 * every "Self-employed" lead, would share the first one's research. Without a website and with a
 * freemail address, nothing tells the company apart from another of its name: the lead is its own
 * key (`lead:<email>`), researched on its own. At worst one more call, never another company's
 * research.
 */
export function companyKey(lead: { readonly company: string; readonly website?: string | undefined; readonly email?: string | undefined }): string {
  const host = lead.website === undefined ? undefined : websiteHost(lead.website);
  if (host !== undefined) return `domain:${host}`;
  const email = lead.email?.trim().toLowerCase() ?? '';
  const at = email.lastIndexOf('@');
  const mailDomain = at < 0 ? '' : email.slice(at + 1);
  if (mailDomain === '' || FREEMAIL_DOMAINS.has(mailDomain)) return email === '' ? `name:${normalizedCompanyName(lead.company)}` : `lead:${email}`;
  return `name:${normalizedCompanyName(lead.company)}|mail:${mailDomain}`;
}

/** The host a website cell names, when it can be a company's own site; undefined otherwise. */
export function websiteHost(website: string): string | undefined {
  let value = website.trim().toLowerCase();
  if (value === '') return undefined;
  value = value.replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/^\/\//, '');
  // Credentials, path, query, fragment and port are not part of the host.
  value = value.replace(/^[^@/?#]*@/, '');
  value = value.split(/[/?#]/, 1)[0] ?? '';
  value = value.replace(/:\d*$/, '').replace(/\.+$/, '').replace(/^www\d*\./, '');
  // A host name of at least two labels; an IP address or a bare word is no company's site.
  if (!/^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/.test(value)) return undefined;
  if (NOT_A_COMPANY_HOST.some((host) => value === host || value.endsWith(`.${host}`))) return undefined;
  return value;
}

/** A company name as a key: "The Acme Corp., Inc." → "acme". Never empty for a non-blank name. */
export function normalizedCompanyName(name: string): string {
  const plain = name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
  const words = plain === '' ? [] : plain.split(' ');
  if (words[0] === 'the' && words.length > 1) words.shift();
  while (words.length > 1 && LEGAL_FORMS.has(words.at(-1)!)) words.pop();
  const key = words.join(' ');
  return key === '' ? name.trim().toLowerCase() : key;
}

/**
 * The lead's fields that describe its company, and nothing about the person: what a research call
 * shared by the company's leads may be told (the first lead's name, title or LinkedIn profile
 * would otherwise shape research that the others reuse).
 */
export const COMPANY_FIELDS = [
  'company',
  'website',
  'company_linkedin_url',
  'industry',
  'employees',
  'city',
  'state',
  'country',
  'location',
] as const satisfies readonly CanonicalField[];

/** Only the company's fields of `canonical`. */
export function companyFields(canonical: CanonicalValues): CanonicalValues {
  const fields: CanonicalValues = {};
  for (const field of COMPANY_FIELDS) {
    const value = canonical[field];
    if (value !== undefined) fields[field] = value;
  }
  return fields;
}
