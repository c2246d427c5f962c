/** Builders of lead-file bytes in each encoding, and of the chunked streams the reader takes. */
import { readFileSync } from 'node:fs';
import { DEFAULT_IMPORT_LIMITS, type ImportLimits } from '../../../domain/leads/import-error.ts';
import { CsvLeadFileReader } from '../../../adapters/csv/csv-lead-file-reader.ts';
import type { LeadFileRecord } from '../../../ports/lead-file-reader.port.ts';

export function utf8(text: string, { bom = false } = {}): Uint8Array {
  return new TextEncoder().encode(bom ? `\uFEFF${text}` : text);
}

export function utf16le(text: string): Uint8Array {
  const bytes = new Uint8Array(2 + text.length * 2);
  bytes.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    bytes[2 + i * 2] = unit & 0xff;
    bytes[3 + i * 2] = unit >> 8;
  }
  return bytes;
}

export function utf16be(text: string): Uint8Array {
  const bytes = new Uint8Array(2 + text.length * 2);
  bytes.set([0xfe, 0xff]);
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    bytes[2 + i * 2] = unit >> 8;
    bytes[3 + i * 2] = unit & 0xff;
  }
  return bytes;
}

/** Windows-1252 for Latin-1 text plus the few characters the tests use from the 0x80–0x9F block. */
const CP1252_EXTRAS: Readonly<Record<string, number>> = { '€': 0x80, '’': 0x92, '“': 0x93, '”': 0x94, '–': 0x96, '™': 0x99 };

export function windows1252(text: string): Uint8Array {
  return Uint8Array.from([...text], (char) => {
    const code = CP1252_EXTRAS[char] ?? char.charCodeAt(0);
    if (code > 0xff || (code >= 0x80 && code <= 0x9f && CP1252_EXTRAS[char] === undefined)) {
      throw new Error(`no Windows-1252 byte for ${char} in this helper`);
    }
    return code;
  });
}

/** An async stream of the items of a (possibly endless, lazily computed) iterable, like a request body. */
// eslint-disable-next-line @typescript-eslint/require-await -- the items are at hand; the consumer still awaits each one
export async function* streamOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/** The bytes as a stream of chunks of `size` bytes (1 splits every multi-byte character). */
export function chunked(bytes: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  return streamOf(
    (function* () {
      for (let offset = 0; offset < bytes.length; offset += size) {
        // A copy, as a network stream would hand over: no chunk shares memory with another.
        yield bytes.slice(offset, offset + size);
      }
    })(),
  );
}

export function fixture(name: string): Uint8Array {
  return readFileSync(new URL(`../../fixtures/csv/${name}`, import.meta.url));
}

export async function readRecords(
  bytes: Uint8Array,
  { chunkSize, limits = DEFAULT_IMPORT_LIMITS }: { chunkSize?: number; limits?: ImportLimits } = {},
): Promise<LeadFileRecord[]> {
  const records: LeadFileRecord[] = [];
  for await (const record of new CsvLeadFileReader().records(chunked(bytes, chunkSize), limits)) records.push(record);
  return records;
}

/** The cells of each record, for compact expectations. */
export async function readCells(bytes: Uint8Array, options: { chunkSize?: number; limits?: ImportLimits } = {}): Promise<string[][]> {
  return (await readRecords(bytes, options)).map((record) => [...record.cells]);
}

/** The error an async operation rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a result');
}
