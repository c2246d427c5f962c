/** The suppression rules (domain/suppression/) and how runs with suppressed leads end (domain/campaigns/run.ts). */
import { describe, expect, it } from 'vitest';
import { isSettled, outcomeOf } from '../../domain/campaigns/run.ts';
import { matchHeader } from '../../domain/leads/headers.ts';
import {
  entryColumn,
  normalizeDomain,
  parseSkipPersonalizedWithinDays,
  parseSuppressionEntry,
  recentlyPersonalizedReason,
  skipPersonalizedWindow,
  suppressionKeys,
  suppressionMatch,
  suppressionReason,
} from '../../domain/suppression/suppression.ts';

describe('parseSuppressionEntry', () => {
  it.each([
    ['ada@example.com', 'ada@example.com', 'email'],
    ['  Ada@Example.COM ', 'ada@example.com', 'email'],
    ['mailto:ada@example.com', 'ada@example.com', 'email'],
    ['Ada Lovelace <ada@example.com>', 'ada@example.com', 'email'],
    ['example.org', 'example.org', 'domain'],
    ['Example.ORG', 'example.org', 'domain'],
    ['@example.org', 'example.org', 'domain'],
    ['https://www.example.org/about?x=1#top', 'example.org', 'domain'],
    ['http://user:secret@shop.example.org:8080/', 'shop.example.org', 'domain'],
    ['www.example.org.', 'example.org', 'domain'],
    ['//cdn.example.org/x', 'cdn.example.org', 'domain'],
    ['münchen.de', 'münchen.de', 'domain'],
  ])('reads %j as %s (%s)', (raw, value, kind) => {
    expect(parseSuppressionEntry(raw)).toEqual({ ok: true, entry: { value, kind } });
  });

  it.each([
    ['', 'is empty'],
    ['   ', 'is empty'],
    ['ada@', "'ada@' is not a valid email address"],
    ['a@b@example.com', "'a@b@example.com' is not a valid email address"],
    ['@', "'@' is not a valid domain"],
    ['localhost', "'localhost' is not a valid email address or domain (write a domain as example.com)"],
    ['example', "'example' is not a valid email address or domain (write a domain as example.com)"],
    ['exa mple.com', "'exa mple.com' is not a valid email address or domain (write a domain as example.com)"],
    ['192.168.0.1', "'192.168.0.1' is not a valid email address or domain (write a domain as example.com)"],
  ])('refuses %j: %s', (raw, reason) => {
    expect(parseSuppressionEntry(raw)).toEqual({ ok: false, reason });
  });

  it('quotes at most 80 characters of a refused value', () => {
    const parsed = parseSuppressionEntry(`${'x'.repeat(200)}`);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/^'x{80}…' is not/);
  });
});

describe('normalizeDomain', () => {
  it('keeps subdomains other than www, and refuses what names no host', () => {
    expect(normalizeDomain('EU.Example.com')).toBe('eu.example.com');
    expect(normalizeDomain('https://')).toBeNull();
    expect(normalizeDomain('n/a')).toBeNull();
  });
});

describe('matching a lead', () => {
  const lead = { email: 'ada@eu.example.com', canonical: { website: 'https://www.shop.acme.io/about' } };

  it('looks up the email, its domain and parents, and the website domain and parents', () => {
    expect(suppressionKeys(lead)).toEqual(['ada@eu.example.com', 'eu.example.com', 'example.com', 'shop.acme.io', 'acme.io']);
    expect(suppressionKeys({ email: 'bob@example.org', canonical: {} })).toEqual(['bob@example.org', 'example.org']);
    expect(suppressionKeys({ email: 'bob@example.org', canonical: { website: 'not a site' } })).toEqual(['bob@example.org', 'example.org']);
  });

  it('prefers the email, then the closest email domain, then the website', () => {
    expect(suppressionMatch(lead, new Set(['ada@eu.example.com', 'example.com', 'acme.io']))).toEqual({ by: 'email' });
    expect(suppressionMatch(lead, new Set(['example.com', 'eu.example.com']))).toEqual({ by: 'email_domain', domain: 'eu.example.com' });
    expect(suppressionMatch(lead, new Set(['acme.io']))).toEqual({ by: 'website', domain: 'acme.io' });
    expect(suppressionMatch(lead, new Set(['notexample.com', 'other@eu.example.com']))).toBeNull();
  });

  it('says why without the address', () => {
    expect(suppressionReason({ by: 'email' })).toBe('Suppressed: the email address is on your suppression list.');
    expect(suppressionReason({ by: 'email_domain', domain: 'example.com' })).toBe("Suppressed: the email's domain example.com is on your suppression list.");
    expect(suppressionReason({ by: 'website', domain: 'acme.io' })).toBe("Suppressed: the website's domain acme.io is on your suppression list.");
  });
});

describe('skip_personalized_within_days', () => {
  it('takes 0 to 3650 whole days, 0 turning it off', () => {
    expect(parseSkipPersonalizedWithinDays('30')).toBe(30);
    expect(parseSkipPersonalizedWithinDays(' 3650 ')).toBe(3650);
    expect(parseSkipPersonalizedWithinDays('0')).toBe(0);
    for (const bad of ['3651', '-1', '1.5', 'thirty', '', '1e3']) expect(parseSkipPersonalizedWithinDays(bad)).toBeNull();
    expect(skipPersonalizedWindow({ skip_personalized_within_days: '30' })).toBe(30);
    expect(skipPersonalizedWindow({ skip_personalized_within_days: '0' })).toBeNull();
    expect(skipPersonalizedWindow({})).toBeNull();
    expect(skipPersonalizedWindow(undefined)).toBeNull();
  });

  it('names the campaign and the day', () => {
    expect(recentlyPersonalizedReason({ campaignName: 'Q1 outbound', personalizedAt: '2026-03-02T10:00:00.000Z' }, 30)).toBe(
      'Suppressed: personalized in campaign "Q1 outbound" on 2026-03-02 (skip_personalized_within_days: within the last 30 days).',
    );
  });
});

describe('entryColumn', () => {
  it('takes the email column, else a domain or website column, else the first', () => {
    expect(entryColumn(['Name', 'Secondary Email', 'Email'], matchHeader)).toEqual({ index: 2, header: 'Email' });
    expect(entryColumn(['Company', 'Company Domain'], matchHeader)).toEqual({ index: 1, header: 'Company Domain' });
    expect(entryColumn(['Company', 'Website'], matchHeader)).toEqual({ index: 1, header: 'Website' });
    expect(entryColumn(['Blocked', 'Notes'], matchHeader)).toEqual({ index: 0, header: 'Blocked' });
  });

  it('reads a first row holding an entry as data, from its address column', () => {
    expect(entryColumn(['ada@example.com'], matchHeader)).toEqual({ index: 0, header: null });
    expect(entryColumn(['Ada', 'ada@example.com'], matchHeader)).toEqual({ index: 1, header: null });
    expect(entryColumn(['example.org', 'competitor'], matchHeader)).toEqual({ index: 0, header: null });
  });
});

describe('a run with suppressed leads', () => {
  const counters = { valid: 3, skipped: 0, personalized: 0, needs_review: 0, failed: 0, suppressed: 0 };

  it('is settled when every lead is skipped, suppressed or processed', () => {
    expect(isSettled({ ...counters, suppressed: 2, personalized: 1 })).toBe(true);
    expect(isSettled({ ...counters, suppressed: 2 })).toBe(false);
  });

  it('completes with a message when nothing was left to process', () => {
    expect(outcomeOf({ ...counters, suppressed: 3 })).toEqual({ status: 'completed', errorMessage: "Nothing was processed: 3 leads are suppressed (each suppressed lead's error says why)." });
    expect(outcomeOf({ ...counters, suppressed: 1, skipped: 2 })).toEqual({
      status: 'completed',
      errorMessage: "Nothing was processed: 1 lead is suppressed and 2 already personalized (each suppressed lead's error says why).",
    });
    expect(outcomeOf({ ...counters, suppressed: 2, personalized: 1 })).toEqual({ status: 'completed', errorMessage: null });
    expect(outcomeOf({ ...counters, suppressed: 2, failed: 1 })).toEqual({ status: 'failed', errorMessage: 'No lead could be personalized (1 failed).' });
  });
});
