import { describe, expect, it, vi } from 'vitest';
import { CsvLeadFileReader } from '../../../adapters/csv/csv-lead-file-reader.ts';
import { detectDelimiter } from '../../../adapters/csv/delimiter.ts';
import { DEFAULT_IMPORT_LIMITS, ImportError, type ImportErrorCode, type ImportLimits } from '../../../domain/leads/import-error.ts';
import { chunked, readCells, readRecords, rejectionOf, streamOf, utf16be, utf16le, utf8, windows1252 } from '../helpers/lead-files.ts';

const LIMITS = DEFAULT_IMPORT_LIMITS;

async function importErrorOf(bytes: Uint8Array, limits: ImportLimits = LIMITS): Promise<ImportError> {
  const error = await rejectionOf(readRecords(bytes, { limits }));
  if (!(error instanceof ImportError)) throw error;
  return error;
}

const EXPECTED_CELLS = [
  ['Prénom', 'Société', 'Email'],
  ['Zoë', 'Crème & Café, SARL', 'zoe@cafe.example'],
  ['José', 'Müller “Noël” 5 €', 'jose@muller.example'],
];
const TEXT = 'Prénom,Société,Email\r\nZoë,"Crème & Café, SARL",zoe@cafe.example\r\nJosé,Müller “Noël” 5 €,jose@muller.example\r\n';

describe('CsvLeadFileReader: encodings', () => {
  it.each([
    ['UTF-8 without BOM', utf8(TEXT)],
    ['UTF-8 with BOM', utf8(TEXT, { bom: true })],
    ['UTF-16 LE with BOM', utf16le(TEXT)],
    ['UTF-16 BE with BOM', utf16be(TEXT)],
    ['Windows-1252', windows1252(TEXT)],
  ])('reads %s', async (_name, bytes) => {
    expect(await readCells(bytes)).toEqual(EXPECTED_CELLS);
    expect(await readCells(bytes, { chunkSize: 1 })).toEqual(EXPECTED_CELLS);
  });

  it('reads multi-byte characters split across chunks after the sample, one byte per chunk', async () => {
    const filler = Array.from({ length: 2_500 }, (_, index) => `lead${index}@acme.example,Acme ${index}`);
    const text = ['Email,Company', ...filler, 'zoe@cafe.example,Café 😀 中文 €', ''].join('\n');
    expect(text.length).toBeGreaterThan(64 * 1024);
    for (const bytes of [utf8(text), utf16le(text), utf16be(text)]) {
      const cells = await readCells(bytes, { chunkSize: 1 });
      expect(cells).toHaveLength(2_502);
      expect(cells.at(-1)).toEqual(['zoe@cafe.example', 'Café 😀 中文 €']);
    }
  });

  it('switches to Windows-1252 when the first non-ASCII byte comes after the sample', async () => {
    const filler = Array.from({ length: 4_000 }, (_, index) => `lead${index}@acme.example,Acme ${index}`);
    const text = ['Email,Company', ...filler, 'rene@cafe.example,Café Noël – 5 €', ''].join('\r\n');
    const cells = await readCells(windows1252(text), { chunkSize: 1_000 });
    expect(cells.at(-1)).toEqual(['rene@cafe.example', 'Café Noël – 5 €']);
    expect(cells[1]).toEqual(['lead0@acme.example', 'Acme 0']);
  });
});

describe('CsvLeadFileReader: delimiters', () => {
  it.each([
    [',', 'Email,Company,City\na@acme.example,Acme,Paris\nb@acme.example,Beta,Lyon\n'],
    [';', 'Email;Company;City\na@acme.example;Acme;Paris\nb@acme.example;Beta;Lyon\n'],
    ['tab', 'Email\tCompany\tCity\na@acme.example\tAcme\tParis\nb@acme.example\tBeta\tLyon\n'],
    ['|', 'Email|Company|City\na@acme.example|Acme|Paris\nb@acme.example|Beta|Lyon\n'],
  ])('detects %s', async (_name, text) => {
    expect(await readCells(utf8(text))).toEqual([
      ['Email', 'Company', 'City'],
      ['a@acme.example', 'Acme', 'Paris'],
      ['b@acme.example', 'Beta', 'Lyon'],
    ]);
  });

  it('is not fooled by commas in the values of a semicolon or tab file', async () => {
    expect(await readCells(utf8('Email;Company\na@acme.example;Acme, Inc.\nb@acme.example;Beta, LLC\n'))).toEqual([
      ['Email', 'Company'],
      ['a@acme.example', 'Acme, Inc.'],
      ['b@acme.example', 'Beta, LLC'],
    ]);
    expect(await readCells(utf8('Email\tCompany\na@acme.example\tAcme, Inc.\n'))).toEqual([
      ['Email', 'Company'],
      ['a@acme.example', 'Acme, Inc.'],
    ]);
  });

  it('follows an Excel `sep=` line and hides it, as Excel does', async () => {
    expect(await readRecords(utf8('sep=;\r\nEmail;Company, Inc\r\na@acme.example;Acme, Inc\r\n'))).toEqual([
      { row: 1, cells: ['Email', 'Company, Inc'] },
      { row: 2, cells: ['a@acme.example', 'Acme, Inc'] },
    ]);
  });

  it('reads a one-column file', async () => {
    expect(await readCells(utf8('Email\na@acme.example\nb@acme.example'))).toEqual([['Email'], ['a@acme.example'], ['b@acme.example']]);
  });

  it.each([
    ['a header only', 'Email;Company', ';'],
    ['no candidate at all', 'Email\nx@acme.example\n', ','],
    ['delimiters inside quotes', '"Name; Title",Email\n"Doe; CEO",a@acme.example\n', ','],
    ['a delimiter that is in the header but not consistent in the rows', 'Email,Company|Team\na@acme.example,Acme\nb@acme.example,Beta\n', ','],
    ['the header holding more of one candidate', 'Email;Company;City,State\na@acme.example;Acme;Paris,FR\n', ';'],
    ['newlines inside quoted cells', 'Email|Note\na@acme.example|"line 1\nline 2, and 3"\nb@acme.example|x\n', '|'],
    ['a blank line after the header', 'Email\tCompany\n\na@acme.example\tAcme\n', '\t'],
    ['banner lines above the header', 'Notes:\n"A note, with commas, quoted"\n\nEmail;Company;City\na@acme.example;Acme, Inc;Paris\n', ';'],
  ])('detectDelimiter with %s', (_name, sample, expected) => {
    expect(detectDelimiter(sample)).toBe(expected);
  });
});

describe('CsvLeadFileReader: quoting, line endings, blank lines, ragged rows', () => {
  it('reads delimiters, doubled quotes and line breaks inside quoted cells', async () => {
    const text = 'Email,Company,Note\na@acme.example,"Acme, Inc.","She said ""hi""\nand left"\nb@acme.example,Beta,plain\n';
    const records = await readRecords(utf8(text));
    expect(records).toEqual([
      { row: 1, cells: ['Email', 'Company', 'Note'] },
      { row: 2, cells: ['a@acme.example', 'Acme, Inc.', 'She said "hi"\nand left'] },
      { row: 3, cells: ['b@acme.example', 'Beta', 'plain'] },
    ]);
  });

  it('numbers rows as records, not lines, after a multi-line cell', async () => {
    const text = 'Email,Note\r\na@acme.example,"one\r\ntwo\r\nthree"\r\nb@acme.example,x\r\n\r\nc@acme.example,y\r\n';
    const records = await readRecords(utf8(text));
    expect(records.map((record) => [record.row, record.cells[0]])).toEqual([
      [1, 'Email'],
      [2, 'a@acme.example'],
      [3, 'b@acme.example'],
      [4, ''],
      [5, 'c@acme.example'],
    ]);
    expect(records[1]?.cells[1]).toBe('one\r\ntwo\r\nthree');
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('reads %s line endings', async (_name, eol) => {
    const text = ['Email,Company', 'a@acme.example,Acme', 'b@acme.example,Beta', ''].join(eol);
    expect(await readCells(utf8(text), { chunkSize: 3 })).toEqual([
      ['Email', 'Company'],
      ['a@acme.example', 'Acme'],
      ['b@acme.example', 'Beta'],
    ]);
  });

  it('reads mixed line endings in one file', async () => {
    expect(await readCells(utf8('Email,Company\r\na@acme.example,Acme\nb@acme.example,Beta\rc@acme.example,Gamma'))).toEqual([
      ['Email', 'Company'],
      ['a@acme.example', 'Acme'],
      ['b@acme.example', 'Beta'],
      ['c@acme.example', 'Gamma'],
    ]);
  });

  it('yields blank lines as blank records so row numbers match the spreadsheet, without a record for the final newline', async () => {
    const records = await readRecords(utf8('Email,Company\n\na@acme.example,Acme\n   \n\nb@acme.example,Beta\n'));
    expect(records).toEqual([
      { row: 1, cells: ['Email', 'Company'] },
      { row: 2, cells: [''] },
      { row: 3, cells: ['a@acme.example', 'Acme'] },
      { row: 4, cells: ['   '] },
      { row: 5, cells: [''] },
      { row: 6, cells: ['b@acme.example', 'Beta'] },
    ]);
  });

  it("leaves out the banner lines above the header (LinkedIn's preamble), rows keeping their spreadsheet numbers", async () => {
    const linkedin = 'Notes:\n"When exporting your connection data, you may notice that some of the email addresses are missing."\n\nFirst Name,Email Address,Company\nAna,ana@acme.example,Acme\n\nBo,,Beta\n';
    for (const chunkSize of [1, 7, 1024]) {
      expect(await readRecords(utf8(linkedin), { chunkSize })).toEqual([
        { row: 4, cells: ['First Name', 'Email Address', 'Company'] },
        { row: 5, cells: ['Ana', 'ana@acme.example', 'Acme'] },
        { row: 6, cells: [''] },
        { row: 7, cells: ['Bo', '', 'Beta'] },
      ]);
    }
    // Semicolons under a banner, and a blank first line.
    expect(await readRecords(utf8('Export of 2026-01-01\r\nEmail;Company\r\na@acme.example;Acme, Inc\r\n'))).toEqual([
      { row: 2, cells: ['Email', 'Company'] },
      { row: 3, cells: ['a@acme.example', 'Acme, Inc'] },
    ]);
    expect(await readRecords(utf8('\nEmail,Company\na@acme.example,Acme\n'))).toEqual([
      { row: 2, cells: ['Email', 'Company'] },
      { row: 3, cells: ['a@acme.example', 'Acme'] },
    ]);
  });

  it('takes the first row for the header when none of the first rows looks like one, as before', async () => {
    const noEmail = ['Name,Company', ...Array.from({ length: 15 }, (_, index) => `Person ${index},Acme`)].join('\n');
    const records = await readRecords(utf8(noEmail));
    expect(records[0]).toEqual({ row: 1, cells: ['Name', 'Company'] });
    expect(records).toHaveLength(16);
    // A header further down than MAX_BANNER_ROWS rows is not looked for.
    const deep = [...Array.from({ length: 11 }, (_, index) => `Banner ${index}`), 'Email,Company', 'a@acme.example,Acme'].join('\n');
    expect((await readRecords(utf8(deep)))[0]).toEqual({ row: 1, cells: ['Banner 0'] });
    const shallow = [...Array.from({ length: 10 }, (_, index) => `Banner ${index}`), 'Email,Company', 'a@acme.example,Acme'].join('\n');
    expect((await readRecords(utf8(shallow)))[0]).toEqual({ row: 11, cells: ['Email', 'Company'] });
  });

  it('checks the width of the header it found, not of a banner line', async () => {
    const limits = { ...LIMITS, maxColumns: 2 };
    expect(await readRecords(utf8('Notes:\nEmail,Company\na@acme.example,Acme\n'), { limits })).toHaveLength(2);
    expect((await importErrorOf(utf8('Notes:\nEmail,Company,City\na@acme.example,Acme,Paris\n'), limits)).code).toBe('TOO_MANY_COLUMNS');
  });

  it('yields ragged rows as they are', async () => {
    expect(await readCells(utf8('Email,Company,City\na@acme.example\nb@acme.example,Beta,Lyon,extra,\n'))).toEqual([
      ['Email', 'Company', 'City'],
      ['a@acme.example'],
      ['b@acme.example', 'Beta', 'Lyon', 'extra', ''],
    ]);
  });

  it('keeps a stray quote inside an unquoted cell', async () => {
    expect(await readCells(utf8('Email,Company\na@acme.example,The "Best" Co\nb@acme.example,"Quoted" Co\n'))).toEqual([
      ['Email', 'Company'],
      ['a@acme.example', 'The "Best" Co'],
      ['b@acme.example', '"Quoted" Co'],
    ]);
  });
});

describe('CsvLeadFileReader: whole-file errors', () => {
  it.each<[string, Uint8Array, ImportErrorCode, RegExp]>([
    ['an empty file', new Uint8Array(0), 'EMPTY_FILE', /empty/],
    ['a BOM only', utf8('', { bom: true }), 'EMPTY_FILE', /empty/],
    ['whitespace only', utf8('  \r\n\t\n'), 'EMPTY_FILE', /empty/],
    ['a PDF', utf8('%PDF-1.7\n%âãÏÓ\n1 0 obj'), 'NOT_CSV', /PDF/],
    ['an .xlsx workbook', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00]), 'NOT_CSV', /Excel workbook \(\.xlsx\)/],
    ['an .xls workbook', Uint8Array.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]), 'NOT_CSV', /old Excel workbook \(\.xls\)/],
    ['binary with NUL bytes', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), 'NOT_CSV', /binary/],
    ['binary full of control bytes', Uint8Array.from({ length: 400 }, (_, index) => (index % 5 === 0 ? 0x01 : 0x41)), 'NOT_CSV', /binary/],
    ['UTF-16 without a BOM', utf16le('Email,Company\n').subarray(2), 'NOT_CSV', /byte order mark/],
    ['a JSON array', utf8('  [\n  {"email": "a@acme.example"}\n]'), 'NOT_CSV', /JSON/],
    ['a JSON object', utf8('{"leads": []}'), 'NOT_CSV', /JSON/],
    ['an HTML page', utf8('<!DOCTYPE html><html><body>Leads</body></html>'), 'NOT_CSV', /HTML/],
    ['an html element', utf8('\n<html lang="en">'), 'NOT_CSV', /HTML/],
    ['an XML spreadsheet', utf8('<?xml version="1.0"?><Workbook/>'), 'NOT_CSV', /XML/],
    ['an HTML table saved as .xls', utf8('<table><tr><td>Email</td></tr></table>'), 'NOT_CSV', /HTML/],
    ['an unclosed quote', utf8('Email,Company\na@acme.example,Acme\nb@acme.example,"Beta\nc@acme.example,Gamma\n'), 'MALFORMED_CSV', /^Row 3 opens a quote/],
  ])('rejects %s', async (_name, bytes, code, message) => {
    const error = await importErrorOf(bytes);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/acme\.example/);
  });

  // A preview reads an upload as one chunk, a submission as many: both must get the same verdict.
  it.each([
    ['the whole file in one chunk', Number.MAX_SAFE_INTEGER],
    ['64 KiB chunks', 64 * 1024],
    ['16 KiB chunks', 16 * 1024],
    ['chunks that straddle the sample', 10_000],
  ])('rejects a NUL anywhere after the first 64 KiB, read in %s', async (_name, size) => {
    const rows = Array.from({ length: 8_000 }, (_, index) => `lead${index}@acme.example,Acme ${index}`);
    const text = utf8(['Email,Company', ...rows, ''].join('\n'));
    for (const at of [64 * 1024, 64 * 1024 + 1, 100_000, text.length - 2]) {
      const bytes = Uint8Array.from([...text.subarray(0, at), 0, ...text.subarray(at)]);
      const error = await rejectionOf(collect(new CsvLeadFileReader().records(chunked(bytes, size), LIMITS)));
      expect(error, `NUL at byte ${at}`).toBeInstanceOf(ImportError);
      expect((error as ImportError).code).toBe('NOT_CSV');
      expect((error as ImportError).message).toMatch(/binary data/);
    }
    // The same file without the NUL is read whole, whatever the chunks.
    expect(await collect(new CsvLeadFileReader().records(chunked(text, size), LIMITS))).toHaveLength(8_001);
  });

  it('accepts a header that merely starts with a bracket', async () => {
    expect(await readCells(utf8('[Email],Company\na@acme.example,Acme\n'))).toEqual([
      ['[Email]', 'Company'],
      ['a@acme.example', 'Acme'],
    ]);
  });

  it('rejects a file over the size limit as soon as the byte count passes it, without reading the rest', async () => {
    let pulled = 0;
    function* endless(): Generator<Uint8Array> {
      const chunk = utf8(`${'x@acme.example,Acme\n'.repeat(3_000)}`);
      yield utf8('Email,Company\n');
      for (;;) {
        pulled += 1;
        yield chunk;
      }
    }
    const limits = { ...LIMITS, maxBytes: 1024 * 1024 };
    const error = await rejectionOf(collect(new CsvLeadFileReader().records(streamOf(endless()), limits)));
    expect(error).toBeInstanceOf(ImportError);
    expect((error as ImportError).code).toBe('FILE_TOO_LARGE');
    expect((error as ImportError).message).toBe('The file is larger than 1 MB, the limit of one import. Split it into smaller files.');
    expect(pulled).toBe(18);
  });

  it('accepts a file of exactly the size limit', async () => {
    const bytes = utf8('Email,Company\na@acme.example,Acme\n');
    expect(await readCells(bytes, { limits: { ...LIMITS, maxBytes: bytes.length } })).toHaveLength(2);
    expect((await importErrorOf(bytes, { ...LIMITS, maxBytes: bytes.length - 1 })).code).toBe('FILE_TOO_LARGE');
  });

  it('rejects a header with more columns than the limit', async () => {
    const header = Array.from({ length: 6 }, (_, index) => `Column ${index}`).join(',');
    const error = await importErrorOf(utf8(`${header}\n1,2,3,4,5,6\n`), { ...LIMITS, maxColumns: 5 });
    expect(error.code).toBe('TOO_MANY_COLUMNS');
    expect(error.message).toBe('The header has 6 columns; at most 5 are supported. Remove the columns you do not need.');
    expect(await readCells(utf8(`${header}\n`), { limits: { ...LIMITS, maxColumns: 6 } })).toHaveLength(1);
  });

  it('rejects a cell over the size limit, naming its row', async () => {
    const limits = { ...LIMITS, maxCellChars: 100 };
    const text = `Email,Note\na@acme.example,${'n'.repeat(100)}\nb@acme.example,"${'n'.repeat(101)}"\n`;
    const error = await importErrorOf(utf8(text), limits);
    expect(error.code).toBe('CELL_TOO_LARGE');
    expect(error.message).toBe('Row 3 has a cell of 101 characters; a cell may hold at most 100.');
  });

  it('stops an unclosed quote from swallowing a large file, naming the row where it opens', async () => {
    const limits = { ...LIMITS, maxCellChars: 1_000 };
    const rows = Array.from({ length: 2_000 }, (_, index) => `lead${index}@acme.example,Acme`);
    const text = ['Email,Company', 'a@acme.example,"Acme', ...rows, ''].join('\n');
    const error = await importErrorOf(utf8(text), limits);
    expect(error.code).toBe('CELL_TOO_LARGE');
    expect(error.message).toMatch(/^Row 2 is longer than 4000 characters\. Usually a cell opens a quote/);
  });
});

describe('CsvLeadFileReader: streaming', () => {
  it('yields records while the source is still being read', async () => {
    const rows = 100_000;
    let produced = 0;
    let exhausted = false;
    function* source(): Generator<Uint8Array> {
      yield utf8('Email,Company,City\n');
      const batch = 1_000;
      for (let start = 0; start < rows; start += batch) {
        let text = '';
        for (let index = start; index < start + batch; index += 1) text += `lead${index}@acme.example,Company ${index},City\n`;
        produced += batch;
        yield utf8(text);
      }
      exhausted = true;
    }
    let count = 0;
    let producedAtFirstData = -1;
    for await (const record of new CsvLeadFileReader().records(streamOf(source()), LIMITS)) {
      count += 1;
      if (record.row === 2) {
        producedAtFirstData = produced;
        expect(exhausted).toBe(false);
      }
    }
    expect(producedAtFirstData).toBeGreaterThan(0);
    expect(producedAtFirstData).toBeLessThan(rows / 2);
    expect(count).toBe(rows + 1);
    expect(exhausted).toBe(true);
  });

  it('closes the source when the consumer stops early', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* chunked(utf8(`Email,Company\n${'a@acme.example,Acme\n'.repeat(20_000)}`), 4096);
      } finally {
        closed = true;
      }
    }
    for await (const record of new CsvLeadFileReader().records(source(), LIMITS)) {
      if (record.row === 3) break;
    }
    await vi.waitFor(() => expect(closed).toBe(true));
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
