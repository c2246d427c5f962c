/** Personalization (`lead.researched`) against the in-memory doubles and a scripted writer, through the real quality gates. */
import { RUN_CANCELLED_REASON, RUN_ENDED_REASON } from '../../../domain/campaigns/run.ts';
import { describe, expect, it } from 'vitest';
import type { LeadResearched } from '../../../domain/campaigns/events.ts';
import type { Draft } from '../../../ports/providers.port.ts';
import { PermanentFailure } from '../../../ports/event-consumer.port.ts';
import type { LeadWorkStore } from '../../../ports/lead-work-store.port.ts';
import { ApiPaused, OutsideApiError } from '../../../ports/outside-api.port.ts';
import { PersonalizeLead } from '../../../src/app/consumers/personalization.ts';
import {
  commitDecision,
  GOOD_DRAFT,
  handlerContext,
  inMemoryPipeline,
  logged,
  personalizingRun,
  pipelinePorts,
  PLACEHOLDER_DRAFT,
  researchAbout,
  type InMemoryPipeline,
} from '../../support/fakes/index.ts';
import type { PipelinePorts } from '../../../src/app/kernel/ports.ts';

/** DEFAULT_PRICING's writer call at the default drafts' usage: 1,800 × $3/M + 120 × $15/M. */
const DRAFT_COST = '0.007200';
const PROFILE = { email: 'ada@example.com', company: 'Acme', canonical: { email: 'ada@example.com', company: 'Acme' } };
const RESEARCH = researchAbout(PROFILE);

async function researchedLead(p: InMemoryPipeline, run: Parameters<typeof personalizingRun>[2] = {}): Promise<LeadResearched> {
  const { run: extracted, pending } = await personalizingRun(p, ['ada@example.com'], run);
  await p.uow.commit(p.store.saveResearch(pending[0]!, extracted.runId, RESEARCH, '0.000000'));
  p.outbox.clear();
  return { type: 'lead.researched', run_id: extracted.runId, lead_id: pending[0]! };
}

function personalization(p: InMemoryPipeline, overrides: Partial<PipelinePorts> = {}) {
  return new PersonalizeLead(pipelinePorts(p, overrides));
}

describe('PersonalizeLead', () => {
  it('writes the line of a researched lead from its research, and saves it with its cost and a lead.personalized event', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p, { personalizationPrompt: 'Mention the factory.' });
    const context = handlerContext();

    expect(await commitDecision(p.uow, await personalization(p).handle(event, context))).toBe(true);

    expect(p.writer.calls).toEqual([{ lead: PROFILE, research: RESEARCH, prompt: 'Mention the factory.' }]);
    expect(p.store.lead(event.lead_id)).toMatchObject({
      status: 'personalized',
      message: GOOD_DRAFT.message,
      messageBasis: GOOD_DRAFT.basis,
      model: GOOD_DRAFT.model,
      error: null,
      attempts: 2,
      costUsd: DRAFT_COST,
    });
    expect(p.outbox.events()).toEqual([{ type: 'lead.personalized', run_id: event.run_id, lead_id: event.lead_id }]);
    expect(logged(context.log, 'lead personalized', 'info')).toHaveLength(1);
  });

  it('calls nobody for a lead not researched (yet, or any more), or of another run', async () => {
    const p = inMemoryPipeline();
    const { run, pending } = await personalizingRun(p, ['ada@example.com']);
    const event: LeadResearched = { type: 'lead.researched', run_id: run.runId, lead_id: pending[0]! };
    expect(await personalization(p).handle(event, handlerContext())).toBeNull(); // still pending

    await p.uow.commit(p.store.saveResearch(event.lead_id, run.runId, RESEARCH, '0.000000'));
    await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()));
    expect(await personalization(p).handle(event, handlerContext())).toBeNull(); // personalized already
    expect(await personalization(p).handle({ ...event, run_id: crypto.randomUUID() }, handlerContext())).toBeNull();
    expect(p.writer.calls).toHaveLength(1);
  });

  it('refuses for good a researched lead whose research is missing', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    const leadWork: LeadWorkStore = Object.assign(Object.create(p.store) as LeadWorkStore, {
      leadWork: async (leadId: string, runId: string) => ({ ...(await p.store.leadWork(leadId, runId))!, research: null }),
    });
    await expect(personalization(p, { leadWork }).handle(event, handlerContext())).rejects.toBeInstanceOf(PermanentFailure);
    expect(p.writer.calls).toHaveLength(0);
  });

  it('writes a line that fails the quality gates once more, with the reasons, and pays for both drafts', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    p.writer.answerNext(PLACEHOLDER_DRAFT, GOOD_DRAFT);
    const context = handlerContext();

    expect(await commitDecision(p.uow, await personalization(p).handle(event, context))).toBe(true);

    expect(p.writer.calls).toHaveLength(2);
    expect(p.writer.calls[1]).toEqual({ lead: PROFILE, research: RESEARCH, feedback: { draft: PLACEHOLDER_DRAFT.message, problems: ['unfilled placeholder "[Name]"'] } });
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'personalized', message: GOOD_DRAFT.message, attempts: 2, costUsd: '0.014400' });
    expect(p.store.lead(event.lead_id)?.calls.map((call) => call.stage)).toEqual(['research', 'personalization', 'personalization']);
    expect(p.outbox.events()).toEqual([{ type: 'lead.personalized', run_id: event.run_id, lead_id: event.lead_id }]);
    // Only the number of problems is logged: they can quote the draft.
    expect(logged(context.log, 'failed the quality gates')[0]?.fields).toEqual({ problems: 1 });
  });

  it('leaves the lead for review when the rewrite fails the gates too, with the second draft and the reasons', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    const rewrite: Draft = { ...PLACEHOLDER_DRAFT, message: 'Hi {{first_name}}, congrats on the new Lyon factory.' };
    p.writer.answerNext(PLACEHOLDER_DRAFT, rewrite);

    expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()))).toBe(true);

    expect(p.store.lead(event.lead_id)).toMatchObject({
      status: 'needs_review',
      message: rewrite.message,
      error: 'needs review: unfilled placeholder "{{first_name}}"',
      costUsd: '0.014400',
    });
    expect(p.outbox.events()).toEqual([{ type: 'lead.needs_review', run_id: event.run_id, lead_id: event.lead_id }]);
    expect(p.writer.calls).toHaveLength(2);
  });

  it('leaves for review a line that invents specifics twice, the rewrite told which, the reasons naming them', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    const invented: Draft = { ...GOOD_DRAFT, message: 'Congrats on the new Lyon factory and raising $50M from Sequoia last week.' };
    const again: Draft = { ...GOOD_DRAFT, message: 'Congrats on the new Lyon factory; Maria Chen must be thrilled with 200 engineers.' };
    p.writer.answerNext(invented, again);

    expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()))).toBe(true);

    expect(p.writer.calls[1]?.feedback?.problems).toEqual([
      'unsupported specific: "$50M" (not in the research or the lead\'s fields)',
      'unsupported specific: "Sequoia" (not in the research or the lead\'s fields)',
      'unsupported specific: "last week" (the research gives no such time)',
    ]);
    expect(p.store.lead(event.lead_id)).toMatchObject({
      status: 'needs_review',
      message: again.message,
      error: 'needs review: unsupported specific: "Maria Chen" (not in the research or the lead\'s fields)',
    });
  });

  it("lets a line name what the campaign's prompts give, such as the sender's product", async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p, { personalizationPrompt: 'We sell Orbit Sync to teams that hire fast.' });
    p.writer.answerAlways({ ...GOOD_DRAFT, message: 'Congrats on the new Lyon factory; Orbit Sync helps 200 new engineers settle in.' });
    await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()));
    expect(p.store.lead(event.lead_id)?.status).toBe('personalized');

    const bare = inMemoryPipeline();
    const refused = await researchedLead(bare);
    bare.writer.answerAlways({ ...GOOD_DRAFT, message: 'Congrats on the new Lyon factory; Orbit Sync helps 200 new engineers settle in.' });
    await commitDecision(bare.uow, await personalization(bare).handle(refused, handlerContext()));
    expect(bare.store.lead(refused.lead_id)).toMatchObject({ status: 'needs_review', error: 'needs review: unsupported specific: "Orbit Sync" (not in the research or the lead\'s fields)' });
  });

  it("applies the run's and the service's rules: questions when the run allows them, the banned phrases", async () => {
    const question: Draft = { ...GOOD_DRAFT, message: 'Is the new Lyon factory already hiring more engineers?' };
    const allowed = inMemoryPipeline();
    allowed.writer.answerAlways(question);
    const asked = await researchedLead(allowed, { allowQuestions: true });
    await commitDecision(allowed.uow, await personalization(allowed).handle(asked, handlerContext()));
    expect(allowed.store.lead(asked.lead_id)?.status).toBe('personalized');
    expect(allowed.writer.calls).toHaveLength(1);

    const refused = inMemoryPipeline();
    refused.writer.answerAlways(question);
    const notAsked = await researchedLead(refused);
    await commitDecision(refused.uow, await personalization(refused).handle(notAsked, handlerContext()));
    expect(refused.store.lead(notAsked.lead_id)).toMatchObject({ status: 'needs_review', error: 'needs review: it is a question (write a statement)' });

    const banned = inMemoryPipeline();
    banned.writer.answerAlways({ ...GOOD_DRAFT, message: 'Your new Lyon factory is pure synergy.' });
    const event = await researchedLead(banned);
    await commitDecision(banned.uow, await personalization(banned, { bannedPhrases: ['synergy'] }).handle(event, handlerContext()));
    expect(banned.store.lead(event.lead_id)).toMatchObject({ status: 'needs_review', error: 'needs review: banned phrase "synergy"' });
  });

  it('makes no call for a copy that finds a live claim, and none for a lead whose run has ended', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    const copies: unknown[] = [];
    p.writer.answerNext(async () => {
      copies.push(await personalization(p).handle(event, handlerContext()));
      return GOOD_DRAFT;
    });

    expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()))).toBe(true);
    expect(copies).toEqual([null]);
    expect(p.writer.calls).toHaveLength(1);
    expect(p.store.claim(event.lead_id, event.run_id, 'personalization')).toMatchObject({ owner: null, callsStarted: 1 });

    const ended = await researchedLead(p);
    p.store.endRun(ended.run_id, 'failed');
    expect(await commitDecision(p.uow, await personalization(p).handle(ended, handlerContext()))).toBe(true);
    expect(p.writer.calls).toHaveLength(1);
    expect(p.store.lead(ended.lead_id)).toMatchObject({ status: 'failed', error: RUN_ENDED_REASON, message: null });
    expect(p.outbox.events('lead.failed')).toEqual([{ type: 'lead.failed', run_id: ended.run_id, lead_id: ended.lead_id }]);
  });

  it('counts a failed write as an attempt, but not pushback; a failed rewrite keeps the first draft paid for', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    p.writer.answerNext(
      new ApiPaused('personalization', 'unauthorized', 'personalization paused: key rejected', 60_000),
      new OutsideApiError('personalization', 'rate_limited', 'writer API rate limited (HTTP 429)', { status: 429 }),
      new OutsideApiError('personalization', 'unavailable', 'writer API unavailable (HTTP 502)', { status: 502 }),
      PLACEHOLDER_DRAFT,
      new OutsideApiError('personalization', 'malformed', 'writer API answered an unexpected shape'),
    );
    for (let delivery = 1; delivery <= 4; delivery += 1) {
      await expect(personalization(p).handle(event, handlerContext({ deliveryCount: delivery }))).rejects.toBeInstanceOf(OutsideApiError);
    }
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'researched', attempts: 1 + 2, costUsd: DRAFT_COST });
    expect(p.outbox.events()).toEqual([]);
  });

  it('after a rewrite that did not get through, the next attempt rewrites the kept first draft instead of paying for a new one', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    p.writer.answerNext(PLACEHOLDER_DRAFT, new ApiPaused('personalization', 'out_of_credit', 'personalization paused: out of credit', 60_000));
    await expect(personalization(p).handle(event, handlerContext({ deliveryCount: 1 }))).rejects.toBeInstanceOf(ApiPaused);
    expect(p.writer.calls).toHaveLength(2);

    // Credit back: one call, the rewrite, with the first draft and its problems as feedback.
    p.writer.answerNext(GOOD_DRAFT);
    expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext({ deliveryCount: 2 })))).toBe(true);
    expect(p.writer.calls).toHaveLength(3);
    expect(p.writer.calls[2]?.feedback?.draft).toBe(PLACEHOLDER_DRAFT.message);
    expect(p.writer.calls[2]?.feedback?.problems.length).toBeGreaterThan(0);
    // Both paid drafts are in the lead's cost, the first once.
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'personalized', message: GOOD_DRAFT.message, costUsd: '0.014400' });
  });

  it('a run paused after a first draft failed the gates sends no rewrite; once resumed, only the rewrite is paid for', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    p.writer.answerNext(() => {
      p.store.endRun(event.run_id, 'paused');
      return PLACEHOLDER_DRAFT;
    });

    expect(await personalization(p).handle(event, handlerContext())).toBeNull();

    expect(p.writer.calls).toHaveLength(1);
    // The attempt did send a call: the claim is given back counted, with the rejected draft on it.
    expect(p.store.claim(event.lead_id, event.run_id, 'personalization')).toMatchObject({ owner: null, callsStarted: 1, rejectedDraft: { draft: PLACEHOLDER_DRAFT.message } });
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'researched', costUsd: DRAFT_COST, countedRunId: null });

    p.store.endRun(event.run_id, 'personalizing');
    expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()))).toBe(true);
    expect(p.writer.calls).toHaveLength(2);
    expect(p.writer.calls[1]?.feedback?.draft).toBe(PLACEHOLDER_DRAFT.message);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'personalized', costUsd: '0.014400' });
  });

  it('a run cancelled after a first draft failed the gates sends no rewrite: the lead is cancelled, the draft paid for counted in its cost', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    p.writer.answerNext(() => {
      p.store.endRun(event.run_id, 'cancelled');
      return PLACEHOLDER_DRAFT;
    });

    await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()));

    expect(p.writer.calls).toHaveLength(1);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'cancelled', error: RUN_CANCELLED_REASON, message: null, costUsd: DRAFT_COST, countedRunId: event.run_id });
    expect(p.store.run(event.run_id)).toMatchObject({ status: 'cancelled', cancelled: 1, personalized: 0, processed: 0, costUsd: DRAFT_COST });
    expect(p.outbox.events()).toEqual([expect.objectContaining({ type: 'run.completed', status: 'cancelled' })]);
  });

  it('giveUp fails the lead once, with the reason, and emits lead.failed', async () => {
    const p = inMemoryPipeline();
    const event = await researchedLead(p);
    const context = handlerContext({ deliveryCount: 6 });
    expect(await commitDecision(p.uow, await personalization(p).giveUp(event, 'writer API unavailable (HTTP 502)', context))).toBe(true);
    expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'failed', error: 'personalization failed after 6 attempts: writer API unavailable (HTTP 502)' });
    expect(p.outbox.events()).toEqual([{ type: 'lead.failed', run_id: event.run_id, lead_id: event.lead_id }]);
    expect(logged(context.log, 'lead failed in personalization', 'warn')).toHaveLength(1);

    expect(await commitDecision(p.uow, await personalization(p).giveUp(event, 'again', handlerContext()))).toBe(false);
    expect(p.outbox.events()).toHaveLength(1);
    expect(p.writer.calls).toHaveLength(0);
  });
  describe('templates and custom outputs', () => {
    const SUBJECT = { name: 'subject_line', instruction: 'A subject line about {{Company}} for {{first_name | "them"}}', maxWords: 5 };
    const WITH_OUTPUTS: Draft = { ...GOOD_DRAFT, outputs: { subject_line: 'The Lyon factory', stray: 'not asked for' } };

    it('gives the writer the prompt and the outputs rendered for the lead, and keeps the outputs asked for', async () => {
      const p = inMemoryPipeline();
      const event = await researchedLead(p, { personalizationPrompt: 'Greet {{first_name | "there"}} from {{ Company }}; skip {{email}}.', outputs: [SUBJECT] });
      p.writer.answerNext(WITH_OUTPUTS);
      const context = handlerContext();

      expect(await commitDecision(p.uow, await personalization(p).handle(event, context))).toBe(true);

      expect(p.writer.calls).toEqual([
        {
          lead: PROFILE,
          research: RESEARCH,
          prompt: 'Greet there from «Acme»; skip .',
          outputs: [{ ...SUBJECT, instruction: 'A subject line about «Acme» for them' }],
        },
      ]);
      expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'personalized', outputs: { subject_line: 'The Lyon factory' } });
      // The lead's data stays out of the logs.
      expect(JSON.stringify(context.log.entries)).not.toMatch(/Acme|ada@example\.com|Lyon/);
    });

    it('sends a draft whose output breaks its limit back once, with the outputs, and saves the rewrite', async () => {
      const p = inMemoryPipeline();
      const event = await researchedLead(p, { outputs: [SUBJECT] });
      const tooLong: Draft = { ...GOOD_DRAFT, outputs: { subject_line: 'All about the brand new Lyon factory' } };
      p.writer.answerNext(tooLong, WITH_OUTPUTS);

      expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()))).toBe(true);

      expect(p.writer.calls[1]?.feedback).toEqual({
        draft: GOOD_DRAFT.message,
        problems: ['subject_line: 7 words (at most 5)'],
        outputs: { subject_line: 'All about the brand new Lyon factory' },
      });
      expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'personalized', outputs: { subject_line: 'The Lyon factory' } });
    });

    it('leaves the lead for review when an output is still missing after the rewrite', async () => {
      const p = inMemoryPipeline();
      const event = await researchedLead(p, { outputs: [SUBJECT] });
      p.writer.answerNext(GOOD_DRAFT, GOOD_DRAFT);

      expect(await commitDecision(p.uow, await personalization(p).handle(event, handlerContext()))).toBe(true);

      expect(p.store.lead(event.lead_id)).toMatchObject({ status: 'needs_review', error: 'needs review: subject_line: missing (write it)', outputs: null });
    });
  });
});
