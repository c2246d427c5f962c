/**
 * The sandbox writer's drafts against the real quality gates, built from the prompts the real
 * adapters send: a share of first drafts breaks a rule, every rewrite passes, and the company-name
 * markers force either outcome.
 */
import { describe, expect, it } from 'vitest';
import { researchInput, researchInstructions, rewriteInput, writerInput, writerInstructions } from '../../../adapters/providers/prompts.ts';
import { chatCompletion, INVENTIONS, isRewriteRequest, NEEDS_REVIEW_MARKER, REDRAFT_MARKER, researchResponse } from '../../../adapters/sandbox/answers.ts';
import { DEFAULT_BANNED_PHRASES } from '../../../domain/personalization/banned-phrases.ts';
import { checkDraft, type GateContext, type GateVerdict } from '../../../domain/personalization/quality-gates.ts';
import type { LeadProfile, Research } from '../../../ports/providers.port.ts';

interface Attempt {
  readonly draft: { message: string; basis: string };
  readonly verdict: GateVerdict;
}

function lead(index: number, company = `Company ${index} Holdings`): LeadProfile {
  const email = `person${index}@c${index}.example`;
  return { email, company, canonical: { email, company, first_name: `Name${String.fromCharCode(97 + (index % 26))}`, title: 'Head of Sales' } };
}

/** Research, a first draft and (when the gates refuse it) a rewrite, as the pipeline would get them; every draft fabricated with `fabricate`. */
function personalize(profile: LeadProfile, options: { fabricate?: boolean } = {}): { first: Attempt; rewrite?: Attempt } {
  const answer = researchResponse({ instructions: researchInstructions(), input: researchInput(profile) }) as { output_text: string };
  const research: Research = { text: answer.output_text, citations: [], model: 'sandbox/research-1' };
  const context: GateContext = {
    research: research.text,
    leadFields: { ...profile.canonical, company: profile.company },
    allowQuestions: false,
    bannedPhrases: DEFAULT_BANNED_PHRASES,
  };
  const messages = [
    { role: 'system', content: writerInstructions() },
    { role: 'user', content: writerInput(profile, research) },
  ];
  const write = (body: Record<string, unknown>): Attempt => {
    const completion = chatCompletion(body, options) as { choices: { message: { content: string } }[] };
    const draft = JSON.parse(completion.choices[0]!.message.content) as { message: string; basis: string };
    return { draft, verdict: checkDraft(draft, context) };
  };
  const first = write({ model: 'm', messages });
  if (first.verdict.ok) return { first };
  const feedback = { draft: first.draft.message, problems: first.verdict.problems };
  const body = { model: 'm', messages: [...messages, { role: 'user', content: rewriteInput(feedback) }] };
  expect(isRewriteRequest(body)).toBe(true);
  return { first, rewrite: write(body) };
}

const problemsOf = (attempt: Attempt | undefined) => (attempt === undefined || attempt.verdict.ok ? [] : attempt.verdict.problems);

describe('sandbox drafts through the quality gates', () => {
  it('breaks a rule in about a quarter of first drafts, one rule each, and every rewrite passes', () => {
    const LEADS = 400;
    const kinds = { words: 0, placeholder: 0, ungrounded: 0 };
    let refused = 0;
    for (let index = 0; index < LEADS; index += 1) {
      const { first, rewrite } = personalize(lead(index));
      const problems = problemsOf(first);
      if (problems.length === 0) continue;
      refused += 1;
      expect(problems).toHaveLength(1);
      const [problem] = problems;
      if (/^\d+ words \(at most 25\)$/.test(problem!)) kinds.words += 1;
      else if (problem === 'unfilled placeholder "[First Name]"') kinds.placeholder += 1;
      else if (problem === "the fact it relies on is not in the research or the lead's fields") kinds.ungrounded += 1;
      else throw new Error(`unexpected problem: ${problem}`);
      expect(rewrite?.verdict).toEqual({ ok: true });
    }
    // 25% expected (15 + 5 + 5): binomial bounds wide enough for any honest hash.
    expect(refused / LEADS).toBeGreaterThan(0.17);
    expect(refused / LEADS).toBeLessThan(0.33);
    expect(kinds.words).toBeGreaterThan(kinds.placeholder);
    expect(kinds.placeholder).toBeGreaterThan(0);
    expect(kinds.ungrounded).toBeGreaterThan(0);
  });

  it('fabricates on demand: every draft, rewrites too, keeps its true fact and adds an invented number that the gates name', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 200; index += 1) {
      // A company name without digits: "Company 14 Holdings" would state the 14 of an invention.
      const letters = [...index.toString(26)].map((digit) => String.fromCharCode(97 + parseInt(digit, 26))).join('');
      const { first, rewrite } = personalize(lead(index, `Company ${letters} Holdings`), { fabricate: true });
      for (const attempt of [first, rewrite]) {
        const problems = problemsOf(attempt);
        const invention = INVENTIONS.find((text) => attempt?.draft.message.includes(text));
        expect(invention, attempt?.draft.message).toBeDefined();
        seen.add(invention!);
        // Refused by the specifics gate alone (grounded, one sentence, at most 25 words), naming the invented number.
        expect(problems.length).toBeGreaterThan(0);
        for (const problem of problems) expect(problem, attempt?.draft.message).toMatch(/^unsupported specific: "[^"]+" \(/);
        const number = /\$37M|217%|14|13th|2019/.exec(invention!)![0];
        expect(problems.some((problem) => problem.includes(`"${number}"`)), `${attempt?.draft.message}: ${problems.join('; ')}`).toBe(true);
      }
      expect(rewrite?.draft.message).not.toBe(first.draft.message);
    }
    expect(seen).toEqual(new Set(INVENTIONS));
  });

  it('answers the same request with the same draft', () => {
    expect(personalize(lead(7))).toEqual(personalize(lead(7)));
  });

  it(`always breaks a rule on the first draft of a "${REDRAFT_MARKER}" company, and passes on the rewrite`, () => {
    for (let index = 0; index < 20; index += 1) {
      const { first, rewrite } = personalize(lead(index, `${REDRAFT_MARKER} Co ${index}`));
      expect(first.verdict.ok).toBe(false);
      expect(rewrite?.verdict).toEqual({ ok: true });
    }
  });

  it(`never writes a compliant line for a "${NEEDS_REVIEW_MARKER}" company`, () => {
    for (let index = 0; index < 20; index += 1) {
      const { first, rewrite } = personalize(lead(index, `${NEEDS_REVIEW_MARKER} Co ${index}`));
      expect(problemsOf(first)).toEqual([expect.stringMatching(/^\d+ words \(at most 25\)$/)]);
      expect(problemsOf(rewrite)).toEqual([expect.stringMatching(/^\d+ words \(at most 25\)$/)]);
    }
  });

  it('tells a rewrite from a first request by the last message only', () => {
    const rewrite = rewriteInput({ draft: 'Hi [Name].', problems: ['unfilled placeholder "[Name]"'] });
    expect(isRewriteRequest({ messages: [{ role: 'user', content: 'hi' }] })).toBe(false);
    expect(isRewriteRequest({ messages: [{ role: 'user', content: rewrite }] })).toBe(true);
    expect(isRewriteRequest({ messages: [{ role: 'user', content: rewrite }, { role: 'user', content: 'hi' }] })).toBe(false);
    expect(isRewriteRequest(undefined)).toBe(false);
  });
});
