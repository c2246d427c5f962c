/** Leads of a two-column test file (Email, Company), as the import produces them: shared by the store's tests and the fakes. */
import type { ColumnMapping, Lead } from '../../domain/leads/lead.ts';

/** The column mapping of the two-column test file. */
export const COLUMNS: readonly ColumnMapping[] = [
  { original: 'Email', canonical: 'email' },
  { original: 'Company', canonical: 'company' },
];

/** A lead of the two-column test file, as the import produces it. */
export function lead(email: string, row: number, company = 'Acme'): Lead {
  return {
    row,
    email,
    company,
    canonical: { email, company },
    fields: [
      { header: 'Email', value: email },
      { header: 'Company', value: company },
    ],
  };
}
