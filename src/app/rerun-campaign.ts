/**
 * Re-run without re-uploading (issue 10, item 3; the edge's `POST /api/campaigns/:id/runs`): a new
 * run of a campaign over some of the leads it stores, selected by status or by id, optionally with
 * new prompts. There is no file: the run is recorded `personalizing` with its leads taken over in
 * the same transaction, and each lead's event commits with it (the outbox): `lead.researched` for a
 * lead whose stored research is reused (no research call), `lead.extracted` for one to research
 * (through the company research cache, so once per company). From there the run is any run: the
 * same consumers, counters, completion, cost and exactly-once counting.
 *
 * Quotas and the Idempotency-Key work as for a submission (submit-campaign.ts): the quotas are
 * checked in the transaction that records the run; a key is claimed first, completed with the run,
 * and given up when the request is refused.
 */
import { estimateRunCost, usdToMicros, type Pricing, type UsdAmount } from '../../domain/pricing/pricing.ts';
import { DEFAULT_PRICING } from '../../domain/pricing/pricing.ts';
import { NO_QUOTAS, type QuotaLimits } from '../../domain/quotas/quota.ts';
import type { RerunCampaign, RerunInput } from '../../ports/rerun-campaign.port.ts';
import type { RerunStore } from '../../ports/rerun-store.port.ts';
import type { SubmissionStore } from '../../ports/submission-store.port.ts';
import { IdempotencyKeyInUse, IdempotencyKeyReused, type SubmittedRun } from '../../ports/submit-campaign.port.ts';
import type { Outgoing, UnitOfWork } from '../../ports/unit-of-work.port.ts';

export interface RerunCampaignDeps {
  readonly store: RerunStore;
  /** The idempotency keys, shared with submissions (one key space per user). */
  readonly keys: SubmissionStore;
  readonly uow: UnitOfWork;
  readonly quotas?: QuotaLimits;
  readonly pricing?: Pricing;
  /** The providers are the in-process sandbox (PROVIDERS=sandbox): runs are recorded as sandbox runs. Default false. */
  readonly sandbox?: boolean;
}

export class RerunCampaignService implements RerunCampaign {
  readonly #deps: RerunCampaignDeps;

  constructor(deps: RerunCampaignDeps) {
    this.#deps = deps;
  }

  async rerun(input: RerunInput): Promise<SubmittedRun> {
    const { uow, keys } = this.#deps;
    const idempotency = input.idempotency;
    if (idempotency === undefined) return this.#rerun(input, undefined);
    const found = await uow.commit(keys.claimIdempotencyKey(input.userId, idempotency.key));
    if (found.state === 'in_progress') throw new IdempotencyKeyInUse();
    if (found.state === 'completed') {
      if (found.fingerprint !== idempotency.fingerprint) throw new IdempotencyKeyReused();
      return { runId: found.runId, campaignId: found.campaignId, replayed: true };
    }
    try {
      // One transaction, well under the 30 s a claim lives without renewal: nothing to renew.
      return await this.#rerun(input, { key: idempotency.key, claim: found.claim, fingerprint: idempotency.fingerprint });
    } catch (error) {
      await uow.commit(keys.releaseIdempotencyKey(input.userId, idempotency.key, found.claim)).catch(() => {});
      throw error;
    }
  }

  async #rerun(input: RerunInput, idempotency: { key: string; claim: string; fingerprint: string } | undefined): Promise<SubmittedRun> {
    const { store, uow } = this.#deps;
    const pricing = this.#deps.pricing ?? DEFAULT_PRICING;
    const selection = input.leadIds !== undefined ? { leadIds: input.leadIds } : { statuses: input.statuses ?? [] };
    const created = await uow.commit(
      store.createRerun({
        userId: input.userId,
        campaignId: input.campaignId,
        selection,
        ...(input.researchPrompt === undefined ? {} : { researchPrompt: input.researchPrompt }),
        ...(input.personalizationPrompt === undefined ? {} : { personalizationPrompt: input.personalizationPrompt }),
        ...(input.allowQuestions === undefined ? {} : { allowQuestions: input.allowQuestions }),
        refreshResearch: input.research === 'refresh',
        sandbox: this.#deps.sandbox ?? false,
        quotas: this.#deps.quotas ?? NO_QUOTAS,
        estimate: (leads, researchCalls) => rerunEstimate(leads, researchCalls, pricing),
        ...(idempotency === undefined ? {} : { idempotency }),
      }),
      (run): Outgoing[] => [
        ...run.researched.map((leadId) => ({ type: 'lead.researched' as const, run_id: run.runId, lead_id: leadId })),
        ...run.pending.map((leadId) => ({ type: 'lead.extracted' as const, run_id: run.runId, lead_id: leadId })),
      ],
    );
    return { runId: created.runId, campaignId: created.campaignId };
  }
}

/**
 * The preview's estimate for `researchCalls` leads, and the writer's share alone for the others
 * (their research is reused): what the spend quota counts for a re-run.
 */
export function rerunEstimate(leads: number, researchCalls: number, pricing: Pricing): UsdAmount {
  const researched = estimateRunCost(researchCalls, pricing).totalUsd;
  const free = { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 };
  const written = estimateRunCost(leads - researchCalls, { ...pricing, research: free }).totalUsd;
  const micros = usdToMicros(researched) + usdToMicros(written);
  return `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, '0')}`;
}
