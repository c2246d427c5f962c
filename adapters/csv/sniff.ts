/**
 * Recognizes uploads that are not CSV text, from the start of the file, so the user is told
 * what they sent ("an Excel workbook") instead of getting a report full of garbage rows.
 */
import { ImportError } from '../../domain/leads/import-error.ts';

const SAVE_AS_CSV = 'Open it in Excel, Numbers or Google Sheets and save or download it as "CSV UTF-8 (comma delimited)".';

const SIGNATURES: readonly { readonly bytes: readonly number[]; readonly message: string }[] = [
  { bytes: [0x25, 0x50, 0x44, 0x46], message: 'The file is a PDF document, not a CSV file. Export the leads as CSV and upload that.' },
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    message: `The file looks like an Excel workbook (.xlsx) or another zip archive, not a CSV file. ${SAVE_AS_CSV}`,
  },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    message: `The file looks like an old Excel workbook (.xls), not a CSV file. ${SAVE_AS_CSV}`,
  },
];

/** Throws `ImportError` NOT_CSV when the first bytes are those of a PDF, a zip archive (.xlsx) or an old .xls. */
export function rejectKnownBinaryFormats(start: Uint8Array): void {
  for (const { bytes, message } of SIGNATURES) {
    if (bytes.every((byte, index) => start[index] === byte)) throw new ImportError('NOT_CSV', message);
  }
}

/** Control characters that do not occur in text files: C0 controls but tab, line feed, vertical tab, form feed and carriage return. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0001-\u0008\u000e-\u001f]/g;
/** More control characters than this share of the sample means binary data. */
const MAX_CONTROL_SHARE = 0.01;

/**
 * Throws `ImportError` NOT_CSV when the decoded start of the file is binary data (a NUL, or more
 * than 1% control characters), JSON (`{"`, `{}`, or `[` then `{`, `[`, `"` or `]`) or an
 * HTML/XML document.
 */
export function rejectNonCsvText(sample: string): void {
  const controls = sample.match(CONTROL)?.length ?? 0;
  if (controls > sample.length * MAX_CONTROL_SHARE) throw binaryData();
  rejectNul(sample);
  const start = sample.trimStart();
  if (/^(?:\{\s*["}]|\[\s*[[{"\]])/.test(start)) {
    throw new ImportError('NOT_CSV', 'The file is JSON, not CSV. Convert it to CSV: a header row, then one row per lead.');
  }
  if (/^<(?:!doctype|html|\?xml|table)\b/i.test(start)) {
    throw new ImportError(
      'NOT_CSV',
      `The file is an HTML or XML document, not a CSV file (some tools save web pages or XML spreadsheets under a .csv or .xls name). ${SAVE_AS_CSV}`,
    );
  }
}

/**
 * Throws `ImportError` NOT_CSV when the text holds a NUL: no CSV text does, wherever in the file it
 * is (text after the sample is checked for it too, chunk by chunk).
 */
export function rejectNul(text: string): void {
  if (text.includes('\u0000')) throw binaryData();
}

function binaryData(): ImportError {
  return new ImportError(
    'NOT_CSV',
    'The file holds binary data, not CSV text. Upload the leads as a CSV file (a UTF-16 text file needs its byte order mark: save it as "CSV UTF-8" instead).',
  );
}
