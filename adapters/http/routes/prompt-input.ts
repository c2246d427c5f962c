/**
 * The prompts and custom outputs a request may carry, as valibot schemas shared by
 * `POST /api/campaigns/process` (form fields) and `/api/templates` (JSON bodies): the same rules
 * and messages wherever a prompt comes in.
 *
 * - A personalization prompt is a template (domain/personalization/template.ts): a variable without
 *   a name, or one naming the lead's email or phone, is refused here; whether each name is a column
 *   of the file is known only with the file (the submission checks it, a 400 naming them).
 * - Custom outputs (domain/personalization/outputs.ts): at most MAX_OUTPUTS, each
 *   `{ name, instruction, max_words }`, names snake_case, unique and not a built-in field.
 */
import * as v from 'valibot';
import {
  MAX_OUTPUT_INSTRUCTION_LENGTH,
  MAX_OUTPUT_WORDS,
  MAX_OUTPUTS,
  outputSpecsProblem,
  type OutputSpec,
} from '../../../domain/personalization/outputs.ts';
import { checkTemplates, templateProblemMessage } from '../../../domain/personalization/template.ts';

export const MAX_PROMPT_LENGTH = 4000;

/** The template problems of `value` that need no file, as a message; null when none. */
function templateProblem(value: string, what: string): string | null {
  return templateProblemMessage(checkTemplates([value]), what);
}

/** A prompt as a form field: at most 4000 characters; empty (or blank) is the same as absent. */
export const promptField = (name: string) =>
  v.optional(
    v.pipe(
      v.string(`${name} must be text`),
      v.trim(),
      v.maxLength(MAX_PROMPT_LENGTH, `${name} must be at most ${MAX_PROMPT_LENGTH} characters`),
      v.transform((value) => (value === '' ? undefined : value)),
    ),
  );

/** `personalization_prompt` as a form field: a prompt whose variables need no file to be refused are refused. */
export const PersonalizationPromptField = v.optional(
  v.pipe(
    v.string('personalization_prompt must be text'),
    v.trim(),
    v.maxLength(MAX_PROMPT_LENGTH, `personalization_prompt must be at most ${MAX_PROMPT_LENGTH} characters`),
    v.check((value) => templateProblem(value, 'personalization_prompt') === null, (issue) => templateProblem(String(issue.input), 'personalization_prompt') ?? ''),
    v.transform((value) => (value === '' ? undefined : value)),
  ),
);

/** A required personalization prompt (a template's). */
export const PersonalizationPrompt = v.pipe(
  v.string('personalization_prompt must be text'),
  v.trim(),
  v.minLength(1, 'personalization_prompt must not be blank'),
  v.maxLength(MAX_PROMPT_LENGTH, `personalization_prompt must be at most ${MAX_PROMPT_LENGTH} characters`),
  v.check((value) => templateProblem(value, 'personalization_prompt') === null, (issue) => templateProblem(String(issue.input), 'personalization_prompt') ?? ''),
);

/** A research prompt in a JSON body: null or blank clears it. */
export const ResearchPrompt = v.nullable(
  v.pipe(
    v.string('research_prompt must be text or null'),
    v.trim(),
    v.maxLength(MAX_PROMPT_LENGTH, `research_prompt must be at most ${MAX_PROMPT_LENGTH} characters`),
    v.transform((value) => (value === '' ? null : value)),
  ),
);

const WORDS_MESSAGE = `max_words must be a whole number from 1 to ${MAX_OUTPUT_WORDS}`;

/** One custom output, as the API writes it. */
export const OutputSpecSchema = v.strictObject(
  {
    name: v.pipe(v.string('each output needs a name (text, snake_case)'), v.trim()),
    instruction: v.pipe(
      v.string('each output needs an instruction (text)'),
      v.trim(),
      v.minLength(1, 'an output\'s instruction must not be blank'),
      v.maxLength(MAX_OUTPUT_INSTRUCTION_LENGTH, `an output's instruction must be at most ${MAX_OUTPUT_INSTRUCTION_LENGTH} characters`),
      v.check((value) => templateProblem(value, 'An output\'s instruction') === null, (issue) => templateProblem(String(issue.input), 'An output\'s instruction') ?? ''),
    ),
    max_words: v.pipe(v.number(WORDS_MESSAGE), v.integer(WORDS_MESSAGE), v.minValue(1, WORDS_MESSAGE), v.maxValue(MAX_OUTPUT_WORDS, WORDS_MESSAGE)),
  },
  'each output is an object with exactly name, instruction and max_words',
);

/** The custom outputs: a list of OutputSpecSchema, checked as a whole (count, names), as the domain's OutputSpec. */
export const OutputsSchema = v.pipe(
  v.array(OutputSpecSchema, 'outputs must be a list of { "name", "instruction", "max_words" }'),
  v.maxLength(MAX_OUTPUTS, `at most ${MAX_OUTPUTS} outputs may be asked for`),
  v.transform((outputs): OutputSpec[] => outputs.map((output) => ({ name: output.name, instruction: output.instruction, maxWords: output.max_words }))),
  v.check((outputs) => outputSpecsProblem(outputs) === null, (issue) => outputSpecsProblem(issue.input) ?? ''),
);

/** `outputs` as a form field: the list as JSON text (`[]` asks for none; the route takes a blank field as absent). */
export const OutputsField = v.optional(
  v.pipe(
    v.string('outputs must be JSON text'),
    v.parseJson(undefined, 'outputs must be JSON: a list such as [{"name": "subject_line", "instruction": "A subject line", "max_words": 8}]'),
    OutputsSchema,
  ),
);

/** A custom output as the API writes it. */
export function outputBody(output: OutputSpec) {
  return { name: output.name, instruction: output.instruction, max_words: output.maxWords };
}
