import { describe, expect, it } from 'vitest';
import { LeadFileDecoder, scanUtf8 } from '../../../adapters/csv/text-decoder.ts';
import { utf16be, utf16le, utf8, windows1252 } from '../helpers/lead-files.ts';

/** Decodes a file the way the reader does: the first bytes together, then `chunkSize` bytes at a time. */
function decode(bytes: Uint8Array, chunkSize = 1, head = 3): string {
  const decoder = new LeadFileDecoder();
  let text = decoder.decode(bytes.subarray(0, head));
  for (let offset = head; offset < bytes.length; offset += chunkSize) {
    text += decoder.decode(bytes.slice(offset, offset + chunkSize));
  }
  return text + decoder.end();
}

const SAMPLE = 'Prénom,Société,Ville\nZoë,Crème & Café,Besançon\n中文,😀 emoji,€5\n';

describe('LeadFileDecoder', () => {
  it.each([1, 2, 3, 5, 1024])('decodes UTF-8 without a BOM in chunks of %i bytes', (chunkSize) => {
    expect(decode(utf8(SAMPLE), chunkSize)).toBe(SAMPLE);
  });

  it('drops a UTF-8 byte order mark, and only at the start of the file', () => {
    const text = 'Email\n\uFEFFa@acme.example\n';
    expect(decode(utf8(text, { bom: true }), 1)).toBe(text);
    expect(decode(utf8(text, { bom: true }), 7)).toBe(text);
  });

  it.each([1, 2, 3, 1024])('decodes UTF-16 LE with a BOM in chunks of %i bytes, surrogate pairs included', (chunkSize) => {
    expect(decode(utf16le(SAMPLE), chunkSize)).toBe(SAMPLE);
  });

  it.each([1, 2, 3, 1024])('decodes UTF-16 BE with a BOM in chunks of %i bytes, surrogate pairs included', (chunkSize) => {
    expect(decode(utf16be(SAMPLE), chunkSize)).toBe(SAMPLE);
  });

  it('reads bytes that are not UTF-8 as Windows-1252 when only ASCII came before', () => {
    const text = 'Name,Company\nRené Müller,Café “Noël” – 5 €\n';
    expect(decode(windows1252(text), 1)).toBe(text);
    expect(decode(windows1252(text), 4096)).toBe(text);
  });

  it('switches to Windows-1252 for the whole file when the first non-ASCII byte comes far into it', () => {
    const ascii = `Email,Company\n${'a@acme.example,Acme\n'.repeat(5_000)}`;
    const text = `${ascii}zoe@cafe.example,Café Zoé €\n`;
    expect(ascii.length).toBeGreaterThan(64 * 1024);
    expect(decode(windows1252(text), 1000)).toBe(text);
  });

  it('refuses UTF-8 with a damaged byte once valid non-ASCII was seen, however it is chunked and however far in', () => {
    const bytes = Uint8Array.from([...utf8('Café,'), 0xe9, ...utf8(',Müller\n')]);
    for (const chunkSize of [1, 1024]) {
      expect(() => decode(bytes, chunkSize)).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING', message: expect.stringContaining('CSV UTF-8') }));
    }
    const far = Uint8Array.from([...utf8(`Email,Company\nzoe@cafe.example,Café\n${'a@acme.example,Acme\n'.repeat(5_000)}`), 0xff, ...utf8('\n')]);
    expect(far.length).toBeGreaterThan(64 * 1024);
    expect(() => decode(far, 4096)).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING' }));
  });

  it('decodes an unfinished UTF-8 sequence at the end of the file like any other invalid byte', () => {
    expect(decode(Uint8Array.from([...utf8('abc,'), 0xc3]))).toBe('abc,Ã');
    expect(() => decode(Uint8Array.from([...utf8('é,'), 0xc3]))).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING' }));
  });

  it('refuses UTF-16 with an unpaired surrogate', () => {
    const good = utf16le('Email,Company\n');
    const bytes = Uint8Array.from([...good, 0x00, 0xd8, 0x41, 0x00]); // a high surrogate followed by "A"
    expect(() => decode(bytes, 2)).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING', message: expect.stringContaining('UTF-16') }));
  });

  it.each([
    ['an overlong slash', [0xc0, 0xaf], 'À¯'],
    ['a surrogate half', [0xed, 0xa0, 0x80], 'í\u00a0€'],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 'ô\u0090€€'],
  ])('treats %s as not UTF-8', (_name, bytes, windows) => {
    expect(decode(Uint8Array.from([0x61, 0x62, 0x63, ...bytes]))).toBe(`abc${windows}`);
  });
});

describe('scanUtf8', () => {
  it('stops before an unfinished sequence without calling it invalid', () => {
    expect(scanUtf8(Uint8Array.from([0x61, 0xe2, 0x82]))).toEqual({ validUpTo: 1, invalid: false, nonAscii: false });
    expect(scanUtf8(utf8('a€'))).toEqual({ validUpTo: 4, invalid: false, nonAscii: true });
  });

  it('points at the first invalid byte', () => {
    expect(scanUtf8(Uint8Array.from([0x61, 0xc3, 0xa9, 0xff, 0x61]))).toEqual({ validUpTo: 3, invalid: true, nonAscii: true });
    expect(scanUtf8(Uint8Array.from([0x80]))).toEqual({ validUpTo: 0, invalid: true, nonAscii: false });
  });
});
