/** Custom outputs as requests send them: the `outputs` form field's and JSON body's validation. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { OutputsField, OutputsSchema, PersonalizationPromptField } from '../../../adapters/http/routes/prompt-input.ts';
import { outputSpecsProblem } from '../../../domain/personalization/outputs.ts';

function issues(schema: v.GenericSchema, input: unknown): string[] {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  return result.success ? [] : result.issues.map((issue) => issue.message);
}

const SUBJECT = { name: 'subject_line', instruction: 'A subject line about {{Company Name}}', max_words: 8 };

describe('outputs', () => {
  it('parses the JSON list into the domain\'s specs', () => {
    expect(v.parse(OutputsField, JSON.stringify([SUBJECT, { name: 'ps', instruction: ' A P.S. ', max_words: 20 }]))).toEqual([
      { name: 'subject_line', instruction: 'A subject line about {{Company Name}}', maxWords: 8 },
      { name: 'ps', instruction: 'A P.S.', maxWords: 20 },
    ]);
    expect(v.parse(OutputsField, '[]')).toEqual([]);
  });

  it.each([
    ['not JSON', '[{name: subject}]', 'outputs must be JSON'],
    ['not a list', '{"name": "x"}', 'outputs must be a list'],
    ['a name that is not snake_case', JSON.stringify([{ ...SUBJECT, name: 'Subject Line' }]), 'output name "Subject Line" must be snake_case'],
    ['a built-in name', JSON.stringify([{ ...SUBJECT, name: 'personalized_message' }]), 'output name "personalized_message" is taken by a built-in field'],
    ['a canonical field\'s name', JSON.stringify([{ ...SUBJECT, name: 'first_name' }]), 'is taken by a built-in field'],
    ['a name twice', JSON.stringify([SUBJECT, SUBJECT]), 'output name "subject_line" is used twice'],
    ['six outputs', JSON.stringify(Array.from({ length: 6 }, (_, index) => ({ ...SUBJECT, name: `o${index}` }))), 'at most 5 outputs'],
    ['no word limit', JSON.stringify([{ name: 'ps', instruction: 'A P.S.' }]), 'each output is an object with exactly name, instruction and max_words'],
    ['a limit of 0', JSON.stringify([{ ...SUBJECT, max_words: 0 }]), 'max_words must be a whole number from 1 to 150'],
    ['a fractional limit', JSON.stringify([{ ...SUBJECT, max_words: 2.5 }]), 'max_words must be a whole number'],
    ['a blank instruction', JSON.stringify([{ ...SUBJECT, instruction: '  ' }]), "an output's instruction must not be blank"],
    ['an unknown key', JSON.stringify([{ ...SUBJECT, words: 3 }]), 'exactly name, instruction and max_words'],
    ['an instruction using the email', JSON.stringify([{ ...SUBJECT, instruction: 'Mention {{email}}' }]), 'never sent to the writer'],
  ])('refuses %s', (_case, input, message) => {
    expect(issues(OutputsField, input).join('; ')).toContain(message);
  });

  it('the rules hold for the domain\'s specs too', () => {
    expect(outputSpecsProblem([{ name: 'ok_name', instruction: 'x', maxWords: 3 }])).toBeNull();
    expect(outputSpecsProblem([{ name: '9lives', instruction: 'x', maxWords: 3 }])).toContain('snake_case');
  });

  it('a JSON body\'s outputs use the same schema', () => {
    expect(issues(OutputsSchema, [{ ...SUBJECT, name: 'error' }]).join()).toContain('taken by a built-in field');
  });
});

describe('personalization_prompt', () => {
  it('takes a template and a blank value as absent', () => {
    expect(v.parse(PersonalizationPromptField, ' Open with {{first_name | "there"}}. ')).toBe('Open with {{first_name | "there"}}.');
    expect(v.parse(PersonalizationPromptField, '   ')).toBeUndefined();
  });

  it('refuses a nameless variable and the lead\'s email or phone', () => {
    expect(issues(PersonalizationPromptField, 'Hi {{ }}').join()).toContain('a variable without a name');
    expect(issues(PersonalizationPromptField, 'Call {{phone}} or write to {{Work Email}}').join()).toContain(
      'personalization_prompt uses {{phone}}, {{Work Email}}: the lead\'s email address and phone number are never sent to the writer',
    );
  });
});
