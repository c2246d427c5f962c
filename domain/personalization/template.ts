/**
 * Prompt templates: a personalization prompt (and a custom output's instruction) may use the
 * lead's own values as variables, filled in for each lead before the writer gets the prompt.
 *
 * Syntax
 * - `{{Column Name}}`: the lead's cell in that column, the header written as in the uploaded file.
 * - `{{first_name}}`: a canonical lead field (domain/leads/lead.ts CANONICAL_FIELDS), whatever the
 *   file called its column ("First Name", "Prénom", "firstName", ...).
 * - `{{first_name | "there"}}`: with a fallback, used when the value is missing or blank. The
 *   fallback may be in double or single quotes, or bare (trimmed); it cannot hold braces.
 * - Whitespace inside the braces is ignored: `{{  First Name  }}` is `{{First Name}}`.
 * - A `{{` without its `}}` is kept as text. A variable name cannot hold `|`, `{` or `}`.
 *
 * How a name is found (the same order when a submission is checked and when a lead's prompt is
 * rendered, so that a name that passed the check always means the same value):
 *   1. a column whose header, trimmed, is the name exactly (the first such column);
 *   2. a canonical field named exactly so (`first_name`);
 *   3. a column whose header matches ignoring case and runs of whitespace (`{{company name}}`
 *      for "Company Name");
 *   4. a canonical field ignoring case (`{{First_Name}}`).
 * A name found none of these ways is unknown: a submission using it is refused, naming it.
 *
 * A value that is missing or blank (a lead whose file has no such column, an empty cell) is the
 * fallback, or the empty string when the variable has none: the prompt still reads, and the writer
 * is not told a made-up value. Values are trimmed.
 *
 * Private fields: the lead's email address and phone number never reach a provider (see
 * adapters/providers/prompts.ts); a variable that resolves to either (the canonical `email` or
 * `phone`, or any column that the header table reads as an email or phone column, such as
 * "Work Email" or "Mobile") is refused.
 */
import { matchHeader } from '../leads/headers.ts';
import { CANONICAL_FIELDS, type CanonicalField, type CanonicalValues, type OriginalField } from '../leads/lead.ts';

/** One `{{name | fallback}}` of a template. */
export interface TemplateVariable {
  /** The name, trimmed. */
  readonly name: string;
  /** The fallback without its quotes; absent when the variable has none. */
  readonly fallback?: string;
}

type Segment = string | TemplateVariable;

/** Canonical fields a template may not use: they never reach a provider. */
export const PRIVATE_FIELDS: readonly CanonicalField[] = ['email', 'phone'];

/** `{{ ... }}` with no brace inside. */
const VARIABLE = /\{\{([^{}]*)\}\}/g;

/** The text and variables of a template, in order. */
export function parseTemplate(template: string): Segment[] {
  const segments: Segment[] = [];
  let last = 0;
  for (const match of template.matchAll(VARIABLE)) {
    if (match.index > last) segments.push(template.slice(last, match.index));
    segments.push(parseVariable(match[1] ?? ''));
    last = match.index + match[0].length;
  }
  if (last < template.length) segments.push(template.slice(last));
  return segments;
}

function parseVariable(inside: string): TemplateVariable {
  const bar = inside.indexOf('|');
  const name = (bar === -1 ? inside : inside.slice(0, bar)).trim();
  if (bar === -1) return { name };
  const raw = inside.slice(bar + 1).trim();
  const quoted = /^"([^"]*)"$|^'([^']*)'$/.exec(raw);
  return { name, fallback: quoted === null ? raw : (quoted[1] ?? quoted[2] ?? '') };
}

/** The variables of the templates, each name once, in order of first use. */
export function templateVariables(...templates: readonly string[]): TemplateVariable[] {
  const seen = new Map<string, TemplateVariable>();
  for (const template of templates) {
    for (const segment of parseTemplate(template)) {
      if (typeof segment !== 'string' && !seen.has(segment.name)) seen.set(segment.name, segment);
    }
  }
  return [...seen.values()];
}

/** Where a variable's value comes from: a column of the lead's file (its index) or a canonical field. */
export type VariableSource = { readonly column: number } | { readonly field: CanonicalField };

const CANONICAL_SET: ReadonlySet<string> = new Set(CANONICAL_FIELDS);

function loose(text: string): string {
  return text.trim().replace(/\s+/gu, ' ').toLowerCase();
}

/** Where `name` is found among `headers` (a file's columns, in order) and the canonical fields; null when unknown. */
export function resolveVariable(name: string, headers: readonly string[]): VariableSource | null {
  const exact = headers.findIndex((header) => header.trim() === name);
  if (exact !== -1) return { column: exact };
  if (CANONICAL_SET.has(name)) return { field: name as CanonicalField };
  const key = loose(name);
  const column = headers.findIndex((header) => loose(header) === key);
  if (column !== -1) return { column };
  const field = CANONICAL_FIELDS.find((candidate) => candidate === key);
  return field === undefined ? null : { field };
}

/** Whether the source is the lead's email or phone (see the module comment). */
function isPrivate(source: VariableSource, headers: readonly string[]): boolean {
  const field = 'field' in source ? source.field : matchHeader(headers[source.column] ?? '')?.field;
  return field !== undefined && PRIVATE_FIELDS.includes(field);
}

/** What a check of templates found wrong; every list empty when they are fine. */
export interface TemplateProblems {
  /** Names that are neither a column of the file nor a canonical field (only when the file's columns are known). */
  readonly unknown: readonly string[];
  /** Names of the lead's email or phone, which never reach a provider. */
  readonly private: readonly string[];
  /** `{{}}` or `{{ | "x"}}`: a variable without a name. */
  readonly empty: boolean;
}

/**
 * Checks templates' variables. With `headers` (the file's columns), every name must resolve; without
 * (a saved template, checked before any file is known), only what needs no file is checked.
 */
export function checkTemplates(templates: readonly string[], headers?: readonly string[]): TemplateProblems {
  const unknown: string[] = [];
  const privateNames: string[] = [];
  let empty = false;
  for (const variable of templateVariables(...templates)) {
    if (variable.name === '') {
      empty = true;
      continue;
    }
    const source = resolveVariable(variable.name, headers ?? []);
    if (source === null) {
      if (headers !== undefined) unknown.push(variable.name);
      // Without the file, a name might be a column of it, or a column named like a private field.
      else if (matchHeaderIsPrivate(variable.name)) privateNames.push(variable.name);
      continue;
    }
    if (isPrivate(source, headers ?? [])) privateNames.push(variable.name);
  }
  return { unknown, private: privateNames, empty };
}

function matchHeaderIsPrivate(name: string): boolean {
  const field = matchHeader(name)?.field;
  return field !== undefined && PRIVATE_FIELDS.includes(field);
}

/** How many of the file's columns a message lists before it says "and N more". */
const LISTED_COLUMNS = 12;

/**
 * The problems of templates in sentences a person can act on (`what` names the templates, e.g.
 * "The personalization prompt"); null when there are none. With `headers`, an unknown name's
 * message lists what the file offers.
 */
export function templateProblemMessage(problems: TemplateProblems, what: string, headers?: readonly string[]): string | null {
  const parts: string[] = [];
  if (problems.empty) parts.push(`${what} has a variable without a name ({{}}): write a column's header or a lead field between the braces, e.g. {{first_name}}.`);
  if (problems.unknown.length > 0) {
    const columns = (headers ?? []).slice(0, LISTED_COLUMNS).join(', ');
    const more = (headers?.length ?? 0) > LISTED_COLUMNS ? ` and ${(headers?.length ?? 0) - LISTED_COLUMNS} more` : '';
    const one = problems.unknown.length === 1;
    parts.push(
      `${what} uses ${listVariables(problems.unknown)}, which ${one ? 'is' : 'are'} neither a column of the file nor a lead field. ` +
        `The file's columns: ${columns}${more}; the lead fields: ${CANONICAL_FIELDS.join(', ')}. ` +
        'Write a column\'s header as the file has it, or a lead field, between the braces; a fallback covers a missing value: {{first_name | "there"}}.',
    );
  }
  if (problems.private.length > 0) {
    parts.push(
      `${what} uses ${listVariables(problems.private)}: the lead's email address and phone number are never sent to the writer; remove ${problems.private.length === 1 ? 'it' : 'them'}.`,
    );
  }
  return parts.length === 0 ? null : parts.join(' ');
}

/** `{{A}}, {{B}}` */
export function listVariables(names: readonly string[]): string {
  return names.map((name) => `{{${name}}}`).join(', ');
}

/** The lead a template is rendered for: its original columns in file order and its canonical fields. */
export interface TemplateLead {
  readonly fields: readonly OriginalField[];
  readonly canonical: CanonicalValues;
}

export interface RenderOptions {
  /**
   * How a value taken from the lead is written into the text (not a fallback, which is the
   * template owner's own text); default as it is.
   */
  readonly value?: (value: string) => string;
}

/**
 * The template with every variable replaced by the lead's value, trimmed; a missing or blank value
 * by the variable's fallback, or by nothing. A name that resolves to nothing (or to a private field)
 * renders as a missing value: submissions refuse such names, so only a template that was not
 * checked against this lead's file meets one.
 */
export function renderTemplate(template: string, lead: TemplateLead, options: RenderOptions = {}): string {
  const headers = lead.fields.map((field) => field.header);
  const write = options.value ?? ((value: string) => value);
  return parseTemplate(template)
    .map((segment) => {
      if (typeof segment === 'string') return segment;
      const value = variableValue(segment.name, lead, headers);
      return value === '' ? (segment.fallback ?? '') : write(value);
    })
    .join('');
}

/** The lead's trimmed value for a variable name ('' when missing, unknown or private). */
export function variableValue(name: string, lead: TemplateLead, headers: readonly string[] = lead.fields.map((field) => field.header)): string {
  const source = resolveVariable(name, headers);
  if (source === null || isPrivate(source, headers)) return '';
  const value = 'field' in source ? lead.canonical[source.field] : lead.fields[source.column]?.value;
  return value?.trim() ?? '';
}

/** The values the templates' variables take for this lead, by name (blank ones left out): facts the line may rely on. */
export function variableValues(templates: readonly string[], lead: TemplateLead): Record<string, string> {
  const values: Record<string, string> = {};
  for (const variable of templateVariables(...templates)) {
    if (variable.name === '') continue;
    const value = variableValue(variable.name, lead);
    if (value !== '') values[variable.name] = value;
  }
  return values;
}

/** Around a lead's value in a rendered prompt: the writer is told that text between them is data. */
export const LEAD_VALUE_OPEN = '«';
export const LEAD_VALUE_CLOSE = '»';
/** A value longer than this is cut in a rendered prompt: a cell may hold 32 KiB. */
export const MAX_RENDERED_VALUE_CHARS = 300;

/**
 * A lead's value as a rendered prompt holds it: between « and », on one line, without « or » of
 * its own (so it cannot end its quote early), at most MAX_RENDERED_VALUE_CHARS characters. The lead's
 * values come from the uploaded file, written by third parties: quoted this way, the writer can
 * tell them from the campaign owner's instructions (see adapters/providers/prompts.ts).
 */
export function quoteLeadValue(value: string): string {
  const plain = value.replace(/[«»]/gu, '"').replace(/\s+/gu, ' ').trim();
  const cut = plain.length > MAX_RENDERED_VALUE_CHARS ? `${plain.slice(0, MAX_RENDERED_VALUE_CHARS)}…` : plain;
  return `${LEAD_VALUE_OPEN}${cut}${LEAD_VALUE_CLOSE}`;
}
