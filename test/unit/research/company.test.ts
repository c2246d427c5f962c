import { describe, expect, it } from 'vitest';
import { companyFields, companyKey, normalizedCompanyName, websiteHost } from '../../../domain/research/company.ts';
import { rerunEstimate } from '../../../src/app/rerun-campaign.ts';
import { DEFAULT_PRICING, estimateRunCost } from '../../../domain/pricing/pricing.ts';

describe('companyKey', () => {
  it('is the website domain when the lead has one, whatever the way it is written', () => {
    for (const website of ['northwind.example', 'https://www.Northwind.example/about?x=1', 'http://northwind.example:8080/', 'www2.northwind.example.', '//northwind.example#top']) {
      expect(companyKey({ company: 'Northwind', website })).toBe('domain:northwind.example');
    }
  });

  it('is the normalized name without a usable website (none, a profile on a social network, not a host)', () => {
    for (const website of [undefined, '', 'https://www.linkedin.com/company/northwind', 'facebook.com/northwind', 'northwind', '10.0.0.1', 'n/a']) {
      expect(companyKey({ company: 'The Northwind Corp., Inc.', website })).toBe('name:northwind');
    }
  });

  it('tells subdomains and other companies apart', () => {
    expect(companyKey({ company: 'Acme', website: 'eu.acme.example' })).toBe('domain:eu.acme.example');
    expect(companyKey({ company: 'Acme Robotics' })).not.toBe(companyKey({ company: 'Acme Analytics' }));
  });

  it('without a website, keeps the email domain with the name: firms of one name are not one company', () => {
    expect(companyKey({ company: 'Apex Consulting', email: 'ann@apex-one.example' })).toBe('name:apex consulting|mail:apex-one.example');
    expect(companyKey({ company: 'Apex Consulting', email: 'bob@APEX-ONE.example' })).toBe('name:apex consulting|mail:apex-one.example');
    expect(companyKey({ company: 'Apex Consulting', email: 'cy@apex-two.example' })).not.toBe(companyKey({ company: 'Apex Consulting', email: 'ann@apex-one.example' }));
    // The website wins over the email: contacts writing from an agency's domain are still the company's.
    expect(companyKey({ company: 'Apex', website: 'apex.example', email: 'ann@agency.example' })).toBe('domain:apex.example');
  });

  it('researches a lead alone when nothing but a freemail address and a name tell its company apart', () => {
    expect(companyKey({ company: 'Self-employed', email: 'ann@gmail.com' })).toBe('lead:ann@gmail.com');
    expect(companyKey({ company: 'Self-employed', email: 'bob@gmail.com' })).not.toBe(companyKey({ company: 'Self-employed', email: 'ann@gmail.com' }));
  });
});

describe('normalizedCompanyName', () => {
  it.each([
    ['Acme', 'acme'],
    ['ACME, Inc.', 'acme'],
    ['Acme Robotics GmbH', 'acme robotics'],
    ['Chloé & Fils S.A.', 'chloe and fils s a'],
    ['The Company', 'company'],
    ['Inc.', 'inc'],
    ['  Bergwerk   Logistik  ', 'bergwerk logistik'],
  ])('%s → %s', (name, key) => {
    expect(normalizedCompanyName(name)).toBe(key);
  });
});

describe('websiteHost', () => {
  it('keeps the host of a company site only', () => {
    expect(websiteHost('HTTPS://Shop.Lumen-Analytics.example/en')).toBe('shop.lumen-analytics.example');
    expect(websiteHost('user:pw@lumen.example')).toBe('lumen.example');
    expect(websiteHost('sites.google.com/view/acme')).toBeUndefined();
    expect(websiteHost('localhost')).toBeUndefined();
  });
});

describe('companyFields', () => {
  it("keeps the company's fields and none of the person's", () => {
    expect(
      companyFields({ email: 'ada@acme.example', first_name: 'Ada', last_name: 'Moreno', title: 'VP Sales', linkedin_url: 'https://linkedin.com/in/ada', company: 'Acme', website: 'acme.example', industry: 'Robotics', city: 'Austin' }),
    ).toEqual({ company: 'Acme', website: 'acme.example', industry: 'Robotics', city: 'Austin' });
  });
});

describe('rerunEstimate', () => {
  it('prices research only for the leads that need it', () => {
    expect(rerunEstimate(4, 4, DEFAULT_PRICING)).toBe(estimateRunCost(4, DEFAULT_PRICING).totalUsd);
    const withoutResearch = rerunEstimate(4, 0, DEFAULT_PRICING);
    expect(Number(withoutResearch)).toBeLessThan(Number(estimateRunCost(4, DEFAULT_PRICING).totalUsd));
    expect(Number(rerunEstimate(4, 1, DEFAULT_PRICING))).toBeCloseTo(Number(withoutResearch) + Number(estimateRunCost(1, DEFAULT_PRICING).totalUsd) - Number(rerunEstimate(1, 0, DEFAULT_PRICING)), 6);
  });
});
