/**
 * Specifics: the details of a line that a reader takes as facts (numbers, money, dates and times,
 * proper names) and whether the sources support each. A line may reword what the research says;
 * it may not add a figure, a name or a time that no source gives. The sources are the research,
 * the lead's own fields and the campaign's prompts (which may name the sender's product).
 *
 * What counts as a specific:
 * - Numbers in any form: digits ("60", "1,200", "2.5"), with a scale ("50M", "5k", "1.2bn",
 *   "2.5 million"), in words ("fifty million", "three", "twenty-five", "half a million", "one and
 *   a half million"), in a compound with what they count ("five-year", "ten-person"), ordinals
 *   ("2nd", "second", "twenty-first"), years and decades ("2019", "'19", "1990s"; "a decade" is
 *   10), percentages ("40%", "40 percent", "40 per cent"), fractions as percentages ("two-thirds",
 *   "a third of", "by a quarter": 33.3%, 25%, matched to the nearest point), multiples ("3x",
 *   "three times", "threefold", "tripled", "twice"), money ("$50M", "€2 million", "50 million
 *   dollars", "USD 5m", "US$5M", "C$5M"), "a dozen", "one hundred and twenty". "one" and "first"
 *   alone are not specifics ("one of the", "first saw", "one-time"), nor vague quantities
 *   ("dozens", "hundreds of", "several", "a few"), nor "24/7", nor "first half", "third-party".
 *   Text is read in NFKC, so full-width digits ("２０") and non-breaking spaces are plain ones.
 * - Tokens mixing letters and digits ("Q3", "G2", "5G", "a16z"), unless generic ("B2B").
 * - Relative times that pin a moment: "yesterday", "today", "tonight", "this morning",
 *   "tomorrow", "last/past/previous week|month|year|quarter|weekend|<season>", "this
 *   week|month|year|quarter|weekend|<season>" ("earlier this year"), "next week|...", and
 *   "<n> days|weeks|months|years ago"; "over the weekend" is "last weekend". Not "recently",
 *   "lately", "new", "just" or "in recent weeks": they pin nothing. A relative time is supported
 *   only by the same time in the sources ("a week ago" and "last week" are one): the gate has no
 *   clock, so "in March 2026" does not support "last month" or "this year".
 * - Proper names: capitalized words and runs of them ("Lisbon", "Maria Chen", "Series B",
 *   "Sandbox Business Weekly"), joined by "of", "de", "van", "&" and the like ("Bank of
 *   America"), a possessive stripped ("Acme's" is "Acme"). Mixed case counts ("iPhone"); a
 *   capital letter after a name word is part of it ("Series A", "Plan B"). Not a name: "I",
 *   titles and roles ("CEO", "VP", "Head", "Founder"), teams ("Sales", "Engineering"), generic
 *   acronyms ("AI", "SaaS", "B2B", "CRM"), corporate suffixes ("Inc", "LLC"), and a capitalized
 *   function word. Months and weekdays are names ("May" must be in the sources).
 * - The first word of a sentence (also after ";", ":"; not after the dot of an initial or a
 *   title, "Dr. Maria Chen") is capitalized anyway, so it is a name only when it clearly is one:
 *   it starts a run of capitalized words ("Maria Chen must be..."), or it is followed by a comma
 *   ("Maria, congrats"), a possessive ("Maria's team") or a verb (an auxiliary, a past tense in
 *   -ed or a common verb: "Maria must be...", "Sequoia backed...", "Europe gets..."); and it is
 *   not a common word (a function word, a greeting or opener such as "Congrats", "Saw", "Loved",
 *   "Bold", "Meanwhile", a word ending in -ing or -ly, or in -ed when it starts a run, a word the
 *   sources or the line also write in lower case). Before a comma a
 *   lone first word is the person greeted: "Will", "May" and "Hope" are names there, and a word
 *   the sources write in lower case is checked all the same ("Rose, congrats" when the research
 *   says "revenue rose"; the price: "Revenue, hiring and..." is refused unless the sources
 *   capitalize "Revenue"). Any other lone first word ("Europe expands again") is not checked:
 *   the price of not refusing every "Bold move". After an opening quote or bracket within a
 *   sentence, a word that is not a common word is a name ("the launch of “Pulse”", "(Pulse)").
 * - A line written all in lower case has no names to check ("saw sequoia backed you"): without
 *   capitals, and without a dictionary, a name is not told from a word.
 *
 * How a specific is matched, forgiving where it should be and strict where it must be:
 * - Numbers by value: "$50M" = "$50 million" = "50 million dollars" = "fifty million dollars";
 *   "3" = "three"; "2nd" = "second" = "2"; "a dozen" = "12"; "Q3" = "third quarter". Strictly
 *   equal: 2019 is not 2026, 60 is not "about 58". A plain number is supported by the same plain
 *   number or sum of money ("50 million" by "$50 million"); a percentage only by a percentage, a
 *   multiple only by a multiple, money only by money in the same currency ("$50M" is not
 *   "€50M"; "50 million" with no currency does not support "$50M").
 * - Names word by word, case-insensitively, accents ignored, curly apostrophes as straight ones:
 *   "Lisbon office" is supported by "office in Lisbon", "Dana" by "Dana Ortiz", "Jose Alvarez" by
 *   "José Álvarez", "O’Brien" by "O'Brien"; every capitalized word of the run must occur in the
 *   sources ("Dana Chen" fails when only "Dana Ortiz" is there), and the run is reported whole.
 *   A lone capitalized word ("Rose", "May", "Will") must occur with a capital in the sources, or
 *   in a short source such as a lead's field: "revenue rose" supports no "Rose", "they may
 *   expand" no "May". A capital letter after a word needs the same pair ("Series A" is not
 *   supported by "Series B" and the article "a"). Acronyms of 2 or 3 letters ("US", "UK", "NYC")
 *   match case-sensitively, so the pronoun "us" supports no "US" (a name the sources capitalize
 *   does support its capitals: "ZOË" for "Zoë").
 * - Relative times by the moment they pin (see above).
 * - Citation markers ("[1]") and list numbers at the start of a source's line are not numbers of
 *   the sources: a line's "3" is never supported by a research footnote.
 *
 * What this does not check: that the specifics are combined as the sources combine them
 * ("raised $50M from Sequoia" when the research says a rival did) — that takes reading, not code;
 * and world knowledge the sources do not state ("Portugal" for an office in Lisbon is refused).
 */

export type SpecificKind = 'number' | 'time' | 'name';

export interface Specific {
  readonly kind: SpecificKind;
  /** As the line writes it ("$50M", "last week", "Maria Chen"); never holds `"` or `;`. */
  readonly text: string;
}

export interface SpecificsOptions {
  /**
   * Skip proper names when the text is in Title Case (a subject line such as "Your New Lisbon
   * Office"), where capitals say nothing about names. Numbers and times are checked all the same.
   */
  readonly skipNamesInTitleCase?: boolean;
}

/** The specifics of `text` that `sources` do not support, in order of appearance, each once. */
export function unsupportedSpecifics(line: string, sources: readonly string[], options: SpecificsOptions = {}): Specific[] {
  const known = factsOf(sources);
  // NFKC: full-width digits and letters ("２０"), non-breaking spaces and ligatures read as plain ones.
  // Citation markers ("[1]") state nothing: blanked, so that positions stay.
  const text = line.normalize('NFKC').replace(CITATION, (marker) => ' '.repeat(marker.length));
  const tokens = tokenize(text);
  const consumed = new Set<number>();
  const found: { readonly at: number; readonly specific: Specific }[] = [];
  const add = (at: number, kind: SpecificKind, from: number, to: number) => {
    found.push({ at, specific: { kind, text: cleanText(text.slice(from, to)) } });
  };

  for (const time of findTimes(tokens)) {
    for (let index = time.first; index <= time.last; index += 1) consumed.add(index);
    if (!known.times.has(time.key)) add(tokens[time.first]!.start, 'time', tokens[time.first]!.start, tokens[time.last]!.end);
  }
  for (const number of findNumbers(tokens, consumed)) {
    for (let index = number.first; index <= number.last; index += 1) consumed.add(index);
    if (!numberSupported(number, known.numbers)) add(tokens[number.first]!.start, 'number', tokens[number.first]!.start, tokens[number.last]!.end);
  }
  tokens.forEach((token, index) => {
    if (consumed.has(index) || !isLiteral(token)) return;
    consumed.add(index);
    if (!known.words.has(fold(token.text))) add(token.start, 'number', token.start, token.end);
  });
  if (!(options.skipNamesInTitleCase === true && isTitleCase(tokens))) {
    const lowercase = new Set(tokens.filter((token) => token.type === 'word' && !/\p{Lu}/u.test(token.text)).map((token) => fold(token.text)));
    for (const run of findNameRuns(tokens, consumed, (word) => known.lowercase.has(word) || lowercase.has(word))) {
      if (!run.tokens.every((token, at) => nameSupported(token, known, run.strict, run.previous[at]))) add(run.start, 'name', run.start, run.end);
    }
  }

  const seen = new Set<string>();
  return found
    .sort((a, b) => a.at - b.at)
    .map((entry) => entry.specific)
    .filter((specific) => specific.text !== '' && !seen.has(specific.text.toLowerCase()) && seen.add(specific.text.toLowerCase()));
}

/** The gates' problem for an unsupported specific: it names the specific, in quotes. */
export function unsupportedSpecificProblem(specific: Specific): string {
  const why = specific.kind === 'time' ? 'the research gives no such time' : "not in the research or the lead's fields";
  return `unsupported specific: "${specific.text}" (${why})`;
}

const PROBLEM = /unsupported specific: "([^"]*)"/gu;

/**
 * The unsupported specifics a lead's review reason names (the problems as stored, see
 * unsupportedSpecificProblem), in order, each once: the export and the results show them apart.
 */
export function unsupportedSpecificsIn(reason: string | null): string[] {
  if (reason === null) return [];
  return [...new Set([...reason.matchAll(PROBLEM)].map((match) => match[1]!))];
}

function cleanText(text: string): string {
  return text.replace(/["“”;]/gu, '').replace(/\s+/gu, ' ').trim();
}

// ── Tokens ────────────────────────────────────────────────────────────────────────────────────

interface Token {
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** `number` starts with a digit, `word` with a letter, `symbol` is a currency sign or `%`. */
  readonly type: 'number' | 'word' | 'symbol';
  /** What lies between the previous token and this one: spaces and punctuation. */
  readonly gap: string;
}

const TOKEN =
  /\d{1,3}(?:,\d{3})+(?:\.\d+)?\p{L}*|\d+(?:\.\d+)?\p{L}*|\p{L}[\p{L}\p{M}\p{N}]*(?:['’.-][\p{L}\p{N}][\p{L}\p{M}\p{N}]*)*['’]?|[$€£¥%]/gu;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const value = match[0];
    const type = /^\d/u.test(value) ? 'number' : /^[$€£¥%]$/u.test(value) ? 'symbol' : 'word';
    tokens.push({ text: value, start: match.index, end: match.index + value.length, type, gap: text.slice(last, match.index) });
    last = match.index + value.length;
  }
  return tokens;
}

/** Lower case, accents dropped, curly apostrophes straight ("O’Brien" is "o'brien"), a possessive or a trailing apostrophe dropped. */
function fold(word: string): string {
  // Most words are plain ASCII: no accents to drop.
  const plain = /^[\x20-\x7e]*$/u.test(word) ? word : word.normalize('NFKD').replace(/\p{M}/gu, '').replace(/[‘’ʼ]/gu, "'");
  const lower = plain.toLowerCase();
  return lower.endsWith("'s") || lower.endsWith('’s') ? lower.slice(0, -2) : lower.endsWith("'") || lower.endsWith('’') ? lower.slice(0, -1) : lower;
}

/** The word without its possessive ("Acme's", "Robotics'"), as written. */
function core(word: string): string {
  return word.replace(/['’]s$|['’]$/u, '');
}

const onlySpace = (gap: string) => /^\s*$/u.test(gap);

// ── Numbers ───────────────────────────────────────────────────────────────────────────────────

type Unit = 'plain' | 'percent' | 'times' | `money:${string}`;

interface NumberValue {
  readonly value: number;
  readonly unit: Unit;
  /** A fraction in words read as a percentage ("a third" is 33.3%): matched to the nearest point. */
  readonly approximate?: boolean;
}

interface NumberMatch extends NumberValue {
  readonly first: number;
  readonly last: number;
}

const CARDINALS: Readonly<Record<string, number>> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18,
  nineteen: 19, twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
const ORDINALS: Readonly<Record<string, number>> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10,
  eleventh: 11, twelfth: 12, thirteenth: 13, fourteenth: 14, fifteenth: 15, sixteenth: 16, seventeenth: 17,
  eighteenth: 18, nineteenth: 19, twentieth: 20, thirtieth: 30, fortieth: 40, fiftieth: 50, sixtieth: 60,
  seventieth: 70, eightieth: 80, ninetieth: 90, hundredth: 100, thousandth: 1_000, millionth: 1_000_000,
};
const SCALES: Readonly<Record<string, number>> = {
  hundred: 100, thousand: 1_000, million: 1_000_000, billion: 1_000_000_000, trillion: 1_000_000_000_000,
  mn: 1_000_000, bn: 1_000_000_000,
};
/** Scales written on the digits: "5k", "50M", "1.2bn". */
const SUFFIX_SCALES: Readonly<Record<string, number>> = {
  k: 1_000, m: 1_000_000, mm: 1_000_000, mn: 1_000_000, mil: 1_000_000, b: 1_000_000_000, bn: 1_000_000_000,
};
const CURRENCY_SIGNS: Readonly<Record<string, string>> = { $: 'usd', '€': 'eur', '£': 'gbp', '¥': 'jpy' };
/** Letters written right before a "$" that name its dollar: "US$18M", "C$5M", "A$2bn". */
const DOLLAR_PREFIXES: Readonly<Record<string, string>> = { US: 'usd', C: 'cad', CA: 'cad', A: 'aud', AU: 'aud', NZ: 'nzd', HK: 'hkd', S: 'sgd', SG: 'sgd' };
const CURRENCY_WORDS: Readonly<Record<string, string>> = {
  usd: 'usd', dollar: 'usd', dollars: 'usd', eur: 'eur', euro: 'eur', euros: 'eur', gbp: 'gbp', pound: 'gbp',
  pounds: 'gbp', sterling: 'gbp', jpy: 'jpy', yen: 'jpy',
};
const MULTIPLE_VERBS: Readonly<Record<string, number>> = {
  doubled: 2, doubling: 2, tripled: 3, tripling: 3, quadrupled: 4, quadrupling: 4, tenfold: 10, twofold: 2,
  threefold: 3, fourfold: 4, fivefold: 5, halved: 0.5, twice: 2, thrice: 3, doubles: 2, triples: 3, quadruples: 4,
};
/** What a number word may count in a compound ("five-year", "twenty-person", "three-time"): the number is read. */
const COUNTED_UNITS: ReadonlySet<string> = new Set([
  'year', 'month', 'week', 'day', 'hour', 'minute', 'person', 'people', 'member', 'strong', 'time', 'store', 'office',
  'location', 'site', 'country', 'city', 'state', 'figure', 'star', 'seat', 'floor', 'bed', 'acre', 'mile',
]);
/** Fractions in words, by denominator: "a third", "two thirds", "three quarters" (see fractionAt). */
const DENOMINATORS: Readonly<Record<string, number>> = {
  half: 2, halves: 2, third: 3, thirds: 3, quarter: 4, quarters: 4, fourths: 4, fifth: 5, fifths: 5, sixth: 6, sixths: 6,
  seventh: 7, sevenths: 7, eighth: 8, eighths: 8, ninth: 9, ninths: 9, tenth: 10, tenths: 10,
};
/** Words before "a third" that make it a share rather than an ordinal ("by a third", "nearly a quarter"). */
const FRACTION_LEADS: ReadonlySet<string> = new Set([
  'by', 'than', 'nearly', 'almost', 'about', 'roughly', 'around', 'over', 'under', 'just', 'some', 'only', 'fully', 'barely', 'approximately',
]);

const isNumberWord = (part: string) => part in CARDINALS || part in ORDINALS || (part in SCALES && part.length > 2) || part === 'dozen' || part === 'decade';

/**
 * A number word's parts ("twenty-five" is twenty and five), those before the unit of a compound
 * ("five-year" is five, "twenty-five-person" twenty and five), or undefined when it is not one.
 */
function numberWordParts(token: Token | undefined): string[] | undefined {
  if (token?.type !== 'word') return undefined;
  const parts = token.text.toLowerCase().split('-');
  if (parts.every(isNumberWord)) return parts;
  const count = parts.findIndex((part) => !isNumberWord(part));
  return count > 0 && COUNTED_UNITS.has(parts[count]!) ? parts.slice(0, count) : undefined;
}

/** Whether the token is a number word compound with what it counts ("five-year"). */
function isCompound(token: Token): boolean {
  const parts = numberWordParts(token);
  return parts !== undefined && token.text.split('-').length > parts.length;
}

/**
 * A fraction in words, as a percentage: "two-thirds", "one-third", "a third of", "three quarters
 * of", "by a quarter", "nearly a fifth". Without "of" after it or a word such as "by" before it,
 * "a third" is an ordinal ("a third office") and is read as one.
 */
function fractionAt(tokens: readonly Token[], index: number, free: (at: number) => boolean): { readonly value: number; readonly last: number } | undefined {
  const token = tokens[index]!;
  const lower = token.text.toLowerCase();
  const numerator = (word: string) => (word === 'a' || word === 'an' ? 1 : CARDINALS[word]);
  const share = (count: number | undefined, denominatorWord: string) => {
    const denominator = DENOMINATORS[denominatorWord];
    if (count === undefined || count < 1 || count > 9 || denominator === undefined || count >= denominator) return undefined;
    // "one third", "two thirds": a plural after more than one.
    if ((count === 1) !== !/s$/u.test(denominatorWord)) return undefined;
    return (count / denominator) * 100;
  };
  const parts = lower.split('-');
  if (parts.length === 2) {
    const value = share(numerator(parts[0]!), parts[1]!);
    return value === undefined ? undefined : { value, last: index };
  }
  const next = tokens[index + 1];
  if (next === undefined || !free(index + 1) || !onlySpace(next.gap) || next.type !== 'word') return undefined;
  const nextLower = next.text.toLowerCase();
  const value = share(numerator(lower), nextLower);
  if (value === undefined) return undefined;
  const after = tokens[index + 2];
  const ofFollows = after !== undefined && onlySpace(after.gap) && after.text.toLowerCase() === 'of';
  const before = index > 0 ? tokens[index - 1]! : undefined;
  const leadBefore = before !== undefined && onlySpace(token.gap) && FRACTION_LEADS.has(before.text.toLowerCase());
  // "a half" is a share only before "of": "an hour and a half" is a time.
  if (!ofFollows && (!leadBefore || nextLower === 'half')) return undefined;
  return { value, last: index + 1 };
}

/** The numbers of the tokens not consumed yet, in order (see the module comment). */
function findNumbers(tokens: readonly Token[], consumed: ReadonlySet<number>): NumberMatch[] {
  const found: NumberMatch[] = [];
  for (let index = 0; index < tokens.length; index += 1) {
    if (consumed.has(index) || !mayStartNumber(tokens[index]!)) continue;
    // "24/7" is a phrase, not two figures.
    if (tokens[index]!.text === '24' && tokens[index + 1]?.text === '7' && tokens[index + 1]?.gap === '/') {
      index += 1;
      continue;
    }
    const match = numberAt(tokens, index, consumed);
    if (match === undefined) continue;
    found.push(match);
    index = match.last;
  }
  return found;
}

/** A cheap first look: whether a number can start at the token (digits, a currency, a number word, "a"). */
function mayStartNumber(token: Token): boolean {
  if (token.type !== 'word') return true;
  const lower = token.text.toLowerCase();
  const dash = lower.indexOf('-');
  return NUMBER_STARTS.has(dash === -1 ? lower : lower.slice(0, dash));
}

const NUMBER_STARTS: ReadonlySet<string> = new Set([
  'a', 'an', 'dozen', 'decade', 'half', ...Object.keys(DOLLAR_PREFIXES).map((prefix) => prefix.toLowerCase()),
  ...Object.keys(CARDINALS), ...Object.keys(ORDINALS), ...Object.keys(SCALES), ...Object.keys(MULTIPLE_VERBS), ...Object.keys(CURRENCY_WORDS),
]);

function numberAt(tokens: readonly Token[], index: number, consumed: ReadonlySet<number>): NumberMatch | undefined {
  const free = (at: number) => at < tokens.length && !consumed.has(at);
  const token = tokens[index]!;
  const lower = token.text.toLowerCase();
  if (token.type === 'word' && lower in MULTIPLE_VERBS) return { value: MULTIPLE_VERBS[lower]!, unit: 'times', first: index, last: index };

  let at = index;
  let currency: string | undefined;
  if (token.type === 'symbol' && token.text in CURRENCY_SIGNS && free(at + 1) && tokens[at + 1]!.type === 'number' && onlySpace(tokens[at + 1]!.gap)) {
    currency = CURRENCY_SIGNS[token.text];
    at += 1;
  } else if (token.type === 'word' && /^(?:USD|EUR|GBP)$/u.test(token.text) && free(at + 1) && tokens[at + 1]!.type === 'number') {
    currency = CURRENCY_WORDS[lower];
    at += 1;
  } else if (token.type === 'word' && token.text in DOLLAR_PREFIXES && tokens[at + 1]?.text === '$' && tokens[at + 1]!.gap === '' && free(at + 2) && tokens[at + 2]!.type === 'number' && onlySpace(tokens[at + 2]!.gap)) {
    currency = DOLLAR_PREFIXES[token.text];
    at += 2;
  }

  let value: number;
  let unit: Unit = 'plain';
  const first = tokens[at]!;
  if (first.type === 'number') {
    const [, digits = '', suffix = ''] = /^([\d,]+(?:\.\d+)?)(\p{L}*)$/u.exec(first.text) ?? [];
    value = Number(digits.replaceAll(',', ''));
    const ending = suffix.toLowerCase();
    if (ending in SUFFIX_SCALES) value *= SUFFIX_SCALES[ending]!;
    else if (ending === 'x') unit = 'times';
    else if (!['', 'st', 'nd', 'rd', 'th', 's'].includes(ending)) return undefined; // "5G", "9am": a literal
    // "in '25": a year.
    if (currency === undefined && /^\d\d$/u.test(first.text) && /(?:^|[\s(])['’‘]$/u.test(first.gap)) value += value <= 50 ? 2000 : 1900;
    const scale = tokens[at + 1];
    if (ending === '' && free(at + 1) && scale?.type === 'word' && onlySpace(scale.gap) && scale.text.toLowerCase() in SCALES) {
      value *= SCALES[scale.text.toLowerCase()]!;
      at += 1;
    }
  } else {
    const fraction = first.type === 'word' ? fractionAt(tokens, at, free) : undefined;
    if (fraction !== undefined) return { value: fraction.value, unit: 'percent', approximate: true, first: index, last: fraction.last };
    const words: string[] = [];
    let end = at - 1;
    // "half a million", "half a dozen".
    if (first.text.toLowerCase() === 'half' && [1, 2].every((step) => free(at + step) && onlySpace(tokens[at + step]!.gap)) && /^an?$/iu.test(tokens[at + 1]!.text)) {
      const of = tokens[at + 2]!.text.toLowerCase();
      if (of === 'dozen' || (of in SCALES && of.length > 2)) return withUnit(tokens, index, at + 2, (of === 'dozen' ? 12 : SCALES[of]!) / 2, unit, currency, free);
    }
    // "a" counts only before a scale, "dozen" or "decade": "a million", "a dozen", "a decade" (ten years).
    if (first.type === 'word' && /^an?$/iu.test(first.text) && free(at + 1) && onlySpace(tokens[at + 1]!.gap)) {
      const next = numberWordParts(tokens[at + 1]);
      if (next?.[0] !== undefined && (next[0] in SCALES || next[0] === 'dozen' || next[0] === 'decade')) {
        words.push('one');
        end = at;
      }
    }
    while (free(end + 1) && (end + 1 === at || onlySpace(tokens[end + 1]!.gap))) {
      // "one hundred and twenty": "and" joins after a hundred or a scale.
      const previous = words.at(-1);
      if (tokens[end + 1]!.text.toLowerCase() === 'and' && previous !== undefined && (previous === 'hundred' || previous in SCALES) && free(end + 2) && onlySpace(tokens[end + 2]!.gap)) {
        const after = numberWordParts(tokens[end + 2]);
        if (after !== undefined && !(after[0]! in SCALES) && after[0] !== 'hundred') {
          end += 1;
          continue;
        }
      }
      const parts = numberWordParts(tokens[end + 1]);
      // "one two three" is three numbers: a word joins the number only where it can follow ("twenty five", "two hundred").
      if (parts === undefined || !parts.every((part, index) => canFollow(index === 0 ? words.at(-1) : parts[index - 1], part))) break;
      words.push(...parts);
      end += 1;
      if (parts.some((part) => part in ORDINALS) || isCompound(tokens[end]!)) break;
    }
    // "one and a half", "two and a half million".
    const andAHalf =
      words.length > 0 &&
      !isCompound(tokens[end]!) &&
      [1, 2, 3].every((step) => free(end + step) && onlySpace(tokens[end + step]!.gap)) &&
      tokens[end + 1]!.text.toLowerCase() === 'and' &&
      /^an?$/iu.test(tokens[end + 2]!.text) &&
      tokens[end + 3]!.text.toLowerCase() === 'half';
    let extra = 0;
    if (andAHalf) {
      extra = 0.5;
      end += 3;
    } else if (words.length === 0 || (words.length === 1 && ['one', 'first'].includes(words[0]!))) return undefined;
    const parsed = wordsValue(words);
    if (parsed === undefined) return undefined;
    value = parsed + extra;
    const scale = tokens[end + 1];
    if (andAHalf && free(end + 1) && scale?.type === 'word' && onlySpace(scale.gap) && scale.text.toLowerCase() in SCALES && scale.text.length > 2) {
      value *= SCALES[scale.text.toLowerCase()]!;
      end += 1;
    }
    at = end;
    // "a five-year contract": nothing after it is its unit.
    if (isCompound(tokens[at]!)) return { value, unit, first: index, last: at };
  }
  return withUnit(tokens, index, at, value, unit, currency, free);
}

/** The number ending at token `at`, with the unit written after it: percent, a multiple, a currency. */
function withUnit(tokens: readonly Token[], index: number, end: number, value: number, plainUnit: Unit, signCurrency: string | undefined, free: (at: number) => boolean): NumberMatch | undefined {
  let at = end;
  let unit = plainUnit;
  let currency = signCurrency;

  // A unit after the number: percent, a multiple, a currency.
  const next = free(at + 1) ? tokens[at + 1] : undefined;
  const nextLower = next?.text.toLowerCase() ?? '';
  if (next?.type === 'symbol' && next.text === '%' && onlySpace(next.gap)) {
    unit = 'percent';
    at += 1;
  } else if (next?.type === 'word' && onlySpace(next.gap) && ['percent', 'pct'].includes(nextLower)) {
    unit = 'percent';
    at += 1;
  } else if (next?.type === 'word' && onlySpace(next.gap) && nextLower === 'per' && tokens[at + 2]?.text.toLowerCase() === 'cent' && free(at + 2)) {
    unit = 'percent';
    at += 2;
  } else if (next?.type === 'word' && (nextLower === 'times' || nextLower === 'fold') && /^[\s-]*$/u.test(next.gap)) {
    unit = 'times';
    at += 1;
  } else if (next?.type === 'word' && onlySpace(next.gap) && nextLower in CURRENCY_WORDS) {
    currency ??= CURRENCY_WORDS[nextLower];
    at += 1;
  }
  if (currency !== undefined && unit === 'plain') unit = `money:${currency}`;
  if (!Number.isFinite(value)) return undefined;
  return { value, unit, first: index, last: at };
}

/** Whether number word `next` may follow `previous` in one number ("twenty" "five", "five" "hundred"; not "two" "three"). */
function canFollow(previous: string | undefined, next: string): boolean {
  if (previous === undefined) return true;
  if (previous in ORDINALS) return false;
  const big = next === 'hundred' || next === 'dozen' || next === 'decade' || (next in SCALES && next.length > 2);
  if (big) return true;
  const value = CARDINALS[next] ?? ORDINALS[next] ?? 0;
  if (previous in SCALES || previous === 'hundred') return true;
  // After a ten ("twenty"), only a unit: "twenty five", "twenty-first".
  const before = CARDINALS[previous] ?? 0;
  const tens = before >= 20 && before % 10 === 0;
  return tens && value >= 1 && value <= 9;
}

/** "twenty five thousand" → 25000; undefined when the words make no number. */
function wordsValue(words: readonly string[]): number | undefined {
  let total = 0;
  let current = 0;
  let any = false;
  for (const word of words) {
    if (word in CARDINALS) current += CARDINALS[word]!;
    else if (word in ORDINALS) {
      const value = ORDINALS[word]!;
      current = value >= 100 ? (current || 1) * value : current + value;
    } else if (word === 'dozen') current = (current || 1) * 12;
    else if (word === 'decade') current = (current || 1) * 10;
    else if (word === 'hundred') current = (current || 1) * 100;
    else if (word in SCALES) {
      total += (current || 1) * SCALES[word]!;
      current = 0;
    } else return undefined;
    any = true;
  }
  return any ? total + current : undefined;
}

function sameValue(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function numberSupported(number: NumberValue, known: readonly NumberValue[]): boolean {
  return known.some((source) => {
    const equal = number.approximate === true || source.approximate === true ? Math.abs(source.value - number.value) < 1 : sameValue(source.value, number.value);
    return equal && unitSupports(source.unit, number.unit);
  });
}

/** Whether a source's number in `source` units supports the line's in `line` units (see the module comment). */
function unitSupports(source: Unit, line: Unit): boolean {
  if (line === 'plain') return source === 'plain' || source.startsWith('money:');
  if (line.startsWith('money:')) return source === line;
  return source === line;
}

/** Tokens with both letters and digits that are not numbers ("Q3", "G2", "5G", "9am"), generic ones aside. */
function isLiteral(token: Token): boolean {
  if (!/\d/u.test(token.text) || !/\p{L}/u.test(token.text)) return false;
  if (GENERIC_WORDS.has(fold(core(token.text)))) return false;
  if (token.type === 'number') return !/^[\d,]+(?:\.\d+)?(?:k|m|mm|mn|mil|b|bn|x|st|nd|rd|th|s)?$/iu.test(token.text);
  return true;
}

// ── Times ─────────────────────────────────────────────────────────────────────────────────────

interface TimeMatch {
  /** The moment it pins, the same for its variants: "last week" for "past week", "a week ago". */
  readonly key: string;
  readonly first: number;
  readonly last: number;
}

const PERIODS = new Set(['week', 'month', 'year', 'quarter', 'weekend', 'spring', 'summer', 'fall', 'autumn', 'winter']);
const PAST = new Set(['last', 'past', 'previous']);
const DAY_PARTS = new Set(['morning', 'afternoon', 'evening']);
/** Words a relative time may start with: a cheap first look before timeAt. */
const TIME_STARTS = new Set(['yesterday', 'today', 'tonight', 'tomorrow', 'last', 'past', 'previous', 'this', 'next', 'coming', 'over', 'a', 'an', 'few', 'couple', 'several']);
const AGO_UNITS: Readonly<Record<string, string>> = {
  day: 'day', days: 'day', week: 'week', weeks: 'week', month: 'month', months: 'month', year: 'year', years: 'year', hour: 'hour', hours: 'hour',
};
const FEW = new Set(['few', 'couple', 'several']);

function period(word: string): string {
  return word === 'autumn' ? 'fall' : word;
}

/** The relative times of the tokens, in order (see the module comment). */
function findTimes(tokens: readonly Token[]): TimeMatch[] {
  const words = tokens.map((token) => (token.type === 'word' ? fold(token.text) : token.type === 'number' ? `#${token.text}` : ''));
  const joined = (at: number) => at < tokens.length && onlySpace(tokens[at]!.gap);
  const found: TimeMatch[] = [];
  for (let index = 0; index < tokens.length; index += 1) {
    const word = words[index]!;
    if (!TIME_STARTS.has(word) && !word.startsWith('#') && !(word in CARDINALS)) continue;
    const match = timeAt(words, index, joined);
    if (match === undefined) continue;
    // "earlier this year", "later this week": the same time, the whole phrase reported.
    const first = match.first > 0 && ['earlier', 'later'].includes(words[match.first - 1]!) && joined(match.first) ? match.first - 1 : match.first;
    found.push({ ...match, first });
    index = match.last;
  }
  return found;
}

function timeAt(words: readonly string[], index: number, joined: (at: number) => boolean): TimeMatch | undefined {
  const word = words[index]!;
  const next = joined(index + 1) ? words[index + 1] : undefined;
  const third = next !== undefined && joined(index + 2) ? words[index + 2] : undefined;
  if (word === 'yesterday') return { key: 'yesterday', first: index, last: index };
  if (word === 'today' || word === 'tonight') return { key: 'today', first: index, last: index };
  if (word === 'tomorrow') return { key: 'tomorrow', first: index, last: index };
  if (PAST.has(word) && next === 'night') return { key: 'yesterday', first: index, last: index + 1 };
  if (PAST.has(word) && next !== undefined && PERIODS.has(next)) return { key: `last ${period(next)}`, first: index, last: index + 1 };
  if (word === 'this' && next === 'past' && third !== undefined && PERIODS.has(third)) return { key: `last ${period(third)}`, first: index, last: index + 2 };
  if (word === 'this' && next !== undefined && DAY_PARTS.has(next)) return { key: 'today', first: index, last: index + 1 };
  if (word === 'this' && next !== undefined && PERIODS.has(next)) return { key: `this ${period(next)}`, first: index, last: index + 1 };
  if (['next', 'coming'].includes(word) && next !== undefined && PERIODS.has(next)) return { key: `next ${period(next)}`, first: index, last: index + 1 };
  if (word === 'over' && next === 'the' && third === 'weekend') return { key: 'last weekend', first: index, last: index + 2 };

  // "<count> <unit> ago": "two weeks ago", "a month ago", "a few days ago", "3 years ago".
  let at = index;
  let count: string | undefined;
  if (word === 'a' || word === 'an') {
    if (next !== undefined && FEW.has(next)) {
      count = 'few';
      at += next === 'couple' && words[index + 2] === 'of' ? 2 : 1;
    } else count = '1';
  } else if (FEW.has(word)) {
    count = 'few';
    if (word === 'couple' && next === 'of') at += 1;
  } else if (word.startsWith('#')) count = word.slice(1);
  else if (word in CARDINALS) count = String(CARDINALS[word]);
  if (count === undefined || !joined(at + 1) || !joined(at + 2)) return undefined;
  const unit = AGO_UNITS[words[at + 1]!];
  if (unit === undefined || words[at + 2] !== 'ago') return undefined;
  if (count === '1') {
    const key = unit === 'day' ? 'yesterday' : unit === 'hour' ? 'today' : `last ${unit}`;
    return { key, first: index, last: at + 2 };
  }
  return { key: `${count} ${unit}s ago`, first: index, last: at + 2 };
}

// ── Names ─────────────────────────────────────────────────────────────────────────────────────

/** Function words: capitalized only because they start a sentence, never names. */
const FUNCTION_WORDS = new Set([
  'a', 'about', 'above', 'after', 'again', 'against', 'all', 'also', 'am', 'an', 'and', 'any', 'are', 'as', 'at',
  'be', 'because', 'been', 'before', 'being', 'below', 'between', 'both', 'but', 'by', 'can', 'could', 'did', 'do',
  'does', 'during', 'each', 'few', 'for', 'from', 'further', 'had', 'has', 'have', 'he', 'her', 'here', 'hers',
  'him', 'his', 'how', 'i', 'if', 'in', 'into', 'is', 'it', 'its', 'just', 'me', 'more', 'most', 'my', 'no', 'nor',
  'not', 'now', 'of', 'off', 'on', 'once', 'only', 'or', 'other', 'our', 'ours', 'out', 'over', 'own', 'same', 'she',
  'should', 'so', 'some', 'such', 'than', 'that', 'the', 'their', 'theirs', 'them', 'then', 'there', 'these', 'they',
  'this', 'those', 'through', 'to', 'too', 'under', 'until', 'up', 'very', 'was', 'we', 'were', 'what', 'when',
  'where', 'which', 'while', 'who', 'whom', 'why', 'with', 'would', 'you', 'your', 'yours', 'yourself', 'itself',
  "i'm", "i've", "i'd", "i'll", "you're", "you've", "you'd", "you'll", "we're", "we've", "we'd", "we'll", "it's",
  "that's", "there's", "here's", "what's", "let's", "they're", "they've", "who's", "isn't", "aren't", "wasn't",
  "don't", "doesn't", "didn't", "can't", "won't", 'yet', 'still', 'even', 'ever', 'every', 'many', 'much', 'another',
  'either', 'neither', 'whether', 'though', 'although', 'since', 'unless', 'via', 'per', 'plus', 'like', 'unlike',
]);

/**
 * Capitalized mid-sentence yet not names: "I", titles and roles, generic acronyms, corporate
 * suffixes (folded: lower case).
 */
const GENERIC_WORDS = new Set([
  'i', "i'm", "i've", "i'd", "i'll",
  'ceo', 'cto', 'cfo', 'coo', 'cmo', 'cro', 'cpo', 'cio', 'ciso', 'chro', 'cso', 'vp', 'svp', 'evp', 'avp', 'gm',
  'head', 'chief', 'officer', 'president', 'vice', 'director', 'manager', 'founder', 'cofounder', 'co', 'owner',
  'partner', 'principal', 'lead', 'senior', 'sr', 'jr', 'executive', 'associate', 'chair', 'chairman',
  'chairwoman', 'chairperson', 'mr', 'mrs', 'ms', 'dr', 'prof', 'sir',
  'ai', 'genai', 'ml', 'llm', 'llms', 'api', 'apis', 'saas', 'paas', 'iaas', 'b2b', 'b2c', 'd2c', 'dtc', 'crm', 'erp',
  'hr', 'it', 'ux', 'ui', 'cx', 'pr', 'seo', 'sem', 'roi', 'kpi', 'kpis', 'okr', 'okrs', 'gtm', 'sdr', 'sdrs',
  'bdr', 'bdrs', 'ae', 'aes', 'smb', 'smbs', 'sme', 'smes', 'faq', 'ps', 'p.s', 'ok', 'fyi', 'asap', 'iot', 'ar',
  'vr', 'qa', 'devops', 'revops', 'esg', 'dei', 'hq', 'arr', 'mrr', 'nps', 'cac', 'ltv', 'r&d', 'tl;dr',
  'inc', 'ltd', 'llc', 'corp', 'plc', 'gmbh', 'llp',
  // Teams and functions, often capitalized ("your Sales team"): no names.
  'sales', 'marketing', 'operations', 'ops', 'finance', 'engineering', 'product', 'design', 'legal', 'support',
  'partnerships', 'procurement', 'talent', 'recruiting', 'security', 'data', 'analytics', 'accounting', 'compliance',
  'communications', 'infrastructure', 'logistics', 'strategy', 'development', 'success',
]);

/** Greetings and openers a sentence often starts with (folded), besides the function words. */
const OPENERS = new Set([
  'hi', 'hey', 'hello', 'dear', 'congrats', 'congratulations', 'kudos', 'cheers', 'thanks', 'thank', 'bravo', 'wow',
  'saw', 'seen', 'see', 'noticed', 'notice', 'loved', 'love', 'liked', 'like', 'read', 'caught', 'spotted', 'heard',
  'came', 'found', 'enjoyed', 'watched', 'followed', 'hope', 'wanted', 'want', 'wondered', 'curious', 'quick',
  'big', 'huge', 'great', 'nice', 'impressive', 'exciting', 'excited', 'interesting', 'fascinating', 'cool',
  'awesome', 'brilliant', 'well', 'good', 'glad', 'happy', 'amazing', 'bold', 'smart', 'solid', 'strong', 'neat',
  'fun', 'wild', 'incredible', 'remarkable', 'notable', 'major', 'massive', 'serious', 'lovely', 'sweet',
  'fantastic', 'terrific', 'wonderful', 'fresh', 'new', 'recent', 'sure', 'yes', 'yeah', 'okay', 'random',
  'small', 'little', 'clever', 'exciting', 'timely', 'welcome', 'worth', 'looks', 'sounds', 'seems', 'feels',
  'imagine', 'given', 'mind', 'quite', 'pretty', 'seriously', 'congratulation', 'props', 'shoutout', 'hats',
  'growing', 'opening', 'launching', 'scaling', 'moving', 'hiring', 'building', 'expanding', 'partnering', 'teams',
  'companies', 'people', 'folks', 'everyone', 'someone', 'anyone', 'nobody', 'something', 'nothing', 'anything',
  'last', 'next', 'first', 'one', 'two', 'may', 'might', 'must', 'will', 'shall', 'let', 'lets', 'please', 'maybe',
  'perhaps', 'apparently', 'clearly', 'honestly', 'frankly', 'certainly', 'definitely', 'surely', 'truly',
  'question', 'thought', 'figured', 'brave', 'ambitious', 'busy', 'whoa', 'long', 'fellow', 'hundreds', 'thousands',
  'millions', 'dozens', 'plenty', 'lots', 'loads', 'news', 'word', 'talk', 'timing', 'real', 'true', 'funny', 'odd',
  'rare', 'kind', 'hard', 'tough', 'easy', 'fast', 'steady', 'clear', 'obvious', 'respect', 'sizable', 'sizeable',
  'decent', 'healthy', 'striking', 'noteworthy', 'half', 'team', 'growth', 'congratulations', 'belated', 'hearty',
  'meanwhile', 'however', 'besides', 'instead', 'otherwise', 'anyway', 'indeed', 'overall', 'separately', 'elsewhere',
  'together', 'oh', 'ah', 'btw', 'fwiw', 'everything', 'everybody',
]);

/** Lower-case words that may join the capitalized words of one name: "Bank of America", "Van der Berg". */
const CONNECTORS = new Set(['of', 'de', 'del', 'della', 'der', 'den', 'van', 'von', 'da', 'di', 'du', 'la', 'le', 'y', 'al']);

/** Abbreviations after which a "." ends no sentence: titles and initials ("Dr. Maria Chen", "John F. Kennedy"). */
const NAME_ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'jr', 'sr', 'mt', 'ft']);

interface NameRun {
  /** The words that must each be in the sources. */
  readonly tokens: readonly Token[];
  /** The word of the run before each of them, if any: "Series" before "A". */
  readonly previous: readonly (Token | undefined)[];
  /**
   * A lone capitalized word ("Rose", "May", "Will, congrats"): supported only where the sources
   * write it with a capital (or in a lead's field), so that "revenue rose" supports no "Rose".
   */
  readonly strict: boolean;
  readonly start: number;
  readonly end: number;
}

/** A single capital letter after a name word: "Series A", "Plan B", the initial in "John F. Kennedy". */
const isLetter = (token: Token) => /^\p{Lu}$/u.test(token.text);

function isCapitalized(token: Token): boolean {
  return token.type === 'word' && /\p{Lu}/u.test(token.text);
}

/** Whether the token starts a sentence (the text's start, after `.!?…;:`, an opening quote or bracket, a line break). */
/**
 * Whether the token starts a sentence (the text's start, after `.!?…;:` or a line break), or
 * a quotation or bracket within one (`the launch of “Pulse”`, `(Pulse)`), or neither.
 */
function sentenceStart(tokens: readonly Token[], index: number): 'sentence' | 'quote' | undefined {
  if (index === 0) return 'sentence';
  const gap = tokens[index]!.gap;
  if (/[!?…;:\n]/u.test(gap)) return 'sentence';
  const before = fold(tokens[index - 1]!.text);
  // A "." right after an initial or a title ends nothing: "Dr. Maria Chen", "John F. Kennedy".
  if (gap.includes('.') && !(gap.trim() === '.' && (/^\p{L}$/u.test(before) || NAME_ABBREVIATIONS.has(before)))) return 'sentence';
  return /["“([]|(?:^|\s)['‘]/u.test(gap) ? 'quote' : undefined;
}

/**
 * Auxiliaries, modals and common verbs that follow a sentence's subject ("Europe gets..."); not
 * the ones that are also plural nouns ("plans", "wins", "leads": "Expansion plans are...").
 */
const AUXILIARIES = new Set([
  'is', 'was', 'has', 'had', 'must', 'should', 'will', 'would', 'could', 'can', 'may', 'might', 'just', 'now', 'also', 'recently',
  'gets', 'makes', 'says', 'said', 'led', 'ran', 'won', 'took', 'brought', 'bought', 'sold', 'saw', 'keeps', 'takes', 'brings',
  'sees', 'uses', 'owns', 'acquires', 'wants', 'joins', 'opens', 'adds', 'sells', 'looks', 'seems', 'sounds', 'feels', 'appears',
]);

/** A word that reads as the verb after a subject: an auxiliary, or a past tense ending in -ed ("backed", "joined"). */
function isVerbAfterSubject(word: string): boolean {
  const lower = word.toLowerCase();
  return AUXILIARIES.has(lower) || (lower.length > 4 && lower.endsWith('ed'));
}

/** Words that read as a name before a comma, though common otherwise: "Will, congrats", "May, saw...". */
const NAMES_BEFORE_A_COMMA = new Set(['will', 'may', 'hope']);

/** Whether a capitalized word is a name word at all: not generic, not a function word. */
function isNameWord(token: Token): boolean {
  const word = fold(core(token.text));
  if (GENERIC_WORDS.has(word) || (FUNCTION_WORDS.has(word) && word !== 'will')) return false;
  // Hyphenated: a name when one of its capitalized parts is ("Lisbon-based"; not "AI-powered", "Co-Founder").
  const parts = core(token.text).split('-').filter((part) => /\p{Lu}/u.test(part));
  return parts.some((part) => !GENERIC_WORDS.has(fold(part)) && !FUNCTION_WORDS.has(fold(part)));
}

/**
 * A sentence's first word that is a common word rather than a name (see the module comment):
 * `inRun` when capitalized words follow it, where a word ending in -ed counts too ("Impressed").
 */
function commonFirstWord(token: Token, inRun: boolean, writtenLowercase: (word: string) => boolean, beforeComma: boolean): boolean {
  const word = fold(core(token.text));
  // Before a comma a lone word is most likely the name of the person greeted ("Rose, congrats"):
  // that the research writes "revenue rose" does not make it a common word.
  if (beforeComma && NAMES_BEFORE_A_COMMA.has(word)) return false;
  if (FUNCTION_WORDS.has(word) || OPENERS.has(word) || GENERIC_WORDS.has(word)) return true;
  if (word.length > 4 && (/(?:ing|ly)$/u.test(word) || (inRun && word.endsWith('ed')))) return true;
  return !beforeComma && writtenLowercase(word);
}

/** The runs of capitalized words that are names (see the module comment), in order. */
function findNameRuns(tokens: readonly Token[], consumed: ReadonlySet<number>, writtenLowercase: (word: string) => boolean): NameRun[] {
  const runs: NameRun[] = [];
  const usable = (at: number) => at < tokens.length && !consumed.has(at) && isCapitalized(tokens[at]!);
  for (let index = 0; index < tokens.length; index += 1) {
    if (!usable(index)) continue;
    // The run: capitalized words separated by spaces (or " & "), with connectors between them.
    const members = [index];
    let at = index;
    while (!/['’]s?$/u.test(tokens[at]!.text)) {
      const next = tokens[at + 1];
      if (next === undefined) break;
      // Spaces, " & ", or the dot of an initial ("John F. Kennedy").
      const joins = /^\s*&?\s*$/u.test(next.gap) || (/^\.\s+$/u.test(next.gap) && /^\p{Lu}$/u.test(tokens[at]!.text));
      if (usable(at + 1) && joins) {
        members.push(at + 1);
        at += 1;
      } else if (next.type === 'word' && CONNECTORS.has(next.text) && onlySpace(next.gap) && usable(at + 2) && onlySpace(tokens[at + 2]!.gap)) {
        members.push(at + 2);
        at += 2;
      } else break;
    }
    index = at;

    let kept = members;
    const opener = tokens[members[0]!]!;
    const start = sentenceStart(tokens, members[0]!);
    if (start !== undefined) {
      const inRun = members.length > 1;
      const beforeComma = !inRun && (tokens[members[0]! + 1]?.gap ?? '').trimStart().startsWith(',');
      if (commonFirstWord(opener, inRun, writtenLowercase, beforeComma)) kept = members.slice(1);
      // Within a sentence, a quoted or bracketed word that is no common word is a name ("Pulse").
      else if (!inRun && start === 'sentence') {
        // A lone first word is a name when followed by a comma, written as a possessive, or the
        // subject of a verb ("Maria must be thrilled", "Sequoia backed the round").
        const next = tokens[members[0]! + 1];
        const after = next?.gap ?? '';
        const subject = next !== undefined && onlySpace(after) && next.type === 'word' && isVerbAfterSubject(next.text);
        if (!after.trimStart().startsWith(',') && !/['’]s?$/u.test(opener.text) && !subject) kept = [];
      }
    }
    // Reported without a function word at either end ("Office And" is "Office"); a capital letter
    // after a word is a name's ("Series A"), not the article.
    const isFunctionWord = (at: number, position: number) => FUNCTION_WORDS.has(fold(core(tokens[at]!.text))) && !(isLetter(tokens[at]!) && position > 0);
    while (kept.length > 0 && isFunctionWord(kept.at(-1)!, kept.length - 1)) kept = kept.slice(0, -1);
    while (kept.length > 0 && isFunctionWord(kept[0]!, 0)) kept = kept.slice(1);
    const named = kept.flatMap((at, position) => (isNameWord(tokens[at]!) || (position > 0 && isLetter(tokens[at]!)) ? [{ at, position }] : []));
    if (named.length === 0) continue;
    const first = tokens[kept[0]!]!;
    const last = tokens[kept.at(-1)!]!;
    runs.push({
      tokens: named.map(({ at }) => tokens[at]!),
      previous: named.map(({ position }) => (position > 0 ? tokens[kept[position - 1]!] : undefined)),
      strict: kept.length === 1,
      start: first.start,
      end: last.start + core(last.text).length,
    });
  }
  return runs;
}

/**
 * Every capitalized part of a name word occurs in the sources (see the module comment); `strict`:
 * written with a capital there (see NameRun). A capital letter after a word ("Series A") needs the
 * same pair in the sources, since every text has an "a".
 */
function nameSupported(token: Token, known: SourceFacts, strict: boolean, previous: Token | undefined): boolean {
  const word = core(token.text);
  if (isLetter(token) && previous !== undefined) return known.letterNames.has(`${fold(core(previous.text))} ${word}`);
  const dotted = /^(?:\p{Lu}\.)+\p{Lu}?\.?$/u.test(word) ? word.replaceAll('.', '') : undefined;
  const split = dotted !== undefined ? [dotted] : word.split(/[-.]/u);
  return split.every((part, at) => {
    if (!/\p{Lu}/u.test(part)) return true;
    const folded = fold(part);
    if (GENERIC_WORDS.has(folded) || FUNCTION_WORDS.has(folded)) return /^\p{Lu}$/u.test(part) && at > 0 ? known.letterNames.has(`${fold(split[at - 1]!)} ${part}`) : true;
    if (/^\p{Lu}$/u.test(part) && at > 0) return known.letterNames.has(`${fold(split[at - 1]!)} ${part}`);
    // "US" is not "us"; "ZOË" is "Zoë" when the sources write it with a capital.
    if (/^[\p{Lu}\d]{2,3}$/u.test(part) && /\p{L}/u.test(part)) return known.acronyms.has(part) || known.capitalized.has(folded);
    return (strict ? known.capitalized : known.words).has(folded);
  });
}

/** Short words Title Case may leave in lower case ("Notes on the Lisbon Office"). */
const TITLE_CASE_SMALL_WORDS = new Set(['a', 'an', 'the', 'and', 'or', 'but', 'of', 'in', 'on', 'at', 'to', 'for', 'by', 'with', 'from', 'vs']);

/**
 * Title Case: after the first word, at least two words and two in three of them capitalized, the
 * short words it may leave in lower case aside ("Your New Lisbon Office", "Big Move In 2019").
 */
function isTitleCase(tokens: readonly Token[]): boolean {
  const words = tokens.filter((token) => token.type === 'word').slice(1).filter((token) => /\p{Lu}/u.test(token.text[0] ?? '') || !TITLE_CASE_SMALL_WORDS.has(token.text));
  return words.length >= 2 && words.filter((token) => /^\p{Lu}/u.test(token.text)).length * 3 >= words.length * 2;
}

// ── Sources ───────────────────────────────────────────────────────────────────────────────────

interface SourceFacts {
  /** Every word, folded, with the parts of hyphenated, dotted and possessive words ("acme-robotics.example"). */
  readonly words: ReadonlySet<string>;
  /** Acronyms as written, dots dropped ("US", "NYC"), matched case-sensitively. */
  readonly acronyms: ReadonlySet<string>;
  /** Words written in lower case somewhere (folded): common words, not names. */
  readonly lowercase: ReadonlySet<string>;
  /** Words written with a capital somewhere, or in a short source such as a lead's field (folded). */
  readonly capitalized: ReadonlySet<string>;
  /** A word and the capital letter after it ("series A", "john F"): see nameSupported. */
  readonly letterNames: ReadonlySet<string>;
  readonly numbers: readonly NumberValue[];
  /** The relative times they state, by key ("last week"). */
  readonly times: ReadonlySet<string>;
}

/** A source of at most this many words is a lead's field rather than prose (see `capitalized`). */
const SHORT_SOURCE_WORDS = 8;

/** Citation markers ("[1]", "[2, 3]"). */
const CITATION = /\[\d+(?:\s*[,–-]\s*\d+)*\]/gu;
/** Citation markers and list numbers at a line's start: not figures of the sources. */
const NOT_FIGURES = /\[\d+(?:\s*[,–-]\s*\d+)*\]|^[ \t]*\d{1,2}[.)][ \t]/gmu;

/**
 * The facts of `sources`, read once per array: the gates check a line and each custom output
 * against the same array (a memo with no effect but the time saved; a new array is read anew).
 */
const FACTS = new WeakMap<readonly string[], SourceFacts>();

function factsOf(sources: readonly string[]): SourceFacts {
  let facts = FACTS.get(sources);
  if (facts === undefined) {
    facts = sourceFacts(sources);
    FACTS.set(sources, facts);
  }
  return facts;
}

function sourceFacts(sources: readonly string[]): SourceFacts {
  const words = new Set<string>();
  const acronyms = new Set<string>();
  const lowercase = new Set<string>();
  const capitalized = new Set<string>();
  const letterNames = new Set<string>();
  const numbers: NumberValue[] = [];
  const times = new Set<string>();
  for (const source of sources) {
    const tokens = tokenize(source.normalize('NFKC').replace(NOT_FIGURES, ' '));
    // A lead's field ("sam", "will.hart@harbor.example") names whatever its case.
    const short = tokens.filter((token) => token.type === 'word').length <= SHORT_SOURCE_WORDS;
    tokens.forEach((token, index) => {
      if (token.type === 'symbol') return;
      const folded = fold(token.text);
      const lower = token.text === token.text.toLowerCase();
      const add = (word: string) => {
        words.add(word);
        if (short || !lower) capitalized.add(word);
      };
      add(folded);
      // The parts of "O'Brien-Nakamura": "o'brien", "nakamura", and "o", "brien".
      if (/[-.'’]/u.test(folded)) for (const part of [...folded.split(/[-.]/u), ...folded.split(/[-.'’]/u)]) if (part !== '') add(part);
      const previous = tokens[index - 1];
      // As a line's run joins them: by spaces, or the dot of an initial ("J. R. Smith").
      if (isLetter(token) && previous?.type === 'word' && (onlySpace(token.gap) || (/^\.\s+$/u.test(token.gap) && isLetter(previous)))) {
        letterNames.add(`${fold(core(previous.text))} ${token.text}`);
      }
      if (lower) {
        if (token.type === 'word') lowercase.add(folded);
        return;
      }
      const plain = core(token.text).replaceAll('.', '');
      if (/^[\p{Lu}\d]+$/u.test(plain)) acronyms.add(plain);
      const pieces = core(token.text).split(/[-.]/u);
      pieces.forEach((piece, at) => {
        if (/^[\p{Lu}\d]+$/u.test(piece)) acronyms.add(piece);
        // "Series-A": the pair, as for "Series A".
        if (at > 0 && /^\p{Lu}$/u.test(piece)) letterNames.add(`${fold(pieces[at - 1]!)} ${piece}`);
      });
    });
    // "third quarter" supports "Q3".
    for (const match of source.matchAll(/\b(first|second|third|fourth)\s+quarter\b/giu)) words.add(`q${ORDINALS[match[1]!.toLowerCase()]!}`);
    for (const time of findTimes(tokens)) times.add(time.key);
    numbers.push(...findNumbers(tokens, new Set()).map(({ value, unit, approximate }) => ({ value, unit, ...(approximate === true ? { approximate } : {}) })));
  }
  return { words, acronyms, lowercase, capitalized, letterNames, numbers, times };
}
