/**
 * The csv-parse adapter of `LeadFileReader`: streams an uploaded file into records of cells.
 *
 * The first 64 KiB (or the whole file, when smaller) are read before anything is parsed: they
 * show whether the file is CSV text at all, its encoding (see text-decoder.ts) and its delimiter
 * (see delimiter.ts). From there the file flows chunk by chunk through the decoder into
 * csv-parse, and records come out while later chunks are still unread.
 *
 * Whatever the chunks the file arrives in, the verdict is the same: the sample is exactly the
 * first 64 KiB (a chunk that crosses that boundary is split), and a NUL anywhere after it fails the
 * file as binary too. (A preview reads an upload as one chunk and a submission as many: when the
 * sample was "the chunks until 64 KiB", a NUL after it failed the preview and passed the
 * submission, whose run then failed in extraction.)
 *
 * Every record from the header on is yielded, blank lines included (as a record of one empty
 * cell), so that the row number of a record is its spreadsheet row: the header is row 1. A quoted
 * cell may hold line breaks, so a row number can be smaller than the line number of the text file.
 * Banner lines above the header (LinkedIn's "Notes:" preamble, a title, blank lines) are left out:
 * the header is the first row that looks like one (domain/leads/headers.ts, `findHeader`), and
 * keeps its own row number (row 4 of a LinkedIn export), as do the rows below it.
 */
import { Readable, pipeline } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { findHeader, MAX_BANNER_ROWS } from '../../domain/leads/headers.ts';
import { ImportError, type ImportLimits } from '../../domain/leads/import-error.ts';
import type { LeadFileReader, LeadFileRecord } from '../../ports/lead-file-reader.port.ts';
import { detectDelimiter } from './delimiter.ts';
import { rejectKnownBinaryFormats, rejectNonCsvText, rejectNul } from './sniff.ts';
import { LeadFileDecoder, join } from './text-decoder.ts';

/** How much of the start of the file is examined before parsing. */
const SAMPLE_BYTES = 64 * 1024;

/**
 * csv-parse holds a record in memory until its last cell ends, so it is told to stop at this many
 * cell-size limits per record. A quote that opens and never closes would otherwise pull the rest
 * of the file into one cell before anything could complain.
 */
const RECORD_SIZE_IN_CELLS = 4;

const SEPARATOR_HINT = /^sep=([^\r\n])(?:\r\n|\n|\r)/i;

export class CsvLeadFileReader implements LeadFileReader {
  async *records(source: AsyncIterable<Uint8Array>, limits: ImportLimits): AsyncGenerator<LeadFileRecord> {
    const text = decodeFile(source, limits);
    const sample = await text.next();
    if (sample.done === true) return;
    // A first line such as `sep=;` names the delimiter for Excel, which then hides that line: so do we.
    const hint = SEPARATOR_HINT.exec(sample.value);
    const start = hint === null ? sample.value : sample.value.slice(hint[0].length);

    const parser = parse({
      delimiter: hint?.[1] ?? detectDelimiter(start),
      // Any line ending, even mixed in one file (hand-edited exports have both).
      record_delimiter: ['\r\n', '\n', '\r'],
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: false,
      max_record_size: limits.maxCellChars * RECORD_SIZE_IN_CELLS,
    });
    const input = Readable.from(
      (async function* () {
        yield start;
        yield* text;
      })(),
    );
    pipeline(input, parser, () => {
      // Nothing to do: a failure on either side destroys the parser, and the loop below rethrows it.
    });

    let row = 0;
    // The records read while the header is still being looked for (at most MAX_BANNER_ROWS + 1).
    let above: LeadFileRecord[] | undefined = [];
    try {
      for await (const cells of parser as AsyncIterable<string[]>) {
        row += 1;
        const tooLarge = cells.find((cell) => cell.length > limits.maxCellChars);
        if (tooLarge !== undefined) {
          throw new ImportError(
            'CELL_TOO_LARGE',
            `Row ${row} has a cell of ${tooLarge.length} characters; a cell may hold at most ${limits.maxCellChars}.`,
          );
        }
        if (above === undefined) {
          yield { row, cells };
          continue;
        }
        above.push({ row, cells });
        const header = findHeader(above.map((record) => record.cells));
        if (header === null && above.length <= MAX_BANNER_ROWS) continue;
        const records = fromHeader(above, header ?? 0, limits);
        above = undefined;
        yield* records;
      }
      if (above !== undefined && above.length > 0) yield* fromHeader(above, findHeader(above.map((record) => record.cells)) ?? 0, limits);
    } catch (error) {
      throw asImportError(error, limits);
    }
  }
}

/**
 * The first records of the file from its header on: the banner lines above it are left out (see
 * `findHeader`), the records keep their row numbers. Throws `ImportError` TOO_MANY_COLUMNS for a
 * header wider than the limit.
 */
function fromHeader(records: readonly LeadFileRecord[], header: number, limits: ImportLimits): readonly LeadFileRecord[] {
  const cells = records[header]?.cells ?? [];
  if (cells.length > limits.maxColumns) {
    throw new ImportError(
      'TOO_MANY_COLUMNS',
      `The header has ${cells.length} columns; at most ${limits.maxColumns} are supported. Remove the columns you do not need.`,
    );
  }
  return records.slice(header);
}

/**
 * The text of the file: first the decoded sample, once it has passed the not-CSV checks, then the
 * rest chunk by chunk. Throws `ImportError` EMPTY_FILE, NOT_CSV (from the sample, or a NUL anywhere
 * later) or FILE_TOO_LARGE (as soon as the byte count passes the limit, without reading further).
 */
async function* decodeFile(source: AsyncIterable<Uint8Array>, limits: ImportLimits): AsyncGenerator<string> {
  const decoder = new LeadFileDecoder();
  let size = 0;
  // The sample is the one part of the file ever joined in memory, and it is bounded.
  let sample: Uint8Array[] | undefined = [];
  let sampled = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > limits.maxBytes) {
      throw new ImportError(
        'FILE_TOO_LARGE',
        `The file is larger than ${formatBytes(limits.maxBytes)}, the limit of one import. Split it into smaller files.`,
      );
    }
    let rest = chunk;
    if (sample !== undefined) {
      // Exactly the first SAMPLE_BYTES, however the file is chunked: the sample's verdict must not
      // depend on the chunk sizes of the transport.
      const taken = rest.subarray(0, SAMPLE_BYTES - sampled);
      sample.push(taken);
      sampled += taken.byteLength;
      rest = rest.subarray(taken.byteLength);
      if (sampled < SAMPLE_BYTES) continue;
      yield openSample(join(sample), decoder, false);
      sample = undefined;
      if (rest.byteLength === 0) continue;
    }
    const text = decoder.decode(rest);
    rejectNul(text);
    if (text !== '') yield text;
  }
  if (sample !== undefined) yield openSample(join(sample), decoder, true);
  const rest = decoder.end();
  rejectNul(rest);
  if (rest !== '') yield rest;
}

function openSample(bytes: Uint8Array, decoder: LeadFileDecoder, wholeFile: boolean): string {
  rejectKnownBinaryFormats(bytes);
  const text = decoder.decode(bytes);
  if (wholeFile && text.trim() === '') {
    throw new ImportError('EMPTY_FILE', 'The file is empty. Upload a CSV file with a header row and one row per lead.');
  }
  rejectNonCsvText(text);
  return text;
}

/** Turns a csv-parse error into an `ImportError` whose message names the row and never echoes a cell. */
function asImportError(error: unknown, limits: ImportLimits): unknown {
  if (!(error instanceof CsvError)) return error;
  // `records` is how many records were complete before the failing one.
  const row = typeof error.records === 'number' ? error.records + 1 : undefined;
  const where = row === undefined ? 'A row' : `Row ${row}`;
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new ImportError(
        'MALFORMED_CSV',
        `${where} opens a quote (") that is never closed before the end of the file. Close the quote or remove it.`,
      );
    case 'CSV_MAX_RECORD_SIZE':
      return new ImportError(
        'CELL_TOO_LARGE',
        `${where} is longer than ${limits.maxCellChars * RECORD_SIZE_IN_CELLS} characters. Usually a cell opens a quote (") that is never closed; otherwise a cell is over the limit of ${limits.maxCellChars} characters.`,
      );
    default:
      return new ImportError('MALFORMED_CSV', `${where} could not be read as CSV (${error.code}).`);
  }
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Number(mib.toFixed(1))} MB` : `${Math.ceil(bytes / 1024)} KB`;
}
