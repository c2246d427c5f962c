import { describe, expect, it } from 'vitest';
import { CsvLeadFileReader } from '../../adapters/csv/csv-lead-file-reader.ts';
import { DEFAULT_IMPORT_LIMITS, DEMO_LEAD_CAP, ImportError, type ImportErrorCode, type ImportLimits } from '../../domain/leads/import-error.ts';
import type { ImportReport, Lead } from '../../domain/leads/lead.ts';
import type { ImportPreview } from '../../ports/preview-import.port.ts';
import { PreviewImportService } from '../../src/app/preview-import.ts';
import { chunked, fixture, rejectionOf, utf8 } from './helpers/lead-files.ts';

function preview(bytes: Uint8Array, { demo = false, sampleSize = 1000, limits = DEFAULT_IMPORT_LIMITS }: { demo?: boolean; sampleSize?: number; limits?: ImportLimits } = {}): Promise<ImportPreview> {
  const service = new PreviewImportService({ reader: new CsvLeadFileReader(), limits });
  return service.preview({ file: chunked(bytes, 1024), demo, sampleSize });
}

function summary(report: ImportReport) {
  const { total_rows, valid, duplicates, rejected, demo_excluded } = report;
  return { total_rows, valid, duplicates, rejected, demo_excluded };
}

function byEmail(leads: readonly Lead[], email: string): Lead {
  const lead = leads.find((candidate) => candidate.email === email);
  if (lead === undefined) throw new Error(`no lead ${email}`);
  return lead;
}

describe('examples/leads.csv, the file the quick start uploads', () => {
  it('gives what the README says: 9 valid leads of 6 companies, a duplicate and two rejected rows', async () => {
    const { readFile } = await import('node:fs/promises');
    const { report, sample } = await preview(new Uint8Array(await readFile(new URL('../../examples/leads.csv', import.meta.url))));
    expect(summary(report)).toEqual({ total_rows: 12, valid: 9, duplicates: 1, rejected: [expect.objectContaining({ row: 10 }), expect.objectContaining({ row: 12 })], demo_excluded: 0 });
    expect(new Set(sample.map((lead) => lead.company)).size).toBe(6);
  });
});

describe('PreviewImportService over real export layouts', () => {
  it('imports an Apollo export: fallbacks, negatives, duplicates and rejections', async () => {
    const { report, sample } = await preview(fixture('apollo.csv'));
    expect(summary(report)).toEqual({
      total_rows: 6,
      valid: 3,
      duplicates: 1,
      rejected: [
        { row: 4, reason: "row 4: email 'maya.ruiz@' is not a valid address" },
        { row: 6, reason: 'row 6: company is empty' },
      ],
      demo_excluded: 0,
    });
    expect(sample.map((lead) => [lead.row, lead.email])).toEqual([
      [2, 'ava.stone@northwind.example'],
      [3, 'liam@parkside.example'],
      [7, 'zoe@adamsco.example'],
    ]);
    expect(byEmail(sample, 'ava.stone@northwind.example').canonical).toEqual({
      first_name: 'Ava',
      last_name: 'Stone',
      title: 'VP Marketing',
      company: 'Northwind Traders, Inc.',
      email: 'ava.stone@northwind.example',
      seniority: 'Vp',
      department: 'Marketing',
      phone: '+1 415-555-0100',
      employees: '240',
      industry: 'wholesale',
      linkedin_url: 'http://www.linkedin.com/in/ava-stone-example',
      website: 'http://www.northwind.example',
      company_linkedin_url: 'http://www.linkedin.com/company/northwind-example',
      city: 'San Francisco',
      state: 'California',
      country: 'United States',
    });
    const mapped = Object.fromEntries(report.columns.map((column) => [column.original, column.canonical]));
    expect(report.columns).toHaveLength(54);
    expect(mapped).toMatchObject({
      Email: 'email',
      'Email Status': null,
      'Secondary Email': null,
      'Email Sent': null,
      Company: 'company',
      'Company Name for Emails': null,
      'Work Direct Phone': 'phone',
      'Mobile Phone': null,
      'Company Phone': null,
      'Company City': null,
      'Company Linkedin Url': 'company_linkedin_url',
      'Person Linkedin Url': 'linkedin_url',
    });
    const zoe = byEmail(sample, 'zoe@adamsco.example');
    expect(zoe.fields).toHaveLength(54);
    expect(zoe.fields.find((field) => field.header === 'Keywords')?.value).toBe('consulting, "go-to-market", revops');
  });

  it('imports a HubSpot export with a BOM and CRLF line endings', async () => {
    const { report, sample } = await preview(fixture('hubspot.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 3, valid: 2, duplicates: 0, rejected: [{ row: 4, reason: 'row 4: email is empty' }] });
    expect(report.columns[0]).toEqual({ original: 'Record ID', canonical: null });
    expect(byEmail(sample, 'jose.nunez@solaria.example').canonical).toMatchObject({
      first_name: 'José',
      last_name: 'Núñez',
      company: 'Solaria Energía',
      title: 'Director Comercial',
      phone: '+34 91 555 0101',
      website: 'https://solaria.example',
      state: 'Madrid',
      country: 'Spain',
    });
    expect(byEmail(sample, 'zoe.mueller@kraftwerk.example').canonical.city).toBe('München');
  });

  it('imports a Salesforce contacts report', async () => {
    const { report, sample } = await preview(fixture('salesforce.csv'));
    expect(summary(report)).toMatchObject({
      total_rows: 4,
      valid: 3,
      rejected: [{ row: 4, reason: "row 4: email 'peter.gibbons@initech' is not a valid address" }],
    });
    expect(byEmail(sample, 'bill.lumbergh@initech.example').canonical).toMatchObject({ company: 'Initech', phone: '(555) 010-0002', city: 'Austin', state: 'TX' });
    expect(byEmail(sample, 'alice@umbrella.example').company).toBe('Umbrella, Ltd.');
  });

  it('imports a LinkedIn Sales Navigator export (camelCase headers)', async () => {
    const { report, sample } = await preview(fixture('sales-navigator.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 3, valid: 2, rejected: [{ row: 4, reason: 'row 4: email is empty' }] });
    expect(report.columns.filter((column) => column.canonical !== null).map((column) => [column.original, column.canonical])).toEqual([
      ['fullName', 'full_name'],
      ['firstName', 'first_name'],
      ['lastName', 'last_name'],
      ['companyName', 'company'],
      ['title', 'title'],
      ['location', 'location'],
      ['linkedInProfileUrl', 'linkedin_url'],
      ['companyWebsite', 'website'],
      ['email', 'email'],
    ]);
    const tomas = byEmail(sample, 'tomas@ferreira-log.example');
    expect(tomas.canonical).toMatchObject({ first_name: 'Tomás', company: 'Ferreira Logística', location: 'Lisbon, Portugal' });
    expect(tomas.canonical.website).toBeUndefined();
  });

  it('imports a LinkedIn connections export: the "Notes:" preamble above the header skipped, spreadsheet row numbers kept', async () => {
    for (const chunkSize of [1024, 5]) {
      const service = new PreviewImportService({ reader: new CsvLeadFileReader(), limits: DEFAULT_IMPORT_LIMITS });
      const { report, sample } = await service.preview({ file: chunked(fixture('linkedin-connections.csv'), chunkSize), demo: false, sampleSize: 10 });
      expect(summary(report)).toEqual({
        total_rows: 6,
        valid: 3,
        duplicates: 0,
        rejected: [
          { row: 6, reason: 'row 6: email is empty' },
          { row: 8, reason: 'row 8: company is empty' },
          { row: 9, reason: 'row 9: email is empty' },
        ],
        demo_excluded: 0,
      });
      expect(report.columns).toEqual([
        { original: 'First Name', canonical: 'first_name' },
        { original: 'Last Name', canonical: 'last_name' },
        { original: 'URL', canonical: 'website' },
        { original: 'Email Address', canonical: 'email' },
        { original: 'Company', canonical: 'company' },
        { original: 'Position', canonical: 'title' },
        { original: 'Connected On', canonical: null },
      ]);
      expect(sample.map((lead) => [lead.row, lead.email, lead.company])).toEqual([
        [5, 'nadia@brightwave.example', 'Brightwave Solar'],
        [7, 'priya.raman@lotusleaf.example', 'Lotus Leaf Analytics, Inc.'],
        [10, 'elena.garcia@ribera.example', 'Ribera Foods'],
      ]);
      // Its "URL" is the person's profile, not the company's website.
      expect(byEmail(sample, 'elena.garcia@ribera.example').canonical).toEqual({
        first_name: 'Elena',
        last_name: 'García',
        email: 'elena.garcia@ribera.example',
        company: 'Ribera Foods',
        title: 'Marketing Director',
        linkedin_url: 'https://www.linkedin.com/in/elena-garcia-example',
      });
    }
  });

  it('says which headers it found when a Sales Navigator export has no email column', async () => {
    const text = 'profileUrl,fullName,companyName,title\nhttps://www.linkedin.com/sales/lead/1,Jo Doe,Acme,CEO\n';
    const error = await rejectionOf(preview(utf8(text)));
    expect(error).toBeInstanceOf(ImportError);
    expect((error as ImportError).message).toBe(
      'No column looks like an email address. Found: profileUrl, fullName, companyName, title. Rename the email column to "Email".',
    );
  });

  it('imports a lemlist export with a multi-line icebreaker', async () => {
    const { report, sample } = await preview(fixture('lemlist.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 3, valid: 2, duplicates: 1, rejected: [] });
    const olivia = byEmail(sample, 'olivia@quantum-leap.example');
    expect(olivia.canonical).toMatchObject({ website: 'quantum-leap.example', linkedin_url: 'https://www.linkedin.com/in/olivia-chen-example', phone: '+44 20 5555 0101' });
    expect(olivia.fields.find((field) => field.header === 'icebreaker')?.value).toBe('Loved your talk at SaaStr,\nespecially the "pricing" part.');
    expect(byEmail(sample, 'marco@bellavista.example').row).toBe(3);
  });

  it('imports an Instantly export', async () => {
    const { report, sample } = await preview(fixture('instantly.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 2, valid: 1, rejected: [{ row: 3, reason: "row 3: email 'jess@ (work)' is not a valid address" }] });
    expect(sample[0]?.canonical).toMatchObject({ title: 'Founder & CEO', linkedin_url: 'https://linkedin.com/in/sam-rivera-example', location: 'Miami, FL' });
  });

  it('imports a Smartlead export, falling back to company_url for an empty website', async () => {
    const { report, sample } = await preview(fixture('smartlead.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 2, valid: 2 });
    expect(byEmail(sample, 'aisha@lagostech.example').canonical).toMatchObject({ phone: '+234 1 555 0101', website: 'lagostech.example', linkedin_url: 'https://www.linkedin.com/in/aisha-bello-example' });
    expect(byEmail(sample, 'erik@fjord.example').canonical.website).toBe('https://fjord.example');
  });

  it('imports a Clay table, splitting the full name', async () => {
    const { report, sample } = await preview(fixture('clay.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 2, valid: 2 });
    expect(byEmail(sample, 'grace@cobol.example').canonical).toMatchObject({ full_name: 'Grace Hopper Jr', first_name: 'Grace', last_name: 'Hopper Jr', website: 'cobol.example' });
    expect(byEmail(sample, 'ada@engineworks.example').canonical).toMatchObject({ first_name: 'Ada' });
    expect(byEmail(sample, 'ada@engineworks.example').canonical.last_name).toBeUndefined();
  });

  it('imports a hand-made sheet saved by a French Excel: Windows-1252, semicolons, CRLF', async () => {
    const { report, sample } = await preview(fixture('excel-fr-windows-1252.csv'));
    expect(summary(report)).toMatchObject({ total_rows: 2, valid: 2 });
    expect(report.columns.map((column) => column.original)).toEqual(['Prénom', 'Nom', 'Société', 'E-mail', 'Téléphone', 'Ville', 'Budget']);
    expect(byEmail(sample, 'amelie.dubois@cremecafe.example').canonical).toMatchObject({
      first_name: 'Amélie',
      last_name: 'Dubois',
      company: 'Crème & Café SARL',
      phone: '01 55 55 01 01',
      city: 'Besançon',
    });
    expect(byEmail(sample, 'f.lefevre@brasserie-noel.example').fields.at(-1)).toEqual({ header: 'Budget', value: '12 500 €' });
  });
});

describe('PreviewImportService options', () => {
  const rows = Array.from({ length: 25 }, (_, index) => `lead${index}@acme.example,Acme ${index}`);
  const file = utf8(['Email,Company', ...rows, ''].join('\n'));

  it('returns at most sampleSize leads, in file order', async () => {
    expect((await preview(file, { sampleSize: 3 })).sample.map((lead) => lead.row)).toEqual([2, 3, 4]);
    expect((await preview(file, { sampleSize: 0 })).sample).toEqual([]);
    expect((await preview(file, { sampleSize: 3 })).report.valid).toBe(25);
  });

  it('skips a blank first line above the header', async () => {
    const { report, sample } = await preview(utf8('\nEmail,Company\na@acme.example,Acme\n'));
    expect(summary(report)).toMatchObject({ total_rows: 1, valid: 1 });
    expect(sample.map((lead) => lead.row)).toEqual([3]);
  });

  it(`caps a demo at ${DEMO_LEAD_CAP} leads and counts the rest`, async () => {
    const { report, sample } = await preview(file, { demo: true });
    expect(summary(report)).toEqual({ total_rows: 25, valid: DEMO_LEAD_CAP, duplicates: 0, rejected: [], demo_excluded: 25 - DEMO_LEAD_CAP });
    expect(sample).toHaveLength(DEMO_LEAD_CAP);
  });
});

describe('PreviewImportService whole-file errors', () => {
  it.each<[string, Uint8Array, ImportErrorCode, Partial<ImportLimits>?]>([
    ['nothing at all', new Uint8Array(0), 'EMPTY_FILE'],
    ['a header only', utf8('Email,Company\n'), 'NO_DATA_ROWS'],
    ['a header and blank lines', utf8('Email,Company\r\n\r\n,\r\n  \r\n'), 'NO_DATA_ROWS'],
    ['a first row of empty cells', utf8(',,\na@acme.example,Acme,x\n'), 'NO_HEADER'],
    ['data without a header row', utf8('a@acme.example,Acme\nb@acme.example,Beta\n'), 'NO_HEADER'],
    ['no email column', utf8('Name,Company\nAva,Acme\n'), 'NO_EMAIL_COLUMN'],
    ['a JSON file', utf8('[{"email":"a@acme.example"}]'), 'NOT_CSV'],
    ['too many columns', utf8('Email,Company,City\na@acme.example,Acme,Paris\n'), 'TOO_MANY_COLUMNS', { maxColumns: 2 }],
    ['a cell too large', utf8(`Email,Company\na@acme.example,${'A'.repeat(50)}\n`), 'CELL_TOO_LARGE', { maxCellChars: 40 }],
    ['a file too large', utf8(`Email,Company\n${'a@acme.example,Acme\n'.repeat(100)}`), 'FILE_TOO_LARGE', { maxBytes: 1000 }],
    ['an unclosed quote', utf8('Email,Company\na@acme.example,"Acme\n'), 'MALFORMED_CSV'],
  ])('%s → %s, with no lead data in the message', async (_name, bytes, code, limits = {}) => {
    const error = await rejectionOf(preview(bytes, { limits: { ...DEFAULT_IMPORT_LIMITS, ...limits } }));
    expect(error).toBeInstanceOf(ImportError);
    expect((error as ImportError).code).toBe(code);
    expect((error as ImportError).message).not.toMatch(/@|acme/i);
  });
});
