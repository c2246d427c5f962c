/**
 * Delimiter detection among `,` `;` tab and `|`, from the decoded start of the file.
 *
 * The first lines (up to 20 non-blank ones, not counting the newlines inside quoted cells) are
 * scanned and each candidate is counted per line, outside quotes. Only a candidate that occurs in
 * the header line can be the delimiter. Among those, the one with the most data lines holding
 * exactly as many of it as the header wins; then the one the header holds most of; then the
 * first in the order `,` `;` tab `|`. A header without any candidate is a one-column file: `,`.
 *
 * The header line is the first line that holds a candidate: lines above it that hold none (a
 * banner such as LinkedIn's "Notes:" and its quoted note, see domain/leads/headers.ts) are not
 * counted, so that they do not hide the delimiter of the table below them.
 */

export type Delimiter = ',' | ';' | '\t' | '|';

export const DELIMITERS: readonly Delimiter[] = [',', ';', '\t', '|'];

const SAMPLE_LINES = 20;

export function detectDelimiter(sample: string): Delimiter {
  const lines = countPerLine(sample);
  const start = lines.findIndex((counts) => counts.size > 0);
  const [header, ...data] = start < 0 ? lines : lines.slice(start);
  let best: Delimiter = ',';
  let bestConsistent = -1;
  let bestInHeader = 0;
  if (header === undefined) return best;
  for (const delimiter of DELIMITERS) {
    const inHeader = header.get(delimiter) ?? 0;
    if (inHeader === 0) continue;
    const consistent = data.filter((line) => (line.get(delimiter) ?? 0) === inHeader).length;
    if (consistent > bestConsistent || (consistent === bestConsistent && inHeader > bestInHeader)) {
      best = delimiter;
      bestConsistent = consistent;
      bestInHeader = inHeader;
    }
  }
  return best;
}

/**
 * Counts of each candidate per non-blank line, outside quotes. The last line is left out when it
 * is cut off by the end of the sample (no newline after it), unless it is the only line.
 */
function countPerLine(sample: string): Map<Delimiter, number>[] {
  const lines: Map<Delimiter, number>[] = [];
  let counts = new Map<Delimiter, number>();
  let blank = true;
  let quoted = false;
  for (const char of sample) {
    if (char === '"') quoted = !quoted;
    if (quoted) {
      blank = false;
      continue;
    }
    if (char === '\n' || char === '\r') {
      if (!blank) lines.push(counts);
      if (lines.length === SAMPLE_LINES) return lines;
      counts = new Map();
      blank = true;
      continue;
    }
    if (char.trim() !== '') blank = false;
    if (isDelimiter(char)) {
      counts.set(char, (counts.get(char) ?? 0) + 1);
      blank = false;
    }
  }
  if (!blank && lines.length === 0) lines.push(counts);
  return lines;
}

function isDelimiter(char: string): char is Delimiter {
  return (DELIMITERS as readonly string[]).includes(char);
}
