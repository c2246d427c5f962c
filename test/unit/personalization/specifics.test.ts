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

describe('unsupportedSpecifics on what the held-out set found (test/fixtures/specifics-heldout.ts)', () => {
  const research = [
    '- Kestrel Analytics said its revenue rose 35% in 2025 to $18 million, and the team will hire 60 engineers. [1]',
    '- It signed a three-year contract with the NHS; they may expand to Denver. [2]',
    '- Emissions fell by a quarter since 2022, and its driver app passed 500,000 downloads. [3]',
    "- Its Series B was led by Orchard Capital; Zoë O'Brien-Nakamura joined as CFO. [4]",
  ].join('\n');
  const check = (line: string) => unsupported(line, [research, 'Tom', 'Kestrel Analytics']);

  it('reads a number word in a compound with what it counts, but not an idiom', () => {
    expect(check('Tom, a three-year NHS contract is a big win.')).toEqual([]);
    expect(check('Tom, a seven-year NHS contract is a big win.')).toEqual(['seven-year']);
    expect(check('Tom, a ten-person team in Denver is a big step.')).toEqual(['ten-person']);
    expect(check('Tom, a third-party deal and a one-time fee in Denver.')).toEqual([]);
  });

  it('reads "twice" as a multiple, and fractions as percentages', () => {
    expect(check('Tom, 35% growth is twice the average.')).toEqual(['twice']);
    expect(check('Tom, cutting emissions by 25% since 2022 is a lot.')).toEqual([]);
    expect(check('Tom, cutting emissions by a quarter since 2022 is a lot.')).toEqual([]);
    expect(check('Tom, cutting emissions by a third since 2022 is a lot.')).toEqual(['a third']);
    expect(check('Tom, two-thirds of the team will be engineers.')).toEqual(['two-thirds']);
    // Without "of" after it or "by" before it, "a fourth" is an ordinal (no share of 25%).
    expect(check('Tom, a fourth office in Denver would be news.')).toEqual(['fourth']);
  });

  it('reads "half a million", "one and a half million", "US$18M" and "\'25"', () => {
    expect(check('Tom, half a million downloads is a lot.')).toEqual([]);
    expect(check('Tom, one and a half million downloads is a lot.')).toEqual(['one and a half million']);
    expect(check('Tom, US$18M in revenue in \'25 is a strong year.')).toEqual([]);
    expect(check('Tom, C$18M in revenue in \'24 is a strong year.')).toEqual(['C$18M', '24']);
  });

  it('reads full-width digits as digits', () => {
    expect(check('Tom, ６０ engineers is a lot; ７０ would be more.')).toEqual(['70']);
  });

  it('wants a lone capitalized word written with a capital in the sources: "rose" and "may" are no names', () => {
    expect(check('Tom, great to see Rose lead the 35% growth.')).toEqual(['Rose']);
    expect(check('Tom, the May launch in Denver caught my eye.')).toEqual(['May']);
    expect(check('Tom, Denver and the NHS make for a busy 2025.')).toEqual([]);
    // A lead's field names whatever its case.
    expect(unsupported('Tom, Denver is a smart next step.', [research, 'tom'])).toEqual([]);
  });

  it('reads a lone first word before a comma as the person greeted, whatever the research writes in lower case', () => {
    expect(check('Rose, congrats on the 35% growth in 2025.')).toEqual(['Rose']);
    expect(check('Will, congrats on the 35% growth in 2025.')).toEqual(['Will']);
    expect(check('Tom, congrats on the 35% growth in 2025.')).toEqual([]);
    expect(check('Meanwhile, the NHS contract is a big win, Tom.')).toEqual([]);
  });

  it('reads a lone first word before a common verb as a name', () => {
    expect(check('Europe gets another Kestrel office in Denver, Tom.')).toEqual(['Europe']);
    expect(check('Denver gets another Kestrel office, Tom.')).toEqual([]);
  });

  it('matches a capital letter after a name word as a pair: "Series A" is not "Series B"', () => {
    expect(check('Tom, congrats on the Series B from Orchard Capital.')).toEqual([]);
    expect(check('Tom, congrats on the Series A from Orchard Capital.')).toEqual(['Series A']);
    expect(check('Tom, congrats on the Series-A from Orchard Capital.')).toEqual(['Series-A']);
  });

  it('matches curly and straight apostrophes, and a name in capitals that the sources capitalize', () => {
    expect(check('Tom, Zoë O’Brien-Nakamura joining as CFO caught my eye.')).toEqual([]);
    expect(check('ZOË, congrats on the CFO role at Kestrel.')).toEqual([]);
    expect(check('Tom, the US expansion caught my eye.')).toEqual(['US']);
  });

  it('reads a quoted or bracketed word within a sentence as a name unless it is a common word', () => {
    expect(check('Tom, saw the launch of “Pulse” in Denver.')).toEqual(['Pulse']);
    expect(check('Tom, saw the launch of "Pulse" in Denver.')).toEqual(['Pulse']);
    expect(check('Tom, saw the Denver office (Pulse) news.')).toEqual(['Pulse']);
    expect(check('Tom, saw the NHS contract (congrats) and the “Denver” plan.')).toEqual([]);
    expect(check('Tom, the Denver plan (Congrats!) is news.')).toEqual([]);
  });

  it('reads "over the weekend" as last weekend', () => {
    expect(check('Tom, the NHS contract signed over the weekend is a big win.')).toEqual(['over the weekend']);
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
