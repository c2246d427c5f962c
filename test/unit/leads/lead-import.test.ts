import { describe, expect, it } from 'vitest';
import { DEFAULT_IMPORT_LIMITS, DEMO_LEAD_CAP, ImportError } from '../../../domain/leads/import-error.ts';
import { KEPT_ROW_CHARS, LeadImport, type AcceptOutcome, type LeadImportOptions } from '../../../domain/leads/lead-import.ts';
import type { ImportReport, Lead } from '../../../domain/leads/lead.ts';

const OPTIONS: LeadImportOptions = { demo: false, maxColumns: DEFAULT_IMPORT_LIMITS.maxColumns };

/** Runs an import over rows given as cell arrays: the first is the header (row 1). */
function run(rows: readonly (readonly string[])[], options: Partial<LeadImportOptions> = {}) {
  const [header = [], ...data] = rows;
  const leadImport = new LeadImport({ row: 1, cells: header }, { ...OPTIONS, ...options });
  const outcomes: AcceptOutcome[] = data.map((cells, index) => leadImport.accept({ row: index + 2, cells }));
  const leads: Lead[] = outcomes.flatMap((outcome) => (outcome.kind === 'lead' ? [outcome.lead] : []));
  return { leadImport, outcomes, leads, report: (): ImportReport => leadImport.report() };
}

function importErrorOf(action: () => unknown): ImportError {
  try {
    action();
  } catch (error) {
    if (error instanceof ImportError) return error;
    throw error;
  }
  throw new Error('expected an ImportError');
}

describe('LeadImport', () => {
  it('turns a valid row into a lead with trimmed canonical values and untouched original fields', () => {
    const { leads, report } = run([
      ['First Name', 'Last Name', 'Company', 'Email', 'Email Status', 'Notes'],
      [' Ava ', 'Stone', '  Northwind Traders ', ' Ava.Stone@Northwind.example ', 'Verified', '  keep  me  '],
    ]);
    expect(leads).toEqual([
      {
        row: 2,
        email: 'ava.stone@northwind.example',
        company: 'Northwind Traders',
        canonical: { first_name: 'Ava', last_name: 'Stone', company: 'Northwind Traders', email: 'ava.stone@northwind.example' },
        fields: [
          { header: 'First Name', value: ' Ava ' },
          { header: 'Last Name', value: 'Stone' },
          { header: 'Company', value: '  Northwind Traders ' },
          { header: 'Email', value: ' Ava.Stone@Northwind.example ' },
          { header: 'Email Status', value: 'Verified' },
          { header: 'Notes', value: '  keep  me  ' },
        ],
      },
    ]);
    expect(report()).toMatchObject({ total_rows: 1, valid: 1, duplicates: 0, rejected: [], demo_excluded: 0 });
  });

  it('gives reasons a person can act on, with the spreadsheet row number', () => {
    const { report, outcomes } = run([
      ['Email', 'Company', 'City'],
      ['ok@acme.example', 'Acme', 'Paris'],
      ['bob@', 'Acme', 'Paris'],
      ['', 'Acme', 'Paris'],
      ['carol@acme.example', '', 'Paris'],
      ['', '  ', 'Paris'],
      ['not an email', '', 'Paris'],
    ]);
    expect(report().rejected).toEqual([
      { row: 3, reason: "row 3: email 'bob@' is not a valid address" },
      { row: 4, reason: 'row 4: email is empty' },
      { row: 5, reason: 'row 5: company is empty' },
      { row: 6, reason: 'row 6: email is empty; company is empty' },
      { row: 7, reason: "row 7: email 'not an email' is not a valid address; company is empty" },
    ]);
    expect(outcomes[1]).toEqual({ kind: 'rejected', row: 3, reason: "row 3: email 'bob@' is not a valid address" });
  });

  it('shortens a runaway invalid value in a reason', () => {
    const { report } = run([['Email', 'Company'], [`${'x'.repeat(500)}@`, 'Acme']]);
    const [rejected] = report().rejected;
    expect(rejected?.reason).toBe(`row 2: email '${'x'.repeat(80)}…' is not a valid address`);
  });

  it('does not count blank records as rows', () => {
    const { report, outcomes } = run([
      ['Email', 'Company'],
      [''],
      ['a@acme.example', 'Acme'],
      ['  ', '\t'],
      [],
    ]);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['blank', 'lead', 'blank', 'blank']);
    expect(report().total_rows).toBe(1);
  });

  it('pads short rows, accepts long rows whose extra cells are empty, rejects the others', () => {
    const { leads, report } = run(
      [
        ['Email', 'Company', 'City'],
        ['a@acme.example', 'Acme'],
        ['b@acme.example', 'Acme', 'Paris', '', ' '],
        ['c@acme.example', 'Acme', 'Paris', 'Inc.'],
      ],
      { delimiter: ',' },
    );
    expect(leads.map((lead) => lead.fields)).toEqual([
      [
        { header: 'Email', value: 'a@acme.example' },
        { header: 'Company', value: 'Acme' },
        { header: 'City', value: '' },
      ],
      [
        { header: 'Email', value: 'b@acme.example' },
        { header: 'Company', value: 'Acme' },
        { header: 'City', value: 'Paris' },
      ],
    ]);
    expect(report().rejected).toEqual([
      {
        row: 4,
        reason: "row 4: 4 cells but the header has 3 — a value probably contains an unquoted ',' (put that value in double quotes)",
      },
    ]);
  });

  it('names a tab delimiter in words, and says "separator" when the delimiter is unknown', () => {
    const rows = [['Email', 'Company'], ['a@acme.example', 'Acme', 'Inc']];
    expect(run(rows, { delimiter: '\t' }).report().rejected[0]?.reason).toContain('unquoted tab (put');
    expect(run(rows).report().rejected[0]?.reason).toContain('unquoted separator (put');
  });

  it('keeps the first occurrence of an email, ignoring case and surrounding spaces', () => {
    const { outcomes, report, leads } = run([
      ['Email', 'Company'],
      ['Ann@Acme.example', 'Acme'],
      ['bob@acme.example', 'Acme'],
      ['  ann@acme.EXAMPLE ', 'Other'],
      ['BOB@ACME.EXAMPLE', 'Acme'],
    ]);
    expect(leads.map((lead) => [lead.row, lead.email, lead.company])).toEqual([
      [2, 'ann@acme.example', 'Acme'],
      [3, 'bob@acme.example', 'Acme'],
    ]);
    expect(outcomes.slice(2)).toEqual([
      { kind: 'duplicate', row: 4, firstRow: 2 },
      { kind: 'duplicate', row: 5, firstRow: 3 },
    ]);
    expect(report()).toMatchObject({ total_rows: 4, valid: 2, duplicates: 2, rejected: [] });
  });

  it('de-duplicates among valid rows only: a rejected row does not shadow a later valid one', () => {
    const { leads, report } = run([
      ['Email', 'Company'],
      ['ann@acme.example', ''],
      ['ann@acme.example', 'Acme'],
    ]);
    expect(leads.map((lead) => lead.row)).toEqual([3]);
    expect(report()).toMatchObject({ valid: 1, duplicates: 0 });
  });

  it(`caps a demo import at ${DEMO_LEAD_CAP} leads and still reads the whole file`, () => {
    const header = ['Email', 'Company'];
    const rows = Array.from({ length: 30 }, (_, index) => [`lead${index}@acme.example`, 'Acme']);
    const demo = run([header, ...rows, ['lead25@acme.example', 'Acme'], ['broken@', 'Acme']], { demo: true });
    expect(demo.leads).toHaveLength(DEMO_LEAD_CAP);
    expect(demo.leads.at(-1)?.email).toBe(`lead${DEMO_LEAD_CAP - 1}@acme.example`);
    expect(demo.outcomes[DEMO_LEAD_CAP]).toEqual({ kind: 'demo_excluded', row: DEMO_LEAD_CAP + 2 });
    expect(demo.report()).toMatchObject({ total_rows: 32, valid: DEMO_LEAD_CAP, demo_excluded: 10, duplicates: 1 });
    expect(demo.report().rejected).toHaveLength(1);

    const full = run([header, ...rows]);
    expect(full.report()).toMatchObject({ valid: 30, demo_excluded: 0 });
  });

  it('accounts for every data row exactly once in the report', () => {
    const { report } = run(
      [
        ['Email', 'Company'],
        ...Array.from({ length: 25 }, (_, index) => [`p${index % 22}@acme.example`, index % 7 === 0 ? '' : 'Acme']),
        ['x@', 'Acme'],
        ['y@acme.example', 'Acme', 'extra'],
      ],
      { demo: true },
    );
    const { total_rows, valid, duplicates, rejected, demo_excluded } = report();
    expect(valid + duplicates + rejected.length + demo_excluded).toBe(total_rows);
    expect(total_rows).toBe(27);
  });

  it('falls back, per row, to the next candidate column when the winning cell is empty', () => {
    const { leads, report } = run([
      ['Secondary Email', 'Email', 'Company', 'Company Name for Emails', 'Mobile Phone', 'Work Direct Phone'],
      ['second@acme.example', 'first@acme.example', 'Acme, Inc.', 'Acme', '+1 555 0100', '+1 555 0199'],
      ['liam@parkside.example', '', '', 'Parkside', '+1 555 0101', ''],
      ['', 'bad@', 'Acme', '', '', ''],
    ]);
    expect(report().columns.map((column) => column.canonical)).toEqual([null, 'email', 'company', null, null, 'phone']);
    expect(leads.map((lead) => [lead.email, lead.company, lead.canonical.phone])).toEqual([
      ['first@acme.example', 'Acme, Inc.', '+1 555 0199'],
      ['liam@parkside.example', 'Parkside', '+1 555 0101'],
    ]);
    // Only an empty cell falls back: an invalid address in the winning column is reported.
    expect(report().rejected).toEqual([{ row: 4, reason: "row 4: email 'bad@' is not a valid address" }]);
  });

  it('splits a full name into first and last name when those are missing', () => {
    const { leads } = run([
      ['Full Name', 'Work Email', 'Company Name', 'First Name'],
      ['Grace  Brewster Hopper', 'grace@cobol.example', 'Cobol', ''],
      ['Ada', 'ada@engines.example', 'Engines', ''],
      ['Alan Turing', 'alan@bletchley.example', 'Bletchley', 'Al'],
    ]);
    expect(leads.map((lead) => lead.canonical)).toEqual([
      { full_name: 'Grace  Brewster Hopper', email: 'grace@cobol.example', company: 'Cobol', first_name: 'Grace', last_name: 'Brewster Hopper' },
      { full_name: 'Ada', email: 'ada@engines.example', company: 'Engines', first_name: 'Ada' },
      { full_name: 'Alan Turing', email: 'alan@bletchley.example', company: 'Bletchley', first_name: 'Al', last_name: 'Turing' },
    ]);
  });

  it('keeps duplicate header names as they are in the original fields', () => {
    const { leads } = run([
      ['Email', 'Company', 'Note', 'Note'],
      ['a@acme.example', 'Acme', 'one', 'two'],
    ]);
    expect(leads[0]?.fields.map((field) => [field.header, field.value])).toEqual([
      ['Email', 'a@acme.example'],
      ['Company', 'Acme'],
      ['Note', 'one'],
      ['Note', 'two'],
    ]);
  });

  it('exposes the column mapping before any row is read', () => {
    const leadImport = new LeadImport({ row: 1, cells: ['E-mail', 'Organisation', 'Email Status'] }, OPTIONS);
    expect(leadImport.columns).toEqual([
      { original: 'E-mail', canonical: 'email' },
      { original: 'Organisation', canonical: 'company' },
      { original: 'Email Status', canonical: null },
    ]);
  });

  it('refuses a header without a usable email column or with too many columns', () => {
    expect(importErrorOf(() => run([['Name', 'Company']])).code).toBe('NO_EMAIL_COLUMN');
    expect(importErrorOf(() => run([['', '']])).code).toBe('NO_HEADER');
    const wide = ['Email', ...Array.from({ length: 10 }, (_, index) => `c${index}`)];
    const error = importErrorOf(() => run([wide], { maxColumns: 10 }));
    expect(error.code).toBe('TOO_MANY_COLUMNS');
    expect(error.message).toBe('The header has 11 columns; at most 10 are supported. Remove the columns you do not need.');
    expect(() => run([wide], { maxColumns: 11 })).not.toThrow();
  });

  it('reports NO_DATA_ROWS when only blank records follow the header', () => {
    const { report } = run([['Email', 'Company'], [''], [' ', '']]);
    const error = importErrorOf(report);
    expect(error.code).toBe('NO_DATA_ROWS');
    expect(importErrorOf(() => run([['Email', 'Company']]).report()).code).toBe('NO_DATA_ROWS');
  });

  it('reports rows that are all rejected instead of failing', () => {
    const { report } = run([['Email', 'Company'], ['nope', 'Acme']]);
    expect(report()).toMatchObject({ total_rows: 1, valid: 0, rejected: [{ row: 2 }] });
  });

  it('keeps the rows that are not leads, with their cells under the header, when asked to', () => {
    const rows = [
      ['Email', 'Company'],
      ['ann@acme.example', 'Acme'],
      ['bob@', 'Beta'],
      ['ANN@acme.example', 'Acme again'],
      [''],
      ['cid@acme.example'],
      ['dan@acme.example', 'Delta', 'extra'],
    ];
    expect(run(rows).leadImport.rows).toEqual([]);
    const { leadImport, report } = run(rows, { keepRows: KEPT_ROW_CHARS });
    expect(leadImport.rows).toEqual([
      { row: 3, status: 'rejected', reason: "row 3: email 'bob@' is not a valid address", cells: ['bob@', 'Beta'] },
      { row: 4, status: 'duplicate', reason: 'row 4: same email as row 2', cells: ['ANN@acme.example', 'Acme again'] },
      { row: 6, status: 'rejected', reason: 'row 6: company is empty', cells: ['cid@acme.example', ''] },
      { row: 7, status: 'rejected', reason: "row 7: 3 cells but the header has 2 — a value probably contains an unquoted separator (put that value in double quotes)", cells: ['dan@acme.example', 'Delta'] },
    ]);
    // The report is the same whether rows are kept or not.
    expect(report()).toEqual(run(rows).report());
  });

  it('keeps the cells of the rows that are not leads up to its budget, then only their row, status and reason', () => {
    const { leadImport } = run(
      [['Email', 'Company'], ['x@', 'Co'], ['y@', 'Company'], ['', ''], ['', 'C']],
      { keepRows: 'x@Co'.length + 'y@'.length },
    );
    expect(leadImport.rows.map((row) => [row.row, row.cells])).toEqual([
      [2, ['x@', 'Co']],
      [3, null], // 9 characters: over what is left
      [5, null], // would fit, but the rows with cells are the first ones
    ]);
  });

  it('takes a website on linkedin.com for the LinkedIn URL it is, not the company website', () => {
    const { leads } = run([
      ['Email', 'Company', 'URL', 'LinkedIn'],
      ['a@acme.example', 'Acme', 'https://www.linkedin.com/in/ann-example', ''],
      ['b@acme.example', 'Acme', 'linkedin.com/company/acme-example', ''],
      ['c@acme.example', 'Acme', 'https://de.linkedin.com/in/cid', 'https://www.linkedin.com/in/cid-own'],
      ['d@acme.example', 'Acme', 'https://notlinkedin.com.example/', ''],
    ]);
    expect(leads.map((lead) => [lead.canonical.website, lead.canonical.linkedin_url, lead.canonical.company_linkedin_url])).toEqual([
      [undefined, 'https://www.linkedin.com/in/ann-example', undefined],
      [undefined, undefined, 'linkedin.com/company/acme-example'],
      [undefined, 'https://www.linkedin.com/in/cid-own', undefined],
      ['https://notlinkedin.com.example/', undefined, undefined],
    ]);
  });
});
