/**
 * The quality gates with adversarial drafts: each rule at its edge, and the look-alikes that
 * must not trip it (abbreviations, decimals, a banned word inside another word).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BANNED_PHRASES } from '../../../domain/personalization/banned-phrases.ts';
import { checkDraft, countSentences, countWords, needsReviewReason, type GateContext } from '../../../domain/personalization/quality-gates.ts';

const RESEARCH = [
  '- Northwind Traders opened a distribution centre in Leeds in May 2026. [1]',
  '- Northwind Traders grew to about 140 employees this year. [2]',
  '- Northwind Traders raised 3.5 million dollars from U.S. investors, e.g. Contoso Ventures Inc. [3]',
].join('\n');

const CONTEXT: GateContext = {
  research: RESEARCH,
  leadFields: { company: 'Northwind Traders', first_name: 'Priya', title: 'Head of Logistics', city: 'Sheffield' },
  allowQuestions: false,
  bannedPhrases: DEFAULT_BANNED_PHRASES,
};

const BASIS = 'Northwind Traders opened a distribution centre in Leeds in May 2026.';
const GOOD = 'Priya, saw that Northwind opened its Leeds distribution centre in May and wondered how the first weeks have gone.';

function problems(message: string, basis = BASIS, context: Partial<GateContext> = {}): readonly string[] {
  const verdict = checkDraft({ message, basis }, { ...CONTEXT, ...context });
  return verdict.ok ? [] : verdict.problems;
}

/** A grounded line of exactly `n` words: the good line's 19 words, padded with "really". */
function lineOf(n: number): string {
  const words = GOOD.slice(0, -1).split(' ');
  while (words.length < n) words.splice(words.length - 1, 0, 'really');
  return `${words.join(' ')}.`;
}

describe('checkDraft', () => {
  it('passes a grounded one-sentence line', () => {
    expect(countWords(GOOD)).toBe(19);
    expect(checkDraft({ message: GOOD, basis: BASIS }, CONTEXT)).toEqual({ ok: true });
  });

  it('fails an empty or blank line, with that problem alone', () => {
    expect(checkDraft({ message: '', basis: BASIS }, CONTEXT)).toEqual({ ok: false, problems: ['the line is empty'] });
    expect(problems(' \n\t ')).toEqual(['the line is empty']);
  });

  describe('at most 25 words', () => {
    it('accepts exactly 25 words and refuses 26, saying how many', () => {
      expect(countWords(lineOf(25))).toBe(25);
      expect(problems(lineOf(25))).toEqual([]);
      expect(problems(lineOf(26))).toEqual(['26 words (at most 25)']);
    });

    it('counts tokens with a letter or digit: hyphenated words and numbers are one word, lone dashes none', () => {
      expect(countWords('e-mail the 3.5 million — now 2026 !')).toBe(6);
      expect(countWords('  spaced\tout\nwords  ')).toBe(3);
      // 25 words plus dashes and an emoji: still 25.
      expect(problems(`${lineOf(25).slice(0, -1)} — 🙂 —.`)).toEqual([]);
    });
  });

  describe('exactly one sentence', () => {
    it('fails two sentences, whatever ends the first', () => {
      expect(problems('Saw the Leeds distribution centre news. Congrats to the team!')).toContain('2 sentences (write exactly one)');
      expect(problems('Leeds distribution centre! Big news for Northwind.')).toContain('2 sentences (write exactly one)');
      expect(problems('Saw the Leeds distribution centre news… congrats to the team.')).toContain('2 sentences (write exactly one)');
      expect(problems('Saw the "Leeds distribution centre." Congrats to the team.')).toContain('2 sentences (write exactly one)');
      expect(problems('Priya,\nsaw the Leeds distribution centre news.')).toContain('2 sentences (write exactly one)');
      expect(countSentences('One. Two! Three? Four')).toBe(4);
    });

    it('reads abbreviations, initials and decimals as inside the sentence', () => {
      const basis = 'Northwind Traders raised 3.5 million dollars from U.S. investors, e.g. Contoso Ventures Inc.';
      for (const message of [
        'Saw Northwind raised 3.5 million dollars from U.S. investors like Contoso Ventures Inc. in May.',
        'Saw the 3.5 million raise, e.g. from Contoso Ventures, with backing from the U.S. market.',
        'Dr. Priya, the raise from Contoso Ventures Inc. and J. R. Smith vs. rivals looks timely.',
        'Saw the raise (i.e. the 3.5 million dollars) on northwind.example and thought of you.',
      ]) {
        expect(countSentences(message), message).toBe(1);
        expect(problems(message, basis, { leadFields: { ...CONTEXT.leadFields, advisor: 'J. R. Smith' } }), message).toEqual([]);
      }
    });

    it('accepts a line without final punctuation', () => {
      expect(problems('Priya, saw that Northwind opened its Leeds distribution centre in May')).toEqual([]);
    });
  });

  describe('no unfilled placeholder', () => {
    it.each([
      ['{{first_name}}', 'Hi {{first_name}}, saw the Leeds distribution centre news.'],
      ['{company}', 'Saw that {company} opened its Leeds distribution centre.'],
      ['[Name]', '[Name], saw that Northwind opened its Leeds distribution centre.'],
      ['[First Name]', 'Hi [First Name], saw that Northwind opened its Leeds distribution centre.'],
      ['[Company Name]', 'Saw that [Company Name] opened its Leeds distribution centre.'],
      ['<company>', 'Saw that <company> opened its Leeds distribution centre.'],
      ['<FIRST NAME>', '<FIRST NAME>, saw that Northwind opened its Leeds distribution centre.'],
      ['%FIRST_NAME%', '%FIRST_NAME%, saw that Northwind opened its Leeds distribution centre.'],
      ['__company__', 'Saw that __company__ opened its Leeds distribution centre.'],
    ])('finds %s', (placeholder, message) => {
      expect(problems(message)).toEqual([`unfilled placeholder "${placeholder}"`]);
    });

    it('names each placeholder once', () => {
      expect(problems('[Name] at {{company}}, [Name] saw the Leeds distribution centre news.')).toEqual([
        'unfilled placeholder "{{company}}"',
        'unfilled placeholder "[Name]"',
      ]);
    });

    it('leaves percentages, a citation number and a lone bracket alone', () => {
      const research = `${RESEARCH}\n- The Leeds centre has 20% more room than planned, 3 docks of 4.`;
      expect(problems('Saw that Northwind opened its Leeds distribution centre [1] with 20% more room, 3 < 4.', BASIS, { research })).toEqual([]);
    });
  });

  describe('banned phrases', () => {
    it.each(DEFAULT_BANNED_PHRASES.map((phrase) => [phrase]))('refuses "%s" in any case', (phrase) => {
      const shouted = `${phrase.toUpperCase()}: saw that Northwind opened its Leeds distribution centre`;
      expect(problems(shouted)).toContain(`banned phrase "${phrase}"`);
    });

    it('matches across a hyphen or a curly apostrophe, but never inside another word', () => {
      expect(problems('A game changer: Northwind opened its Leeds distribution centre.')).toContain('banned phrase "game-changer"');
      expect(problems('I’m impressed that Northwind opened its Leeds distribution centre.')).toContain(`banned phrase "I'm impressed"`);
      for (const message of [
        'Saw that Synergytics and Northwind opened a Leeds distribution centre.',
        'The semicircle backdrop at the Leeds distribution centre opening stood out.',
        'Saw the retouch baseline for the Leeds distribution centre opening.',
      ]) {
        // Synergytics is a name the lead's fields give (so that only the banned phrases are in question).
        expect(problems(message, BASIS, { leadFields: { ...CONTEXT.leadFields, partner: 'Synergytics' } }), message).toEqual([]);
      }
    });

    it('uses the configured list, not the default one', () => {
      const message = 'Saw that Northwind opened its Leeds distribution centre, a real game-changer.';
      expect(problems(message, BASIS, { bannedPhrases: ['distribution centre'] })).toEqual(['banned phrase "distribution centre"']);
      expect(problems(message, BASIS, { bannedPhrases: [] })).toEqual([]);
    });
  });

  it('fails a question unless the campaign allows questions', () => {
    const question = 'Priya, how are the first weeks at the new Leeds distribution centre going?';
    expect(problems(question)).toEqual(['it is a question (write a statement)']);
    expect(problems(`${question}"`)).toEqual(['it is a question (write a statement)']);
    expect(problems(question, BASIS, { allowQuestions: true })).toEqual([]);
  });

  describe('grounding', () => {
    it('fails a basis that is not in the research or the lead fields', () => {
      const basis = 'Northwind Traders closed a Series B funding round led by Harborview Capital.';
      expect(problems('Saw that Northwind closed its Series B funding round; congrats.', basis)).toEqual([
        "the fact it relies on is not in the research or the lead's fields",
        // The specifics gate finds the invention in the line too.
        'unsupported specific: "Series B" (not in the research or the lead\'s fields)',
      ]);
    });

    it('accepts the basis whatever its case and punctuation, or paraphrased in a word or two', () => {
      expect(problems(GOOD, 'northwind traders opened a distribution centre in leeds -- in May, 2026')).toEqual([]);
      // 7 of the 8 content words are in the research (88%).
      expect(problems(GOOD, 'Northwind Traders opened a new distribution centre in Leeds during May 2026.')).toEqual([]);
    });

    it('fails a basis that only shares its common words with the research', () => {
      // northwind, traders, leeds out of 7 content words (43%).
      const basis = 'Northwind Traders is closing the Leeds warehouse next spring.';
      expect(problems('Saw Northwind is closing its Leeds warehouse next spring.', basis)).toEqual([
        "the fact it relies on is not in the research or the lead's fields",
        'unsupported specific: "next spring" (the research gives no such time)',
      ]);
    });

    it('does not take a basis from the middle of a word', () => {
      expect(problems('Saw the Leeds distribution news.', 'eds distribution')).toContain(
        "the fact it relies on is not in the research or the lead's fields",
      );
    });

    it("passes a line grounded in the lead's own fields", () => {
      expect(problems('Priya, leading logistics from Sheffield must keep you busy this year.', 'Head of Logistics')).toEqual([]);
      expect(problems('Priya, Sheffield must be a busy place for logistics this year.', 'Sheffield')).toEqual([]);
    });

    it('fails a line that does not use its (grounded) basis', () => {
      expect(problems('Priya, hope the team at Northwind Traders is having a great spring.')).toEqual([
        'the line does not use the fact it relies on',
      ]);
    });

    it('fails a missing basis', () => {
      expect(problems(GOOD, '  ')).toEqual(['no fact given for the line to rely on']);
      expect(problems(GOOD, '...')).toEqual(['no fact given for the line to rely on']);
    });
  });

  it('reports every broken rule, in order', () => {
    const message = `Hi [First Name], quick question about ${lineOf(26).slice(0, -1)}? Let us touch base.`;
    expect(problems(message, 'Northwind closed a Series B round.')).toEqual([
      '36 words (at most 25)',
      '2 sentences (write exactly one)',
      'unfilled placeholder "[First Name]"',
      'banned phrase "touch base"',
      'banned phrase "quick question"',
      "the fact it relies on is not in the research or the lead's fields",
      'the line does not use the fact it relies on',
    ]);
  });
});

describe('needsReviewReason', () => {
  it('joins the problems behind "needs review:"', () => {
    expect(needsReviewReason(['27 words (at most 25)', 'unfilled placeholder "[Name]"'])).toBe(
      'needs review: 27 words (at most 25); unfilled placeholder "[Name]"',
    );
  });
});

describe('custom outputs', () => {
  const SUBJECT = { name: 'subject_line', instruction: 'A subject line', maxWords: 6 };
  const PS = { name: 'ps', instruction: 'A P.S.', maxWords: 20 };

  function outputProblemsOf(outputs: Record<string, string>): readonly string[] {
    const verdict = checkDraft({ message: GOOD, basis: BASIS, outputs }, { ...CONTEXT, outputs: [SUBJECT, PS] });
    return verdict.ok ? [] : verdict.problems;
  }

  it('passes outputs within their limits, which need not be one sentence nor grounded', () => {
    expect(outputProblemsOf({ subject_line: 'Your Leeds centre?', ps: 'P.S. We help teams like yours. Happy to share notes.' })).toEqual([]);
  });

  it('checks each output on its own, naming it', () => {
    expect(
      outputProblemsOf({ subject_line: 'Leeds news and a thought on it', ps: 'P.S. [First Name], let us touch base soon.' }),
    ).toEqual(['subject_line: 7 words (at most 6)', 'ps: unfilled placeholder "[First Name]"', 'ps: banned phrase "touch base"']);
  });

  it('wants every output asked for, and ignores one not asked for', () => {
    expect(outputProblemsOf({ ps: '  ', other: 'whatever it says' })).toEqual(['subject_line: missing (write it)', 'ps: missing (write it)']);
  });

  it('leaves a draft alone when the campaign asks for no output', () => {
    expect(checkDraft({ message: GOOD, basis: BASIS, outputs: { stray: '[x]' } }, CONTEXT)).toEqual({ ok: true });
  });
});
