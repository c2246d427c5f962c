/**
 * Lead files for the benchmark, written row by row to disk (never held whole in memory, so the
 * generator does not inflate the memory the import scenario measures). Deterministic: row i is
 * always the same, so runs compare.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

export interface LeadFileSpec {
  readonly rows: number;
  /** Stop before the file would pass this many bytes (the upload limit). */
  readonly maxBytes?: number;
  /** Every n-th row repeats an earlier row's email in other letter case: a duplicate. */
  readonly duplicateEvery?: number;
  /** Every n-th row has an unusable email or no company: a rejected row. */
  readonly rejectEvery?: number;
}

export interface LeadFile {
  readonly path: string;
  readonly bytes: number;
  /** Data rows written (the header aside). */
  readonly rows: number;
  /** What the import should report. */
  readonly expected: { readonly valid: number; readonly duplicates: number; readonly rejected: number };
}

const HEADER = 'Email,First Name,Last Name,Company,Title,City,Country\n';
const FIRST = ['Ana', 'Ben', 'Chloe', 'Diego', 'Emma', 'Farah', 'Gus', 'Hana', 'Ivan', 'Jade', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya', 'Rosa', 'Sven', 'Tara', 'Wen', 'Yara', 'Zoe'];
const LAST = ['Lima', 'Okafor', 'Schmidt', 'Tanaka', 'Novak', 'Haddad', 'Silva', 'Kowalski', 'Nguyen', 'Brennan', 'Costa', 'Moreau', 'Park', 'Rossi', 'Khan', 'Larsen', 'Mendes', 'Weber', 'Ortiz'];
const BRANDS = ['Acme', 'Northwind', 'Globex', 'Initech', 'Umbrella', 'Tyrell', 'Hooli', 'Vandelay', 'Wonka', 'Oscorp', 'Contoso', 'Fabrikam', 'Litware'];
const KINDS = ['Robotics', 'Labs', 'Logistics', 'Health', 'Analytics', 'Foods', 'Energy', 'Security', 'Capital', 'Media', 'Cloud'];
const TITLES = ['VP Operations', 'Head of Sales', 'CTO', 'Marketing Director', 'Founder', 'COO', 'Product Manager', 'Head of Growth'];
const PLACES = ['Lisbon,PT', 'Austin,US', 'Toronto,CA', 'Berlin,DE', 'Singapore,SG', 'Denver,US', 'Dublin,IE', 'Melbourne,AU', 'Nairobi,KE', 'Osaka,JP'];
/** Rows per write: large enough to be cheap, small enough to keep memory flat. */
const CHUNK_ROWS = 1000;

const pick = (list: readonly string[], index: number): string => list[index % list.length] ?? '';

interface Row {
  readonly email: string;
  readonly first: string;
  readonly last: string;
  readonly company: string;
}

/** The i-th distinct lead: an email unique to i, at its company's domain. */
function lead(index: number): Row {
  const first = pick(FIRST, index);
  const last = pick(LAST, index * 7 + 3);
  const company = `${pick(BRANDS, index * 11)} ${pick(KINDS, index * 13 + 5)} ${index % 997}`;
  const domain = company.toLowerCase().replaceAll(' ', '-');
  return { email: `${first}.${last}.${index}@${domain}.example`.toLowerCase(), first, last, company };
}

type RowKind = 'valid' | 'duplicates' | 'rejected';

function kindOf(index: number, spec: LeadFileSpec): RowKind {
  if (spec.rejectEvery !== undefined && index % spec.rejectEvery === spec.rejectEvery - 1) return 'rejected';
  if (spec.duplicateEvery !== undefined && index >= spec.duplicateEvery && index % spec.duplicateEvery === spec.duplicateEvery - 1) return 'duplicates';
  return 'valid';
}

/** Row i of the file as a CSV line, and how the import should count it. */
function line(index: number, spec: LeadFileSpec): { readonly text: string; readonly kind: RowKind } {
  const row = lead(index);
  const kind = kindOf(index, spec);
  let email = row.email;
  let company = row.company;
  if (kind === 'rejected') {
    // Alternately the two reasons a row is rejected: no usable email, no company.
    if (Math.floor(index / (spec.rejectEvery ?? 1)) % 2 === 0) email = `${row.first.toLowerCase()} at ${row.company}`;
    else company = '';
  } else if (kind === 'duplicates') {
    // The nearest earlier valid row's address, capitalized as people type it: the import ignores case.
    let earlier = index - 1;
    while (kindOf(earlier, spec) !== 'valid') earlier -= 1;
    email = lead(earlier).email.replace(/^./, (letter) => letter.toUpperCase());
  }
  return { text: `${email},${row.first},${row.last},${company},${pick(TITLES, index * 3)},${pick(PLACES, index * 7 + 1)}\n`, kind };
}

export async function writeLeadFile(path: string, spec: LeadFileSpec): Promise<LeadFile> {
  const out = createWriteStream(path);
  const expected: Record<RowKind, number> = { valid: 0, duplicates: 0, rejected: 0 };
  let bytes = Buffer.byteLength(HEADER);
  let rows = 0;
  let chunk = HEADER;
  const flush = async () => {
    if (!out.write(chunk)) await once(out, 'drain');
    chunk = '';
  };

  for (let index = 0; index < spec.rows; index += 1) {
    const { text, kind } = line(index, spec);
    const lineBytes = Buffer.byteLength(text);
    if (spec.maxBytes !== undefined && bytes + lineBytes > spec.maxBytes) break;
    bytes += lineBytes;
    rows += 1;
    expected[kind] += 1;
    chunk += text;
    if (rows % CHUNK_ROWS === 0) await flush();
  }
  await flush();
  out.end();
  await once(out, 'finish');
  return { path, bytes, rows, expected };
}
