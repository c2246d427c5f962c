/**
 * Personalization (`lead.researched`): writes the opening line from the lead and its research.
 * Like research, the stored status decides: only a `researched` lead is written for, and the call
 * is claimed first (one claim covers both writes of an attempt; see claimPaidCall in lead-events.ts).
 *
 * Every draft goes through the quality gates (domain/personalization/quality-gates.ts). A draft
 * that fails is written once more, with the problems as feedback; if that one fails too, the lead
 * ends `needs_review` with the second draft as its message and the problems as its error, and is
 * not counted as personalized. Both writes happen in one delivery and count as one attempt: a
 * redelivery (a crash, an error on the second write) starts again from the first.
 *
 * The campaign's personalization prompt and its custom outputs' instructions are templates
 * (domain/personalization/template.ts): each is rendered for the lead, its variables replaced by
 * the lead's values (quoted, so the writer tells them from instructions), before the writer gets
 * it. Neither the rendered prompt nor the outputs are logged: they hold the lead's personal data.
 * The custom outputs are written in the same call as the line and pass the same gates with it.
 *
 * Settings: as research's (see research.ts), with an ack wait of 60 s: a generation call takes
 * 2-5 s.
 */
import type { LeadResearched } from '../../../domain/campaigns/events.ts';
import type { OutputSpec } from '../../../domain/personalization/outputs.ts';
import { checkDraft, needsReviewReason, type GateContext } from '../../../domain/personalization/quality-gates.ts';
import { quoteLeadValue, renderTemplate, variableValues, type TemplateLead } from '../../../domain/personalization/template.ts';
import { costOf, type Pricing } from '../../../domain/pricing/pricing.ts';
import { PermanentFailure, type Handler, type HandlerContext } from '../../../ports/event-consumer.port.ts';
import type { LeadWork, LeadWorkStore } from '../../../ports/lead-work-store.port.ts';
import type { ProjectionStore } from '../../../ports/projection-store.port.ts';
import type { RunNotifier } from '../../../ports/run-notifications.port.ts';
import type { LeadScreen } from '../../../ports/suppression-store.port.ts';
import type { Draft, MessageWriter, ProviderCallOptions, Research, WriteRequest } from '../../../ports/providers.port.ts';
import { decide, type Decision, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { declareConsumer } from '../kernel/declaration.ts';
import { claimPaidCall, failLead, paidCall, PAID_CALL_RETRIES, suppressIfListed } from './lead-events.ts';

const SECOND = 1_000;

export const personalization = declareConsumer({
  name: 'personalization',
  summary: 'writes each lead\'s opening line with the writer API (Claude through OpenRouter), through the quality gates',
  subscribes: ['lead.researched'],
  settings: {
    ackWaitMs: 60 * SECOND,
    ...PAID_CALL_RETRIES,
    maxAckPending: 512,
    maxHandlerMs: 10 * 60 * SECOND,
  },
  callsApi: 'personalization',
  uses: ['uow', 'leadWork', 'projectionStore', 'writer', 'pricing', 'bannedPhrases', 'suppressions', 'notifier'],
  create: (ports) => new PersonalizeLead(ports),
});

export interface PersonalizeLeadDeps {
  readonly uow: UnitOfWork;
  readonly leadWork: LeadWorkStore;
  /** Ends a cancelled run once its last lead in flight is settled. */
  readonly projectionStore: ProjectionStore;
  readonly writer: MessageWriter;
  /** Prices each writer call's usage into the lead's cost. */
  readonly pricing: Pricing;
  /** Phrases no line may contain. */
  readonly bannedPhrases: readonly string[];
  /** The owner's suppression list, looked up again before the call (a re-run's lead comes here with its stored research). */
  readonly suppressions: LeadScreen;
  readonly notifier: RunNotifier;
}

export class PersonalizeLead implements Handler<'lead.researched'> {
  readonly #deps: PersonalizeLeadDeps;

  constructor(deps: PersonalizeLeadDeps) {
    this.#deps = deps;
  }

  /** A failed call propagates: the runner retries with the consumer's backoff, then calls `giveUp`. */
  async handle(event: LeadResearched, context: HandlerContext): Promise<Decision | null> {
    const { leadWork, pricing } = this.#deps;
    const work = await leadWork.leadWork(event.lead_id, event.run_id);
    // Gone to a later run (which has its own events), or settled already.
    if (work === null || work.status !== 'researched') return null;
    if (work.research === null) throw new PermanentFailure('the lead has no stored research');
    const suppressed = await suppressIfListed(this.#deps, work, 'personalization', context);
    if (suppressed !== null) return suppressed;

    const claimed = await claimPaidCall(this.#deps, work, 'personalization', context);
    if (claimed.kind === 'settled') return claimed.decision;

    const research = work.research;
    const made = await paidCall(this.#deps, claimed.claim, context, (options) => this.#write(work, research, context, options));
    if (made.kind === 'stopped') return made.decision;
    const { draft, verdict } = made.value;
    const costUsd = costOf(draft.usage, pricing.personalization);
    const problems = verdict.ok ? undefined : needsReviewReason(verdict.problems);
    // Saved, or (another delivery saved first, the lead was failed meanwhile) its cost recorded all the same.
    return decide(leadWork.saveDraft(work.leadId, work.runId, askedOutputsOnly(draft, work.outputs), costUsd, problems), {
      events: (saved) => (saved ? [{ type: verdict.ok ? 'lead.personalized' : 'lead.needs_review', run_id: work.runId, lead_id: work.leadId }] : []),
      after: (saved) => {
        if (saved) context.log.info({ model: draft.model }, verdict.ok ? 'lead personalized' : 'lead needs review: the rewrite failed the quality gates too');
      },
    });
  }

  /**
   * A draft, checked; one that fails the gates is written again once, with the reasons. Each write
   * takes `options`: a run cancelled or paused after the first draft stops the rewrite before it
   * is sent (the first draft is kept with the claim, so a resumed run only rewrites it).
   */
  async #write(work: LeadWork, research: Research, context: HandlerContext, options: ProviderCallOptions): Promise<{ draft: Draft; verdict: ReturnType<typeof checkDraft> }> {
    const { uow, leadWork, writer, pricing } = this.#deps;
    const input = writeRequest(work, research);
    const gates = this.#gates(work, research);

    // An earlier attempt's first draft failed the gates and its rewrite did not get through: the
    // rewrite is what is left to do (the first draft was paid for already).
    if (work.rejectedDraft !== null) {
      context.log.info({ problems: work.rejectedDraft.problems.length }, 'writing again the draft an earlier attempt had rejected');
      const draft = await writer.write({ ...input, feedback: work.rejectedDraft }, context.signal, options);
      return { draft, verdict: checkDraft(draft, gates) };
    }

    let draft = await writer.write(input, context.signal, options);
    let verdict = checkDraft(draft, gates);
    if (!verdict.ok) {
      // The problems can quote the draft (a placeholder): only their number is logged.
      context.log.info({ problems: verdict.problems.length }, 'draft failed the quality gates: writing it again');
      // The rejected draft was paid for too (the kept one's cost is saved with it); kept with its
      // problems, so that a retry after a failed rewrite rewrites it rather than paying again.
      const usage = draft.usage === undefined ? {} : { usage: draft.usage };
      const feedback = { draft: draft.message, problems: verdict.problems, ...(draft.outputs === undefined ? {} : { outputs: draft.outputs }) };
      const call = { stage: 'personalization' as const, model: draft.model, ...usage, costUsd: costOf(draft.usage, pricing.personalization) };
      await uow.commit(leadWork.keepRejectedDraft(work.leadId, work.runId, call, feedback));
      draft = await writer.write({ ...input, feedback }, context.signal, options);
      verdict = checkDraft(draft, gates);
    }
    return { draft, verdict };
  }

  /**
   * What the gates check a draft against: the research, the lead's own fields (and the values its
   * prompt's variables took: a line may rely on them as on the canonical fields), the campaign's
   * prompts (a line's specifics may come from them: the sender's product), the campaign's rules.
   */
  #gates(work: LeadWork, research: Research): GateContext {
    const leadFields: Record<string, string> = {};
    for (const [field, value] of Object.entries(variableValues(templatesOf(work), templateLead(work)))) leadFields[`variable:${field}`] = value;
    for (const [field, value] of Object.entries(work.lead.canonical)) if (value !== undefined) leadFields[field] = value;
    leadFields.company = work.lead.company;
    return {
      research: research.text,
      leadFields,
      allowQuestions: work.allowQuestions,
      bannedPhrases: this.#deps.bannedPhrases,
      ...(work.outputs.length === 0 ? {} : { outputs: work.outputs }),
      prompts: [...(work.researchPrompt === null ? [] : [work.researchPrompt]), ...templatesOf(work)],
    };
  }

  giveUp(event: LeadResearched, reason: string, context: HandlerContext): Promise<Decision> {
    return failLead(this.#deps.leadWork, 'personalization', event, reason, context);
  }
}

/** The draft with only the outputs the run asked for (none when it asked for none). */
function askedOutputsOnly(draft: Draft, asked: readonly OutputSpec[]): Draft {
  const { outputs, ...rest } = draft;
  if (asked.length === 0 || outputs === undefined) return rest;
  return { ...rest, outputs: Object.fromEntries(asked.flatMap((spec) => (outputs[spec.name] === undefined ? [] : [[spec.name, outputs[spec.name]!]]))) };
}

function templateLead(work: LeadWork): TemplateLead {
  return { fields: work.fields, canonical: work.lead.canonical };
}

/** The run's templates: its personalization prompt and its outputs' instructions. */
function templatesOf(work: LeadWork): string[] {
  return [...(work.personalizationPrompt === null ? [] : [work.personalizationPrompt]), ...work.outputs.map((output) => output.instruction)];
}

/** What the writer gets: the prompt and the outputs' instructions rendered for this lead. */
function writeRequest(work: LeadWork, research: Research): WriteRequest {
  const lead = templateLead(work);
  const render = (template: string) => renderTemplate(template, lead, { value: quoteLeadValue });
  const outputs: OutputSpec[] = work.outputs.map((output) => ({ ...output, instruction: render(output.instruction) }));
  return {
    lead: work.lead,
    research,
    ...(work.personalizationPrompt === null ? {} : { prompt: render(work.personalizationPrompt) }),
    ...(outputs.length === 0 ? {} : { outputs }),
  };
}
