/**
 * Header normalization: which column of an uploaded sheet feeds which canonical lead field.
 *
 * How a header is matched
 *   1. It is normalized to a snake_case key (`normalizeHeader`): trimmed; BOM, zero-width
 *      characters and quotes removed; accents dropped (Unicode NFKD); camelCase, letters and
 *      digits split apart; lower-cased; every run of other characters turned into one `_`.
 *      "Person Linkedin Url" → `person_linkedin_url`, "firstName" → `first_name`,
 *      "# Employees" → `employees`, "Prénom" → `prenom`.
 *   2. The key, with its underscores removed so that "LinkedIn", "Linkedin" and "linkedIn" meet,
 *      is looked up in the alias table below. The match is exact, never a substring:
 *      "Email Status", "Email Sent", "Company City" or "Company Phone" feed no field at all,
 *      and "Company Linkedin Url" feeds `company_linkedin_url`, not `linkedin_url`.
 *
 * When several columns match one field
 *   Every alias has a rank (0 is best). The column whose alias has the lowest rank wins the
 *   field; between equal ranks the leftmost column wins. For email: "Email", "E-mail", "Email
 *   Address" rank 0; "Work Email", "Business Email" 1; "Secondary Email", "Personal Email",
 *   "Other Email" 2; "Tertiary Email" 3. In the column mapping the winner shows
 *   the field and the other candidates show `null` (they are still kept as original columns).
 *   Per row, when the winner's cell is empty the next candidate in that same order (rank, then
 *   position) with a non-empty cell is used instead: an Apollo row with an empty "Email" but a
 *   "Secondary Email" is imported with the secondary address. Only an empty cell falls back; an
 *   invalid address in the winning column rejects the row, so that the user sees the problem.
 */
import type { CanonicalField, ColumnMapping } from './lead.ts';
import { ImportError } from './import-error.ts';

/** One tier of aliases: the rank, then the spellings as exports write them. */
type AliasTier = readonly [rank: number, ...spellings: string[]];

/**
 * Header spellings of real exports (Apollo, HubSpot, Salesforce, LinkedIn Sales Navigator
 * scrapers, lemlist, Instantly, Smartlead, Clay) and of hand-made sheets, grouped by field.
 * Spellings are normalized when the module loads, so each is written once in its most common form.
 */
export const HEADER_ALIASES: Readonly<Record<CanonicalField, readonly AliasTier[]>> = {
  email: [
    [0, 'Email', 'E-mail', 'Email Address', 'E-mail Address', 'Mail', 'Email ID', 'Email 1', 'Primary Email', 'Courriel', 'E-Mail-Adresse'],
    [1, 'Work Email', 'Business Email', 'Professional Email', 'Corporate Email', 'Company Email', 'Verified Email'],
    [2, 'Secondary Email', 'Personal Email', 'Other Email', 'Alternate Email', 'Alternative Email', 'Private Email', 'Email 2'],
    [3, 'Tertiary Email', 'Email 3'],
  ],
  first_name: [[0, 'First Name', 'First', 'Given Name', 'Forename', 'FName', 'Prénom', 'Vorname']],
  last_name: [[0, 'Last Name', 'Last', 'Surname', 'Family Name', 'LName', 'Nom', 'Nom de famille', 'Nachname']],
  full_name: [
    [0, 'Name', 'Full Name', 'Person Name'],
    [1, 'Contact Name', 'Lead Name', 'Prospect Name'],
  ],
  company: [
    [0, 'Company', 'Company Name', 'Account Name', 'Company / Account', 'Organization', 'Organisation', 'Organization Name', 'Organisation Name', 'Employer', 'Business Name', 'Firm', 'Société', 'Entreprise', 'Firma'],
    [1, 'Company Name for Emails', 'Current Company', 'Associated Company', 'Account'],
  ],
  title: [
    [0, 'Title', 'Job Title', 'Position', 'Role', 'Job Role', 'Job Position', 'Position Title', 'Designation', 'Current Title', 'Current Job Title'],
    [1, 'Occupation'],
    [2, 'Headline'],
  ],
  website: [
    [0, 'Website', 'Website URL', 'Web Site', 'Company Website', 'Company Website URL', 'Homepage', 'Web Address'],
    [1, 'URL', 'Domain', 'Company Domain', 'Company URL', 'Website Domain', 'Web'],
  ],
  linkedin_url: [
    [0, 'LinkedIn', 'LinkedIn URL', 'LinkedIn Profile', 'LinkedIn Profile URL', 'LinkedIn Link', 'LinkedIn Profile Link', 'Person Linkedin Url', 'Personal LinkedIn', 'linkedin_profile'],
    [1, 'Profile URL'],
  ],
  company_linkedin_url: [
    [0, 'Company Linkedin Url', 'Company LinkedIn', 'Company LinkedIn Profile', 'Company LinkedIn Page', 'Organization LinkedIn URL', 'Account LinkedIn URL', 'LinkedIn Company URL'],
  ],
  phone: [
    [0, 'Phone', 'Phone Number', 'Telephone', 'Tel', 'Direct Phone', 'Work Direct Phone', 'Direct Dial'],
    [1, 'Mobile', 'Mobile Phone', 'Mobile Number', 'Mobile Phone Number', 'Cell', 'Cell Phone', 'Work Phone', 'Business Phone'],
    [2, 'Corporate Phone', 'Office Phone'],
    [3, 'Home Phone', 'Other Phone', 'Personal Phone'],
  ],
  city: [[0, 'City', 'Town', 'Mailing City', 'Person City', 'Ville', 'Stadt']],
  state: [
    [0, 'State', 'State/Region', 'State/Province', 'Province', 'Mailing State', 'Mailing State/Province', 'Person State'],
    [1, 'Region'],
  ],
  country: [[0, 'Country', 'Country/Region', 'Country Name', 'Mailing Country', 'Person Country']],
  location: [[0, 'Location', 'Person Location']],
  industry: [
    [0, 'Industry', 'Company Industry'],
    [1, 'Sector', 'Vertical'],
  ],
  seniority: [
    [0, 'Seniority', 'Seniority Level'],
    [1, 'Management Level'],
  ],
  department: [
    [0, 'Department', 'Departments'],
    [1, 'Job Function', 'Function'],
  ],
  employees: [
    [0, '# Employees', 'Employees', 'Number of Employees', 'No. of Employees', 'Num Employees', 'Employee Count', 'Employees Count', 'Estimated Num Employees', 'Headcount', 'Company Headcount', 'Company Employee Count'],
    [1, 'Company Size'],
  ],
};

/** A canonical field and the rank of the alias that matched it. */
export interface HeaderMatch {
  readonly field: CanonicalField;
  readonly rank: number;
}

/** Normalizes a header to its snake_case key (see the rule at the top of this file). */
export function normalizeHeader(header: string): string {
  return header
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[\uFEFF\u200B-\u200D\u2060"'`\u2018\u2019\u201C\u201D]/g, '')
    .replace(/(\p{Ll})(\p{Lu})/gu, '$1_$2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1_$2')
    .replace(/(\p{L})(\p{N})/gu, '$1_$2')
    .replace(/(\p{N})(\p{L})/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
}

function matchKey(header: string): string {
  return normalizeHeader(header).replaceAll('_', '');
}

const ALIAS_INDEX: ReadonlyMap<string, HeaderMatch> = (() => {
  const index = new Map<string, HeaderMatch>();
  for (const [field, tiers] of Object.entries(HEADER_ALIASES) as [CanonicalField, readonly AliasTier[]][]) {
    for (const [rank, ...spellings] of tiers) {
      for (const spelling of spellings) {
        const key = matchKey(spelling);
        const taken = index.get(key);
        if (taken !== undefined && taken.field !== field) {
          throw new Error(`header alias '${spelling}' is listed for both ${taken.field} and ${field}`);
        }
        if (taken === undefined || rank < taken.rank) index.set(key, { field, rank });
      }
    }
  }
  return index;
})();

/** The canonical field a header feeds, or null when it is kept only as an original column. */
export function matchHeader(header: string): HeaderMatch | null {
  return ALIAS_INDEX.get(matchKey(header)) ?? null;
}

/** How a header row is understood. */
export interface HeaderMap {
  /** The column names as kept in `Lead.fields`: the header cells as written, `column_<n>` for an empty one. */
  readonly names: readonly string[];
  /** One entry per column, in file order; only the winning column of a field carries the field. */
  readonly columns: readonly ColumnMapping[];
  /** For each field found, the indexes of its candidate columns, best first (the winner, then the fallbacks). */
  readonly candidates: ReadonlyMap<CanonicalField, readonly number[]>;
}

/** How many header names an error message lists before it says "and N more". */
const LISTED_HEADERS = 12;

/**
 * Maps a header row to canonical fields. Throws `ImportError` NO_HEADER when the row is empty or
 * holds an `@` (a file without a header row), NO_EMAIL_COLUMN when no column maps to email.
 */
export function mapHeader(cells: readonly string[]): HeaderMap {
  if (cells.every((cell) => cell.trim() === '')) {
    throw new ImportError(
      'NO_HEADER',
      'The first row of the file is empty. The first row must hold the column names, such as Email, First Name, Company.',
    );
  }
  // A header cell that holds an address (even a broken one) means the file starts with data: say so without echoing it.
  if (cells.some((cell) => cell.includes('@'))) {
    throw new ImportError(
      'NO_HEADER',
      'The first row holds data, not column names. Add a first row with the column names, such as Email, First Name, Company.',
    );
  }
  const names = cells.map((cell, index) => (cell.trim() === '' ? `column_${index + 1}` : cell));
  const found = new Map<CanonicalField, { index: number; rank: number }[]>();
  names.forEach((name, index) => {
    const match = matchHeader(name);
    if (match === null) return;
    const list = found.get(match.field) ?? [];
    list.push({ index, rank: match.rank });
    found.set(match.field, list);
  });
  if (!found.has('email')) {
    const listed = names.slice(0, LISTED_HEADERS).join(', ');
    const more = names.length > LISTED_HEADERS ? ` and ${names.length - LISTED_HEADERS} more` : '';
    throw new ImportError(
      'NO_EMAIL_COLUMN',
      `No column looks like an email address. Found: ${listed}${more}. Rename the email column to "Email".`,
    );
  }
  const candidates = new Map<CanonicalField, readonly number[]>();
  const winners = new Map<number, CanonicalField>();
  for (const [field, list] of found) {
    // Array.prototype.sort is stable, and `list` is in column order: equal ranks keep the leftmost first.
    const ordered = list.sort((a, b) => a.rank - b.rank).map((candidate) => candidate.index);
    candidates.set(field, ordered);
    winners.set(ordered[0] as number, field);
  }
  const columns = names.map((original, index) => ({ original, canonical: winners.get(index) ?? null }));
  return { names, columns, candidates };
}

/**
 * How many rows a file may have above its header (a title, a note, blank lines) for the header to
 * be found below them. LinkedIn's connections export has three ("Notes:", a quoted note, a blank line).
 */
export const MAX_BANNER_ROWS = 10;

/**
 * Which of a file's first rows is its header: the index in `rows` of the first row that
 *   - looks like a header: a column names an email field, and no cell holds an address ("@"),
 *     as a data row's would;
 *   - is wider than every row above it (more non-empty cells): the lines above a table (a title,
 *     "Notes:", a sentence, a blank line) are narrower than its header, while a data row below a
 *     real header is not, so a data row whose cell happens to read "Email" is never taken for one.
 * Null when none of `rows` is such a row. The rows above the header are banner lines, left out of
 * the import; the row numbers of the rows below it stay those of the spreadsheet. A reader looks
 * at no more than the first MAX_BANNER_ROWS + 1 rows; when none of them is a header, the first
 * row is taken as the header and `mapHeader` says what is wrong with it.
 */
export function findHeader(rows: readonly (readonly string[])[]): number | null {
  let widest = 0;
  for (const [index, cells] of rows.entries()) {
    const width = cells.filter((cell) => cell.trim() !== '').length;
    if (width > widest && looksLikeHeader(cells)) return index;
    widest = Math.max(widest, width);
  }
  return null;
}

function looksLikeHeader(cells: readonly string[]): boolean {
  return !cells.some((cell) => cell.includes('@')) && cells.some((cell) => matchHeader(cell)?.field === 'email');
}
