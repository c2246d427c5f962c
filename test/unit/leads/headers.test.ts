import { describe, expect, it } from 'vitest';
import { findHeader, HEADER_ALIASES, mapHeader, matchHeader, normalizeHeader } from '../../../domain/leads/headers.ts';
import { ImportError } from '../../../domain/leads/import-error.ts';
import { CANONICAL_FIELDS, type CanonicalField } from '../../../domain/leads/lead.ts';

describe('normalizeHeader', () => {
  it.each([
    ['First Name', 'first_name'],
    ['  First Name  ', 'first_name'],
    ['FIRST_NAME', 'first_name'],
    ['firstName', 'first_name'],
    ['FirstName', 'first_name'],
    ['first-name', 'first_name'],
    ['"First Name"', 'first_name'],
    ['\uFEFFEmail', 'email'],
    ['E\u200Bmail', 'email'],
    ['E-mail', 'e_mail'],
    ['# Employees', 'employees'],
    ['Person Linkedin Url', 'person_linkedin_url'],
    ['linkedInProfileUrl', 'linked_in_profile_url'],
    ['LinkedInURL', 'linked_in_url'],
    ['Country/Region', 'country_region'],
    ['Company / Account', 'company_account'],
    ['Prénom', 'prenom'],
    ['Société', 'societe'],
    ['email2', 'email_2'],
    ['2nd Email', '2_nd_email'],
    ['Owner’s Email', 'owners_email'],
    ['ＥＭＡＩＬ', 'email'],
    ['***', ''],
  ])('%j → %j', (header, key) => {
    expect(normalizeHeader(header)).toBe(key);
  });
});

describe('matchHeader over real export spellings', () => {
  it.each<[string, string, CanonicalField]>([
    // Apollo
    ['Apollo', 'First Name', 'first_name'],
    ['Apollo', 'Last Name', 'last_name'],
    ['Apollo', 'Title', 'title'],
    ['Apollo', 'Company', 'company'],
    ['Apollo', 'Company Name for Emails', 'company'],
    ['Apollo', 'Email', 'email'],
    ['Apollo', 'Secondary Email', 'email'],
    ['Apollo', 'Tertiary Email', 'email'],
    ['Apollo', 'Person Linkedin Url', 'linkedin_url'],
    ['Apollo', 'Website', 'website'],
    ['Apollo', 'Company Linkedin Url', 'company_linkedin_url'],
    ['Apollo', 'City', 'city'],
    ['Apollo', 'State', 'state'],
    ['Apollo', 'Country', 'country'],
    ['Apollo', 'Industry', 'industry'],
    ['Apollo', '# Employees', 'employees'],
    ['Apollo', 'Seniority', 'seniority'],
    ['Apollo', 'Departments', 'department'],
    ['Apollo', 'Mobile Phone', 'phone'],
    ['Apollo', 'Corporate Phone', 'phone'],
    ['Apollo', 'Work Direct Phone', 'phone'],
    ['Apollo', 'Home Phone', 'phone'],
    // HubSpot
    ['HubSpot', 'Company Name', 'company'],
    ['HubSpot', 'Job Title', 'title'],
    ['HubSpot', 'Phone Number', 'phone'],
    ['HubSpot', 'Website URL', 'website'],
    ['HubSpot', 'Country/Region', 'country'],
    ['HubSpot', 'State/Region', 'state'],
    ['HubSpot', 'Mobile Phone Number', 'phone'],
    // Salesforce
    ['Salesforce', 'Account Name', 'company'],
    ['Salesforce', 'Company / Account', 'company'],
    ['Salesforce', 'Mobile', 'phone'],
    ['Salesforce', 'Phone', 'phone'],
    ['Salesforce', 'Mailing City', 'city'],
    ['Salesforce', 'Mailing State/Province', 'state'],
    ['Salesforce', 'Mailing Country', 'country'],
    // LinkedIn Sales Navigator exports
    ['Sales Navigator', 'firstName', 'first_name'],
    ['Sales Navigator', 'lastName', 'last_name'],
    ['Sales Navigator', 'fullName', 'full_name'],
    ['Sales Navigator', 'companyName', 'company'],
    ['Sales Navigator', 'title', 'title'],
    ['Sales Navigator', 'linkedInProfileUrl', 'linkedin_url'],
    ['Sales Navigator', 'profileUrl', 'linkedin_url'],
    ['Sales Navigator', 'location', 'location'],
    ['Sales Navigator', 'companyWebsite', 'website'],
    // lemlist
    ['lemlist', 'email', 'email'],
    ['lemlist', 'linkedinUrl', 'linkedin_url'],
    ['lemlist', 'phone', 'phone'],
    ['lemlist', 'companyDomain', 'website'],
    // Instantly
    ['Instantly', 'LinkedIn', 'linkedin_url'],
    ['Instantly', 'Location', 'location'],
    // Smartlead
    ['Smartlead', 'first_name', 'first_name'],
    ['Smartlead', 'phone_number', 'phone'],
    ['Smartlead', 'company_name', 'company'],
    ['Smartlead', 'linkedin_profile', 'linkedin_url'],
    ['Smartlead', 'company_url', 'website'],
    // Clay
    ['Clay', 'Full Name', 'full_name'],
    ['Clay', 'Company Domain', 'website'],
    ['Clay', 'LinkedIn Profile', 'linkedin_url'],
    ['Clay', 'Work Email', 'email'],
    // hand-made sheets
    ['sheet', 'E-mail', 'email'],
    ['sheet', 'E-Mail', 'email'],
    ['sheet', 'EMAIL', 'email'],
    ['sheet', 'Email Address', 'email'],
    ['sheet', 'email_address', 'email'],
    ['sheet', 'Business Email', 'email'],
    ['sheet', 'Personal Email', 'email'],
    ['sheet', 'Organization', 'company'],
    ['sheet', 'Organisation', 'company'],
    ['sheet', 'Employer', 'company'],
    ['sheet', 'Position', 'title'],
    ['sheet', 'Role', 'title'],
    ['sheet', 'FIRST_NAME', 'first_name'],
    ['sheet', 'First', 'first_name'],
    ['sheet', 'Given Name', 'first_name'],
    ['sheet', 'Surname', 'last_name'],
    ['sheet', 'Family Name', 'last_name'],
    ['sheet', 'Name', 'full_name'],
    ['sheet', 'URL', 'website'],
    ['sheet', 'Domain', 'website'],
    ['sheet', 'Company Website', 'website'],
    ['sheet', 'Web Site', 'website'],
    ['sheet', ' Company  Name ', 'company'],
    ['sheet', '"Email"', 'email'],
    ['sheet', '\uFEFFFirst Name', 'first_name'],
    ['sheet', 'Prénom', 'first_name'],
    ['sheet', 'Société', 'company'],
    ['sheet', 'Téléphone', 'phone'],
    ['sheet', 'LINKEDIN URL', 'linkedin_url'],
    ['sheet', 'Linked In', 'linkedin_url'],
    ['sheet', 'No. of Employees', 'employees'],
  ])('%s %j → %s', (_source, header, field) => {
    expect(matchHeader(header)?.field).toBe(field);
  });

  it.each([
    'Email Status',
    'Email Sent',
    'Email Open',
    'Email Bounced',
    'Email Confidence',
    'Primary Email Source',
    'Secondary Email Source',
    'Company City',
    'Company State',
    'Company Country',
    'Company Phone',
    'Company Address',
    'Facebook Url',
    'Twitter Url',
    'Apollo Contact Id',
    'Lead Source',
    'Lead Status',
    'Record ID',
    'Lifecycle Stage',
    'icebreaker',
    'personalization',
    'Keywords',
    'Sales Navigator URL',
    'Emails',
    'Company Email Domain',
    '',
  ])('%j feeds no field (exact match, never a substring)', (header) => {
    expect(matchHeader(header)).toBeNull();
  });

  it('maps "Company Linkedin Url" to the company page, not the person profile', () => {
    expect(matchHeader('Company Linkedin Url')).toEqual({ field: 'company_linkedin_url', rank: 0 });
  });

  it('lists aliases only for canonical fields, each field at least once', () => {
    expect(Object.keys(HEADER_ALIASES).sort()).toEqual([...CANONICAL_FIELDS].sort());
  });

  it('gives every listed spelling back its own field and rank', () => {
    for (const [field, tiers] of Object.entries(HEADER_ALIASES)) {
      for (const [rank, ...spellings] of tiers) {
        for (const spelling of spellings) expect(matchHeader(spelling), spelling).toEqual({ field, rank });
      }
    }
  });
});

describe('mapHeader', () => {
  it('keeps every column in file order and names empty header cells column_<n>', () => {
    const header = mapHeader(['Email', '', 'Notes', '  ', 'Company']);
    expect(header.names).toEqual(['Email', 'column_2', 'Notes', 'column_4', 'Company']);
    expect(header.columns).toEqual([
      { original: 'Email', canonical: 'email' },
      { original: 'column_2', canonical: null },
      { original: 'Notes', canonical: null },
      { original: 'column_4', canonical: null },
      { original: 'Company', canonical: 'company' },
    ]);
  });

  it('gives a field to the best-ranked alias, whatever the column order', () => {
    const header = mapHeader(['Personal Email', 'Work Email', 'Company', 'E-mail']);
    expect(header.columns.map((column) => column.canonical)).toEqual([null, null, 'company', 'email']);
    expect(header.candidates.get('email')).toEqual([3, 1, 0]);
  });

  it('breaks a tie of ranks by the leftmost column, duplicate header names included', () => {
    const header = mapHeader(['Email Address', 'Email', 'Company', 'Email']);
    expect(header.names).toEqual(['Email Address', 'Email', 'Company', 'Email']);
    expect(header.columns.map((column) => column.canonical)).toEqual(['email', null, 'company', null]);
    expect(header.candidates.get('email')).toEqual([0, 1, 3]);
  });

  it('is deterministic: the same header always maps the same way', () => {
    const cells = ['Mobile Phone', 'Phone', 'Corporate Phone', 'Email', 'Company Name for Emails', 'Company'];
    const first = mapHeader(cells);
    expect(mapHeader([...cells])).toEqual(first);
    expect(first.candidates.get('phone')).toEqual([1, 0, 2]);
    expect(first.candidates.get('company')).toEqual([5, 4]);
  });

  it('rejects a header without an email column, naming the headers it found', () => {
    const error = catchImportError(() => mapHeader(['Name', 'Phone', 'Company', 'Email Status']));
    expect(error.code).toBe('NO_EMAIL_COLUMN');
    expect(error.message).toBe(
      'No column looks like an email address. Found: Name, Phone, Company, Email Status. Rename the email column to "Email".',
    );
  });

  it('lists at most 12 headers in that message', () => {
    const cells = Array.from({ length: 30 }, (_, index) => `Field ${index + 1}`);
    const error = catchImportError(() => mapHeader(cells));
    expect(error.message).toContain('Field 12 and 18 more.');
    expect(error.message).not.toContain('Field 13');
  });

  it('rejects an empty header row', () => {
    expect(catchImportError(() => mapHeader(['', ' ', ''])).code).toBe('NO_HEADER');
  });

  it.each([['Jane', 'jane@acme.example', 'Acme'], ['Jane', 'jane@acme', 'Acme']])(
    'rejects a first row of data %j without echoing what it holds',
    (...cells) => {
      const error = catchImportError(() => mapHeader(cells));
      expect(error.code).toBe('NO_HEADER');
      expect(error.message).toBe(
        'The first row holds data, not column names. Add a first row with the column names, such as Email, First Name, Company.',
      );
    },
  );
});

describe('findHeader', () => {
  const LINKEDIN_HEADER = ['First Name', 'Last Name', 'URL', 'Email Address', 'Company', 'Position', 'Connected On'];

  it('is the first row when it looks like a header', () => {
    expect(findHeader([['Email', 'Company']])).toBe(0);
    expect(findHeader([['Email'], ['a@acme.example']])).toBe(0);
  });

  it("skips LinkedIn's preamble and other banner lines above the header", () => {
    const note = 'When exporting your connection data, you may notice that some of the email addresses are missing.';
    expect(findHeader([['Notes:'], [note], [''], LINKEDIN_HEADER])).toBe(3);
    expect(findHeader([[''], ['Email', 'Company']])).toBe(1);
    expect(findHeader([['Leads export', '2026-01-01'], [], ['Email', 'Company', 'City']])).toBe(2);
  });

  it('is null until a row looks like a header: one with an email column and no address', () => {
    expect(findHeader([])).toBeNull();
    expect(findHeader([['Notes:'], ['']])).toBeNull();
    expect(findHeader([['Name', 'Company'], ['Ava', 'Acme']])).toBeNull();
    expect(findHeader([['a@acme.example', 'Email']])).toBeNull();
  });

  it('never takes a data row for the header: a header is wider than every row above it', () => {
    // No email column in the real header; a data row whose cells read "Email" and "Company".
    expect(findHeader([['Name', 'Preferred Channel', 'Company'], ['Ava', 'Email', 'Acme']])).toBeNull();
    expect(findHeader([['Title', 'Notes'], ['Email', '']])).toBeNull();
  });
});

function catchImportError(action: () => unknown): ImportError {
  try {
    action();
  } catch (error) {
    if (error instanceof ImportError) return error;
    throw error;
  }
  throw new Error('expected an ImportError');
}
