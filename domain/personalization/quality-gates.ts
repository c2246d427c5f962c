/**
 * The quality gates an opening line must pass before it is shipped, checked in code rather than
 * trusted to the model. Each failed rule yields one problem in plain words ("27 words (at most
 * 25)"), written for two readers: the model, which gets them back once to write the line again,
 * and the campaign owner, who sees them on a lead left for review.
 *
 * The rules:
 * - Not empty.
 * - At most 25 words. A word is a whitespace-separated token holding at least one letter or digit:
 *   "e-mail" and "3.5" are one word each, numbers count, a lone dash or emoji does not.
 * - Exactly one sentence. A heuristic: a sentence ends at a run of `.`, `!`, `?` or `…` (closing
 *   quotes or brackets after it included) that is followed by whitespace and more text; a line
 *   break also starts a new sentence. A single `.` does not end a sentence after an abbreviation:
 *   a known one ("Inc.", "Ltd.", "Dr.", "vs.", "Jan.", ... see ABBREVIATIONS), dotted letters ("e.g.",
 *   "U.S.") or a single letter (the initial in "John F. Kennedy"). A mark followed directly by a
 *   letter or digit ("3.5", "acme.com") ends nothing. Missing final punctuation is allowed. The
 *   price of the heuristic: "We met Acme Inc. Great team." reads as one sentence.
 * - No unfilled placeholder: `{{...}}` or `{...}`, square brackets around words (`[Name]`,
 *   `[First Name]`, `[company]`), angle brackets around words (`<company>`), `%FIRST_NAME%`,
 *   `__x__`.
 * - None of the banned phrases: case-insensitive, whole words only ("synergy" does not match in
 *   "Synergytics"), curly apostrophes read as straight ones, and a hyphen matching a space.
 * - Not a question (ending with `?`) unless the campaign allows questions.
 * - Grounded: the `basis` (the fact the model says the line relies on) must appear in the research
 *   or in the lead's own fields. Both sides are normalized (lower case, every run of punctuation
 *   and whitespace made one space); the basis is grounded when it occurs whole, on word
 *   boundaries, in the research or in one field, or when at least 80% of its content words occur
 *   somewhere in them (a paraphrase that changed a word or two). A content word is a normalized
 *   word that is not a stopword and has at least 3 characters or any digit ("40", "2026").
 * - The line uses its basis: it shares at least one content word of 4 or more characters (or a
 *   number) with the basis (any content word when the basis has no such word, as in "CEO"). Words
 *   of the lead's company name (the `company` field) do not count unless the basis has no other:
 *   naming the company is not using the fact.
 * - Says only what the sources say: every specific of the line (a number in any form, money, a
 *   date or a relative time such as "last week", a proper name) is found in the research, the
 *   lead's fields or the campaign's prompts; one problem per unsupported specific, naming it
 *   (`unsupported specific: "$50M" (not in the research or the lead's fields)`). What counts as
 *   a specific and how it is matched: specifics.ts.
 *
 * Custom outputs (outputs.ts), each checked on its own and its problems named after it
 * ("subject_line: 11 words (at most 8)"): present and not empty, within its own word limit, no
 * unfilled placeholder, none of the banned phrases, no unsupported specific (names are not
 * checked in an output written in Title Case, as subject lines often are: there capitals say
 * nothing). Not the one-sentence, question or grounding rules: a subject line need not be a
 * sentence, and a P.S. may be two; the opening line carries the fact the message relies on.
 */
import type { OutputSpec } from './outputs.ts';
import { unsupportedSpecificProblem, unsupportedSpecifics } from './specifics.ts';

export const MAX_WORDS = 25;

/** Share of a basis's content words that must occur in the research or the lead's fields. */
const GROUNDED_WORD_SHARE = 0.8;

export interface DraftText {
  /** The opening line. */
  readonly message: string;
  /** The fact (from the research or the lead's fields) the line relies on. */
  readonly basis: string;
  /** The custom outputs written with the line, by name. */
  readonly outputs?: Readonly<Record<string, string>>;
}

export interface GateContext {
  /** The research text the line was written from. */
  readonly research: string;
  /** The lead's own fields by name (`company`, `first_name`, ...): facts the line may rely on too. */
  readonly leadFields: Readonly<Record<string, string>>;
  /** Whether the campaign accepts a line that is a question. */
  readonly allowQuestions: boolean;
  readonly bannedPhrases: readonly string[];
  /** The custom outputs the campaign asked for (none by default): each is checked too. */
  readonly outputs?: readonly OutputSpec[];
  /**
   * The campaign's own prompts (research and personalization prompts, the outputs' instructions):
   * a line may use the specifics they give, such as the sender's product.
   */
  readonly prompts?: readonly string[];
}

export type GateVerdict = { readonly ok: true } | { readonly ok: false; readonly problems: readonly string[] };

/** Checks a draft against every rule; the problems come in the order of the rules above. */
export function checkDraft(draft: DraftText, context: GateContext): GateVerdict {
  const message = draft.message.trim();
  if (message === '') return { ok: false, problems: ['the line is empty'] };

  const problems: string[] = [];
  const words = countWords(message);
  if (words > MAX_WORDS) problems.push(`${words} words (at most ${MAX_WORDS})`);
  const sentences = countSentences(message);
  if (sentences > 1) problems.push(`${sentences} sentences (write exactly one)`);
  for (const placeholder of findPlaceholders(message)) problems.push(`unfilled placeholder "${placeholder}"`);
  for (const phrase of findBannedPhrases(message, context.bannedPhrases)) problems.push(`banned phrase "${phrase}"`);
  if (!context.allowQuestions && isQuestion(message)) problems.push('it is a question (write a statement)');
  problems.push(...groundingProblems(draft, context));
  const sources = specificsSources(context);
  for (const specific of unsupportedSpecifics(withoutPlaceholders(message), sources)) problems.push(unsupportedSpecificProblem(specific));
  for (const spec of context.outputs ?? []) problems.push(...outputProblems(spec, draft.outputs?.[spec.name], context.bannedPhrases, sources));
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}

/**
 * What is wrong with one custom output, each problem prefixed with its name (see the module
 * comment); its specifics are checked against `sources` when given.
 */
export function outputProblems(spec: OutputSpec, text: string | undefined, bannedPhrases: readonly string[], sources?: readonly string[]): string[] {
  const value = text?.trim() ?? '';
  if (value === '') return [`${spec.name}: missing (write it)`];
  const problems: string[] = [];
  const words = countWords(value);
  if (words > spec.maxWords) problems.push(`${words} words (at most ${spec.maxWords})`);
  for (const placeholder of findPlaceholders(value)) problems.push(`unfilled placeholder "${placeholder}"`);
  for (const phrase of findBannedPhrases(value, bannedPhrases)) problems.push(`banned phrase "${phrase}"`);
  if (sources !== undefined) {
    for (const specific of unsupportedSpecifics(withoutPlaceholders(value), sources, { skipNamesInTitleCase: true })) problems.push(unsupportedSpecificProblem(specific));
  }
  return problems.map((problem) => `${spec.name}: ${problem}`);
}

/** Where a line's specifics may come from: the research, the lead's fields, the campaign's prompts. */
function specificsSources(context: GateContext): string[] {
  return [context.research, ...Object.values(context.leadFields), ...(context.prompts ?? [])];
}

/** How a lead left for review explains itself: "needs review: 27 words (at most 25); ...". */
export function needsReviewReason(problems: readonly string[]): string {
  return `needs review: ${problems.join('; ')}`;
}

// ── Words and sentences ───────────────────────────────────────────────────────────────────────

const HAS_LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

export function countWords(text: string): number {
  return text.split(/\s+/u).filter((token) => HAS_LETTER_OR_DIGIT.test(token)).length;
}

/** Lower-case abbreviations that end with a dot inside a sentence. */
const ABBREVIATIONS = new Set([
  'inc', 'ltd', 'co', 'corp', 'llc', 'plc', 'bros', 'dept', 'est', 'no', 'nos', 'vs', 'etc', 'approx', 'al', 'ca',
  'mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'jr', 'sr', 'mt', 'ft', 'ave', 'blvd', 'rd',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
]);

/** A run of terminal marks with any closing quotes or brackets after it. */
const TERMINAL_RUN = /[.!?…]+["'”’)\]]*/gu;

/** Sentences in the text by the heuristic of the module comment (0 for blank text). */
export function countSentences(text: string): number {
  return text
    .split(/\r\n|\r|\n/u)
    .filter((line) => line.trim() !== '')
    .reduce((total, line) => total + 1 + sentenceBreaks(line.trim()), 0);
}

function sentenceBreaks(line: string): number {
  let breaks = 0;
  for (const match of line.matchAll(TERMINAL_RUN)) {
    const end = match.index + match[0].length;
    if (end >= line.length || !/\s/u.test(line[end] ?? '')) continue;
    if (match[0].startsWith('.') && !match[0].startsWith('..') && isAbbreviation(line.slice(0, match.index))) continue;
    breaks += 1;
  }
  return breaks;
}

/** Whether the word just before a single dot is an abbreviation (`before` is the text up to the dot). */
function isAbbreviation(before: string): boolean {
  const word = (/\S*$/u.exec(before)?.[0] ?? '').replace(/^[("'“‘[]+/u, '');
  return /^\p{L}$/u.test(word) || /^(?:\p{L}\.)+\p{L}$/u.test(word) || ABBREVIATIONS.has(word.toLowerCase());
}

function isQuestion(text: string): boolean {
  return /\?["'”’)\]]*$/u.test(text);
}

// ── Placeholders and banned phrases ───────────────────────────────────────────────────────────

const PLACEHOLDERS: readonly RegExp[] = [
  /\{\{[^{}\n]*\}\}/gu,
  /(?<!\{)\{[^{}\n]*\}(?!\})/gu,
  /\[\s*[\p{L}_][\p{L}\p{N}_ .'-]*\]/gu,
  /<\s*\/?[\p{L}_][^<>\n]*>/gu,
  /%[\p{L}_][\p{L}\p{N}_]*%/gu,
  /__[\p{L}\p{N}_]+?__/gu,
];

/** The distinct placeholders in the text, in order of their patterns. */
function findPlaceholders(text: string): string[] {
  const found = PLACEHOLDERS.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[0]));
  return [...new Set(found)];
}

/** The text with its placeholders blanked out: a placeholder's words ("[First Name]") are no specifics. */
function withoutPlaceholders(text: string): string {
  return PLACEHOLDERS.reduce((blanked, pattern) => blanked.replace(pattern, (placeholder) => ' '.repeat(placeholder.length)), text);
}

/** The banned phrases (as listed) that the text contains. */
function findBannedPhrases(text: string, phrases: readonly string[]): string[] {
  const plain = straightApostrophes(text);
  return phrases.filter((phrase) => {
    const words = straightApostrophes(phrase).trim().split(/[\s-]+/u).filter((word) => word !== '');
    if (words.length === 0) return false;
    const pattern = words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')).join('[\\s-]+');
    return new RegExp(`(?<![\\p{L}\\p{N}])${pattern}(?![\\p{L}\\p{N}])`, 'iu').test(plain);
  });
}

function straightApostrophes(text: string): string {
  return text.replace(/[’‘]/gu, "'");
}

// ── Grounding ─────────────────────────────────────────────────────────────────────────────────

const STOPWORDS = new Set([
  'a', 'about', 'above', 'after', 'again', 'against', 'all', 'also', 'am', 'an', 'and', 'any', 'are', 'as', 'at',
  'be', 'because', 'been', 'before', 'being', 'below', 'between', 'both', 'but', 'by', 'can', 'could', 'did', 'do',
  'does', 'doing', 'down', 'during', 'each', 'few', 'for', 'from', 'further', 'had', 'has', 'have', 'having', 'he',
  'her', 'here', 'hers', 'him', 'his', 'how', 'i', 'if', 'in', 'into', 'is', 'it', 'its', 'just', 'me', 'more',
  'most', 'my', 'no', 'nor', 'not', 'now', 'of', 'off', 'on', 'once', 'only', 'or', 'other', 'our', 'ours', 'out',
  'over', 'own', 'same', 'she', 'should', 'so', 'some', 'such', 'than', 'that', 'the', 'their', 'theirs', 'them',
  'then', 'there', 'these', 'they', 'this', 'those', 'through', 'to', 'too', 'under', 'until', 'up', 'very', 'was',
  'we', 'were', 'what', 'when', 'where', 'which', 'while', 'who', 'whom', 'why', 'will', 'with', 'would', 'you',
  'your', 'yours',
]);

function normalize(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** Content words of normalized text that have at least `minLength` characters or a digit. */
function contentWords(normalized: string, minLength: number): Set<string> {
  const words = normalized.split(' ').filter((word) => !STOPWORDS.has(word) && (word.length >= minLength || /\p{N}/u.test(word)));
  return new Set(words);
}

function groundingProblems(draft: DraftText, context: GateContext): string[] {
  const basis = normalize(draft.basis);
  if (basis === '') return ['no fact given for the line to rely on'];

  const problems: string[] = [];
  const sources = [context.research, ...Object.values(context.leadFields)].map(normalize).filter((source) => source !== '');
  const inSources = sources.some((source) => ` ${source} `.includes(` ${basis} `));
  if (!inSources) {
    const known = new Set(sources.flatMap((source) => source.split(' ')));
    const words = [...contentWords(basis, 3)];
    const found = words.filter((word) => known.has(word)).length;
    if (words.length === 0 || found / words.length < GROUNDED_WORD_SHARE) {
      problems.push("the fact it relies on is not in the research or the lead's fields");
    }
  }

  // A basis with no long content word ("CEO") is used by any of its content words.
  const long = contentWords(basis, 4);
  const basisWords = [...(long.size > 0 ? long : contentWords(basis, 1))];
  const company = contentWords(normalize(context.leadFields.company ?? ''), 1);
  const factWords = basisWords.filter((word) => !company.has(word));
  const message = new Set(normalize(draft.message).split(' '));
  if (!(factWords.length > 0 ? factWords : basisWords).some((word) => message.has(word))) {
    problems.push('the line does not use the fact it relies on');
  }
  return problems;
}
