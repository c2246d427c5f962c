/**
 * Specifics one rule at a time: how each form is read and matched (the evaluation set,
 * specifics-eval.test.ts, holds the whole lines), the prompts as a source, the outputs, and the
 * reading back of a stored reason.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BANNED_PHRASES } from '../../../domain/personalization/banned-phrases.ts';
import { checkDraft, needsReviewReason } from '../../../domain/personalization/quality-gates.ts';
import { unsupportedSpecificProblem, unsupportedSpecifics, unsupportedSpecificsIn } from '../../../domain/personalization/specifics.ts';

const SOURCES = [
  [
    '- Acme Robotics raised $50 million led by Sequoia in March 2026. [1]',
    '- Revenue grew 40% and the team tripled to about 120 people. [2]',
    '- Acme opened an office in São Paulo last week and hired Dana Ortiz as head of partnerships. [3]',
    '- It is 3rd on the Fast 50 list for the third quarter. [4]',
  ].join('\n'),
  'Acme Robotics',
  'Sam',
];

const unsupported = (line: string, sources = SOURCES) => unsupportedSpecifics(line, sources).map((specific) => specific.text);

describe('unsupportedSpecifics', () => {
  it('reads money in any form by its value and currency', () => {
    for (const money of ['$50M', '$50 million', '50 million dollars', 'fifty million dollars', 'USD 50m', '$50,000,000']) {
      expect(unsupported(`Sam, congrats on the ${money} round.`), money).toEqual([]);
    }
    expect(unsupported('Sam, congrats on the €50M round.')).toEqual(['€50M']);
    expect(unsupported('Sam, congrats on the $5M round.')).toEqual(['$5M']);
    // A plain number is read by its value: "50 million" is the round's amount.
    expect(unsupported('Sam, congrats on the 50 million round.')).toEqual([]);
  });

  it('keeps percentages, multiples and plain numbers apart', () => {
    expect(unsupported('Sam, 40 percent growth and a team three times bigger is a lot.')).toEqual([]);
    expect(unsupported('Sam, a 3x bigger team is a lot.')).toEqual([]);
    expect(unsupported('Sam, 120% growth is a lot.')).toEqual(['120%']);
    expect(unsupported('Sam, 40x growth is a lot.')).toEqual(['40x']);
    expect(unsupported('Sam, about 140 people is a big team.')).toEqual(['140']);
  });

  it('reads years strictly, ordinals and quarters by value', () => {
    expect(unsupported('Sam, third on the Fast 50 for Q3 in 2026 is a fine spot.')).toEqual([]);
    expect(unsupported('Sam, 3rd place in 2025 is a fine spot.')).toEqual(['2025']);
    expect(unsupported('Sam, Q2 was a big one.')).toEqual(['Q2']);
  });

  it('never takes a citation marker for a figure of the research', () => {
    expect(unsupported('Sam, 4 new hires is a lot.')).toEqual(['4']);
    expect(unsupported('Sam, saw the news [4].')).toEqual([]);
  });

  it('matches names word by word, ignoring case, accents and possessives', () => {
    expect(unsupported("Sam, Sao Paulo is a smart pick, and Ortiz's hire too.")).toEqual([]);
    expect(unsupported('Sam, the São Paulo office and Dana Chen are news to me.')).toEqual(['Dana Chen']);
    expect(unsupported('Sam, the Head of Partnerships role suits Dana.')).toEqual([]);
  });

  it('reads a relative time as its moment, supported only by the same moment', () => {
    expect(unsupported('Sam, opening in São Paulo a week ago is big.')).toEqual([]);
    expect(unsupported('Sam, opening in São Paulo yesterday is big.')).toEqual(['yesterday']);
    expect(unsupported('Sam, opening in São Paulo earlier this month is big.')).toEqual(['earlier this month']);
    // "recently" pins nothing.
    expect(unsupported('Sam, opening in São Paulo recently is big.')).toEqual([]);
  });

  it('names each unsupported specific once, in order', () => {
    expect(unsupported('Sam, Maria Chen and Maria Chen raised $7M from Accel on Monday.')).toEqual(['Maria Chen', '$7M', 'Accel', 'Monday']);
  });

  it('skips names in Title Case text when asked, but never numbers', () => {
    const subject = 'Your New Lisbon Office And $9M Raise';
    expect(unsupported(subject)).toEqual(['New Lisbon Office', '$9M', 'Raise']);
    expect(unsupportedSpecifics(subject, SOURCES, { skipNamesInTitleCase: true }).map((specific) => specific.text)).toEqual(['$9M']);
  });
});

describe('the gates with specifics', () => {
  const context = {
    research: SOURCES[0]!,
    leadFields: { company: 'Acme Robotics', first_name: 'Sam' },
    allowQuestions: false,
    bannedPhrases: DEFAULT_BANNED_PHRASES,
  };
  const basis = 'Acme Robotics raised $50 million led by Sequoia in March 2026.';

  it("takes the campaign's prompts as a source: the sender's product may be named", () => {
    const draft = { message: 'Sam, congrats on the Sequoia round; Orbit Sync helps teams scale after one.', basis };
    expect(checkDraft(draft, context)).toEqual({ ok: false, problems: ['unsupported specific: "Orbit Sync" (not in the research or the lead\'s fields)'] });
    expect(checkDraft(draft, { ...context, prompts: ['We sell Orbit Sync to robotics teams.'] })).toEqual({ ok: true });
  });

  it('checks the outputs too, each problem under its name, names skipped in a Title Case subject line', () => {
    const outputs = [
      { name: 'subject_line', instruction: 'A subject line', maxWords: 8 },
      { name: 'ps', instruction: 'A P.S.', maxWords: 20 },
    ];
    const draft = { message: 'Sam, congrats on the Sequoia round.', basis, outputs: { subject_line: 'Your Big Lisbon Move In 2019', ps: 'P.S. Maria Chen says hi.' } };
    expect(checkDraft(draft, { ...context, outputs })).toEqual({
      ok: false,
      problems: ['subject_line: unsupported specific: "2019" (not in the research or the lead\'s fields)', 'ps: unsupported specific: "Maria Chen" (not in the research or the lead\'s fields)'],
    });
  });

  it("does not read a placeholder's words as names: the placeholder is the problem", () => {
    expect(checkDraft({ message: '[First Name], congrats on the Sequoia round.', basis }, context)).toEqual({ ok: false, problems: ['unfilled placeholder "[First Name]"'] });
  });
});

describe('unsupportedSpecificsIn', () => {
  it('reads back the specifics a stored reason names, in order, once each', () => {
    const problems = [
      '27 words (at most 25)',
      unsupportedSpecificProblem({ kind: 'number', text: '$50M' }),
      unsupportedSpecificProblem({ kind: 'time', text: 'last week' }),
      `ps: ${unsupportedSpecificProblem({ kind: 'name', text: 'Maria Chen' })}`,
      unsupportedSpecificProblem({ kind: 'number', text: '$50M' }),
    ];
    expect(unsupportedSpecificsIn(needsReviewReason(problems))).toEqual(['$50M', 'last week', 'Maria Chen']);
    expect(unsupportedSpecificsIn('needs review: 27 words (at most 25)')).toEqual([]);
    expect(unsupportedSpecificsIn(null)).toEqual([]);
  });
});
