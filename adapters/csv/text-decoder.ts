/**
 * Decodes the bytes of an uploaded lead file into text, chunk by chunk.
 *
 * - A byte order mark decides: UTF-8 (EF BB BF), UTF-16 LE (FF FE), UTF-16 BE (FE FF).
 *   The mark is not part of the text.
 * - Without a mark the file is read as UTF-8. When a byte sequence that is not UTF-8 shows up:
 *   - if every byte before it was ASCII, the whole file is read as Windows-1252 (what Excel on
 *     Windows writes for "CSV (Comma delimited)"). This is exact, not a guess after the fact:
 *     ASCII reads the same in both, so the text already produced stays right.
 *   - if valid non-ASCII UTF-8 came before it, the file is UTF-8 with damaged bytes (or two
 *     encodings pasted together): it is refused with `INVALID_ENCODING`, wherever in the file the
 *     damage is. Decoding on with U+FFFD would put "Jos� Garc�a" into a personalized email; the
 *     person who uploaded the file can save it again as "CSV UTF-8".
 * - UTF-16 with an unpaired surrogate is refused the same way.
 * - A multi-byte character split across two chunks is decoded once both halves are in.
 */

import { TextDecoder } from 'node:util';
import { ImportError } from '../../domain/leads/import-error.ts';

const DAMAGED_UTF8 =
  'The file is UTF-8 but has bytes that are not UTF-8 text (damaged, or parts saved in another encoding). Save it again as "CSV UTF-8" and upload it.';
const DAMAGED_UTF16 = 'The file is UTF-16 but has bytes that are not UTF-16 text. Save it again as "CSV UTF-8" and upload it.';

const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

export class LeadFileDecoder {
  #started = false;
  #sawNonAscii = false;
  /** The start of a UTF-8 sequence that the next chunk completes. */
  #pending: Uint8Array = new Uint8Array(0);
  /** The streaming decoder of every mode but strict UTF-8: UTF-16, Windows-1252, or UTF-8 with replacement. */
  #decoder: TextDecoder | undefined;
  readonly #utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

  /**
   * Decodes the next chunk. The first call must hold the first bytes of the file (at least
   * three when the file has them), since they carry the byte order mark.
   */
  decode(chunk: Uint8Array): string {
    if (!this.#started) return this.#start(chunk);
    const decoder = this.#decoder;
    if (decoder !== undefined) return this.#utf16 ? this.#decodeUtf16(() => decoder.decode(chunk, { stream: true })) : decoder.decode(chunk, { stream: true });
    return this.#decodeUtf8(chunk);
  }

  /** Decodes what is left at the end of the file: an unfinished sequence becomes U+FFFD (or Windows-1252 text). */
  end(): string {
    const decoder = this.#decoder;
    if (decoder !== undefined) return this.#utf16 ? this.#decodeUtf16(() => decoder.decode()) : decoder.decode();
    if (this.#pending.length === 0) return '';
    // The file ends inside a sequence: that is undecodable UTF-8 like any other.
    return this.#switchAfterInvalidUtf8(false).decode(this.#pending);
  }

  #start(chunk: Uint8Array): string {
    this.#started = true;
    if (chunk[0] === 0xff && chunk[1] === 0xfe) return this.#streamAs('utf-16le', chunk);
    if (chunk[0] === 0xfe && chunk[1] === 0xff) return this.#streamAs('utf-16be', chunk);
    const hasBom = UTF8_BOM.every((byte, index) => chunk[index] === byte);
    return this.#decodeUtf8(hasBom ? chunk.subarray(UTF8_BOM.length) : chunk);
  }

  #streamAs(encoding: 'utf-16le' | 'utf-16be', chunk: Uint8Array): string {
    // A fresh decoder drops the byte order mark at the start of its stream, and only there.
    this.#decoder = new TextDecoder(encoding, { fatal: true });
    this.#utf16 = true;
    return this.#decodeUtf16(() => this.#decoder!.decode(chunk, { stream: true }));
  }

  #utf16 = false;

  #decodeUtf16(decode: () => string): string {
    try {
      return decode();
    } catch (error) {
      if (error instanceof TypeError) throw new ImportError('INVALID_ENCODING', DAMAGED_UTF16);
      throw error;
    }
  }

  #decodeUtf8(chunk: Uint8Array): string {
    const bytes = this.#pending.length === 0 ? chunk : join([this.#pending, chunk]);
    const scan = scanUtf8(bytes);
    if (scan.invalid) {
      this.#pending = new Uint8Array(0);
      return this.#switchAfterInvalidUtf8(scan.nonAscii).decode(bytes, { stream: true });
    }
    this.#sawNonAscii ||= scan.nonAscii;
    this.#pending = bytes.slice(scan.validUpTo);
    return this.#utf8.decode(bytes.subarray(0, scan.validUpTo));
  }

  #switchAfterInvalidUtf8(nonAsciiBeforeInvalid: boolean): TextDecoder {
    if (this.#sawNonAscii || nonAsciiBeforeInvalid) throw new ImportError('INVALID_ENCODING', DAMAGED_UTF8);
    this.#decoder = new TextDecoder('windows-1252');
    return this.#decoder;
  }
}

interface Utf8Scan {
  /** How many leading bytes form complete, valid sequences. */
  readonly validUpTo: number;
  /** True when the byte at `validUpTo` starts an invalid sequence; false when the bytes from there are an unfinished sequence (or none). */
  readonly invalid: boolean;
  /** Whether a valid non-ASCII sequence came before `validUpTo`. */
  readonly nonAscii: boolean;
}

/** Validates UTF-8 as the WHATWG decoder does: no overlong forms, no surrogates, nothing above U+10FFFF. */
export function scanUtf8(bytes: Uint8Array): Utf8Scan {
  let nonAscii = false;
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index] ?? 0;
    if (lead < 0x80) {
      index += 1;
      continue;
    }
    let trailing: number;
    // The allowed range of the first continuation byte depends on the lead byte.
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) trailing = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      trailing = 2;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      trailing = 3;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return { validUpTo: index, invalid: true, nonAscii };
    for (let offset = 1; offset <= trailing; offset += 1) {
      const byte = bytes[index + offset];
      if (byte === undefined) return { validUpTo: index, invalid: false, nonAscii };
      if (byte < low || byte > high) return { validUpTo: index, invalid: true, nonAscii };
      low = 0x80;
      high = 0xbf;
    }
    nonAscii = true;
    index += trailing + 1;
  }
  return { validUpTo: bytes.length, invalid: false, nonAscii };
}

export function join(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const joined = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
