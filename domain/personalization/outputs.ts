/**
 * Custom outputs: extra columns a campaign asks the writer for, next to the opening line (a
 * subject line, a P.S.). Each has a name (its key in the results and its column in the export),
 * the campaign owner's instruction (a template: it may use the lead's variables, see
 * template.ts) and a word limit. The writer writes them in the same call as the opening line, and
 * the quality gates check each (quality-gates.ts): its word limit, no unfilled placeholder, none of
 * the banned phrases. A draft whose outputs fail is rewritten with the opening line, once.
 */
import { CANONICAL_FIELDS } from '../leads/lead.ts';

export interface OutputSpec {
  /** snake_case, unique in the campaign: the results' key and the export's column. */
  readonly name: string;
  /** What to write, in the campaign owner's words; may use `{{variables}}`. */
  readonly instruction: string;
  /** The most words the output may have (counted like the opening line's). */
  readonly maxWords: number;
}

/** At most this many outputs per campaign: each adds to every writer call's prompt and answer. */
export const MAX_OUTPUTS = 5;
export const MAX_OUTPUT_INSTRUCTION_LENGTH = 1000;
export const MAX_OUTPUT_WORDS = 150;
/** snake_case: a lower-case letter, then lower-case letters, digits or `_`, 40 characters at most. */
export const OUTPUT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;

/**
 * Names an output may not take: the fields and columns the results and the export have already
 * (and the canonical lead fields), so that an output never hides or shadows one of them.
 */
export const RESERVED_OUTPUT_NAMES: ReadonlySet<string> = new Set([
  'id',
  'lead_id',
  'run_id',
  'campaign_id',
  'row',
  'status',
  'message',
  'personalized_message',
  'message_basis',
  'basis',
  'fact',
  'enrichment_status',
  'error',
  'unsupported_specifics',
  'cost_usd',
  'attempts',
  'model',
  'research',
  'research_summary',
  'citations',
  'sources',
  'source_urls',
  'canonical',
  'fields',
  'outputs',
  'sandbox',
  'updated_at',
  'settled_at',
  'created_at',
  ...CANONICAL_FIELDS,
]);

/** Why a list of outputs cannot be accepted, in words a person can act on; null when it can. */
export function outputSpecsProblem(specs: readonly OutputSpec[]): string | null {
  if (specs.length > MAX_OUTPUTS) return `at most ${MAX_OUTPUTS} outputs may be asked for; ${specs.length} were`;
  const seen = new Set<string>();
  for (const spec of specs) {
    if (!OUTPUT_NAME_PATTERN.test(spec.name)) {
      return `output name "${spec.name}" must be snake_case: a lower-case letter, then lower-case letters, digits or _ (at most 40 characters)`;
    }
    if (RESERVED_OUTPUT_NAMES.has(spec.name)) return `output name "${spec.name}" is taken by a built-in field or column; choose another`;
    if (seen.has(spec.name)) return `output name "${spec.name}" is used twice; each output needs its own name`;
    seen.add(spec.name);
  }
  return null;
}
